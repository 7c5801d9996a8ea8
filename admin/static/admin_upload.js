/*
 * Admin page uploader (admin/page.py, routes in admin/upload.py): sends the chosen file in chunks
 * where the server says (a resumable session in the bucket, or the app's chunk route in local mode),
 * resumes after dropped connections, then puts the upload's signed token into the `admin-staged` store.
 * Sizes are in megabytes of 10^6 bytes, as data_access/units.py counts them.
 */
(function () {
    "use strict";

    var RETRY_DELAYS_MS = [500, 1000, 2000, 4000, 8000, 15000];
    var MAX_FAILURES = 40;  // about nine minutes of retrying before giving up
    var current = null;     // the upload in progress (or finished and not yet published)

    function setProps(id, props) {
        window.dash_clientside.set_props(id, props);
    }

    function megabytes(bytes) {
        // Rounded up, so a file over the limit never reads as equal to it.
        return (Math.ceil(bytes / 1e6 * 100) / 100).toFixed(2);
    }

    function showStatus(text) { setProps("admin-upload-status", {children: text}); }
    function showError(text) { setProps("admin-upload-error", {children: text}); }
    function showBar(shown) {
        // Inline styles, not Bootstrap's d-flex, whose !important display would beat display: none.
        setProps("admin-upload-bar", {style: shown ? {display: "flex", alignItems: "center"} : {display: "none"}});
    }

    function showProgress(upload, sent) {
        var percent = upload.total ? Math.floor(sent * 100 / upload.total) : 100;
        if (percent === upload.shownPercent) { return; }
        upload.shownPercent = percent;
        setProps("admin-upload-progress", {value: percent, label: percent + "%"});
    }

    function postJson(path, body) {
        return fetch(path, {
            method: "POST",
            credentials: "same-origin",
            headers: {"Content-Type": "application/json"},
            body: JSON.stringify(body)
        }).then(function (response) {
            return response.json().catch(function () { return {}; }).then(function (data) {
                return {status: response.status, data: data};
            });
        });
    }

    function start(file) {
        if (current) { abandon(current); }
        showError("");
        setProps("admin-staged", {data: null});
        var limits = document.getElementById("admin-uploader");
        if (file.size > Number(limits.getAttribute("data-max-bytes"))) {
            showError(file.name + " is " + megabytes(file.size) + " MB; the limit is " +
                limits.getAttribute("data-max-mb") + " MB. Nothing was uploaded.");
            return;
        }
        var upload = {file: file, total: file.size, offset: 0, failures: 0, confirmed: false};
        current = upload;
        showStatus("Starting the upload of " + file.name + "…");
        // With many datasets, the one picked on the page (data-dataset) receives the upload.
        var body = {filename: file.name, size: file.size, dataset: limits.getAttribute("data-dataset") || null};
        postJson("/admin/upload/start", body).then(function (answer) {
            if (upload.stopped) { return; }
            if (answer.status !== 200) {
                stop(upload, answer.data.error || ("The upload could not start (HTTP " + answer.status + ")."));
                return;
            }
            upload.token = answer.data.token;
            upload.url = answer.data.url;
            upload.chunkBytes = answer.data.chunk_bytes;
            upload.direct = answer.data.direct;
            showBar(true);
            showProgress(upload, 0);
            sendChunk(upload);
        }, function () {
            stop(upload, "The app cannot be reached. Check the connection and choose the file again.");
        });
    }

    function sendChunk(upload) {
        if (upload.stopped) { return; }
        var end = Math.min(upload.offset + upload.chunkBytes, upload.total);
        var xhr = new XMLHttpRequest();
        upload.xhr = xhr;
        xhr.open("PUT", upload.url);
        xhr.setRequestHeader("Content-Range", "bytes " + upload.offset + "-" + (end - 1) + "/" + upload.total);
        xhr.upload.onprogress = function (event) {
            if (upload.paused) {  // bytes flow again: the "Connection lost" line is out of date
                upload.paused = false;
                showStatus("Uploading " + upload.file.name + ": resumed at " + megabytes(upload.offset) + " MB");
            }
            showProgress(upload, upload.offset + event.loaded);
        };
        xhr.onload = function () { answered(upload, xhr, end); };
        xhr.onerror = function () { retryLater(upload); };
        xhr.ontimeout = xhr.onerror;
        xhr.send(upload.file.slice(upload.offset, end));
    }

    function storedUpTo(upload, xhr, sentUpTo) {
        // "Range: bytes=0-N" says what the session stored; it is readable when the bucket's
        // CORS exposes it (the README's set-up does) and always in local mode. Without it,
        // a 308 confirms the chunk that was sent.
        var exposed = /^range:/im.test(xhr.getAllResponseHeaders());
        var match = exposed && /bytes=0-(\d+)/.exec(xhr.getResponseHeader("Range") || "");
        if (match) { upload.rangeReadable = true; }
        return match ? Number(match[1]) + 1 : sentUpTo;
    }

    function askOffset(upload) {
        // After a dropped connection: ask the session how much it stored, then go on from there.
        // Only where its answers can be read (fake-gcs-server treats this question as the end
        // of the upload, and does not expose Range: there the last confirmed offset is used).
        var xhr = new XMLHttpRequest();
        upload.xhr = xhr;
        xhr.open("PUT", upload.url);
        xhr.setRequestHeader("Content-Range", "bytes */" + upload.total);
        xhr.onload = function () {
            if (upload.stopped) { return; }
            if (xhr.status === 308) {
                upload.offset = storedUpTo(upload, xhr, 0);  // no Range: nothing stored yet
                sendChunk(upload);
            } else {
                answered(upload, xhr, upload.offset);
            }
        };
        xhr.onerror = function () { retryLater(upload); };
        xhr.ontimeout = xhr.onerror;
        xhr.send();
    }

    function answered(upload, xhr, end) {
        if (upload.stopped) { return; }
        if (xhr.status === 200 || xhr.status === 201) {
            upload.offset = upload.total;
            showProgress(upload, upload.total);
            finished(upload);
        } else if (xhr.status === 308) {
            upload.offset = storedUpTo(upload, xhr, end);
            upload.failures = 0;
            upload.confirmed = true;
            showStatus("Uploading " + upload.file.name + ": " + megabytes(upload.offset) + " of " +
                megabytes(upload.total) + " MB");
            sendChunk(upload);
        } else if (xhr.status === 408 || xhr.status === 429 || xhr.status >= 500) {
            retryLater(upload);
        } else if (xhr.status === 404 || xhr.status === 410) {
            stop(upload, "The upload expired or was cancelled. Choose the file again.");
        } else {
            stop(upload, "Storage refused the upload (HTTP " + xhr.status + "). Choose the file again.");
        }
    }

    function retryLater(upload) {
        if (upload.stopped) { return; }
        upload.failures += 1;
        if (upload.failures > MAX_FAILURES) {
            stop(upload, "The upload stopped: storage could not be reached for minutes. Choose the file again.");
            return;
        }
        var delay = RETRY_DELAYS_MS[Math.min(upload.failures - 1, RETRY_DELAYS_MS.length - 1)];
        var percent = Math.floor(upload.offset * 100 / upload.total);
        var text = "Connection lost at " + percent + "% — resuming in " + Math.ceil(delay / 1000) +
            " s (attempt " + upload.failures + ")…";
        if (upload.direct && !upload.confirmed) {
            // A browser reports a refused CORS preflight exactly like a dropped connection.
            text += " If this keeps happening from the start, the bucket's CORS may not allow this site (" +
                window.location.origin + "): see 'Bucket set-up' in the README.";
        }
        showStatus(text);
        upload.paused = true;
        setProps("admin-upload-progress", {label: "paused"});
        upload.shownPercent = null;
        upload.timer = setTimeout(function () {
            if (upload.rangeReadable) { askOffset(upload); } else { sendChunk(upload); }
        }, delay);
    }

    function finished(upload) {
        upload.done = true;
        showBar(false);  // nothing is being sent any more: the status line says it arrived
        showStatus(upload.file.name + " uploaded (" + megabytes(upload.total) + " MB).");
        setProps("admin-staged", {data: {token: upload.token, filename: upload.file.name, size: upload.total}});
    }

    function stop(upload, message) {
        halt(upload);
        showBar(false);
        showStatus("");
        showError(message);
    }

    function halt(upload) {
        upload.stopped = true;
        clearTimeout(upload.timer);
        if (upload.xhr) { upload.xhr.abort(); }
        if (current === upload) { current = null; }
    }

    function abandon(upload) {
        // Stop sending, and delete whatever was staged (nothing is published).
        halt(upload);
        if (upload.direct && upload.url && !upload.done) {
            // Ends the session in storage too (ignored if the bucket's CORS does not allow DELETE).
            fetch(upload.url, {method: "DELETE"}).catch(function () { return null; });
        }
        if (upload.token) {
            postJson("/admin/upload/cancel", {token: upload.token}).catch(function () { return null; });
        }
    }

    function cancel(message) {
        if (!current) { return; }
        abandon(current);
        showBar(false);
        showError("");
        showStatus(message);
        setProps("admin-staged", {data: null});
    }

    function fromDropZone(event) {
        return event.target && event.target.closest && event.target.closest("#admin-upload");
    }

    function takeFile(event, files) {
        // Capturing on the document runs before React's handlers: dcc.Upload never sees the file,
        // so it is not read into the page as base64.
        event.preventDefault();
        event.stopImmediatePropagation();
        if (files && files.length) { start(files[0]); }
    }

    document.addEventListener("change", function (event) {
        if (fromDropZone(event) && event.target.type === "file") {
            takeFile(event, event.target.files);
            event.target.value = "";  // choosing the same file again starts a new upload
        }
    }, true);
    document.addEventListener("drop", function (event) {
        if (fromDropZone(event)) { takeFile(event, event.dataTransfer && event.dataTransfer.files); }
    }, true);
    document.addEventListener("click", function (event) {
        if (!(event.target && event.target.closest)) { return; }
        if (event.target.closest("#admin-upload-cancel")) {
            cancel("Upload cancelled. Nothing was published.");
        } else if (event.target.closest("#admin-discard")) {
            cancel("Upload discarded. Nothing was published.");
        }
    });

    window.dash_clientside = window.dash_clientside || {};
    window.dash_clientside.admin = {
        // The reader's time zone: the admin page says times as the chart page's status line does.
        timeZone: function () { return Intl.DateTimeFormat().resolvedOptions().timeZone || null; }
    };
})();
