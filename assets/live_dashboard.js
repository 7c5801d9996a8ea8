/*
 * Browser side of the live channel (components/live_status.py, routes/live.py).
 *
 * - start opens an EventSource on /live/events ("Live · push"). When its first event does not
 *   arrive in time (a front end that buffers streams, such as App Engine standard) or the
 *   stream fails, the page checks /live/version every POLL_INTERVAL_SECONDS instead ("Live ·
 *   checks every 5 s"), with If-None-Match, until a pushed event arrives again. LIVE_PUSH=off:
 *   checks only.
 * - Either way, shown-version and storage-status are set (dash_clientside.set_props) only when
 *   the live document says something changed: that is what the page's server callbacks react to.
 * - Hidden tabs close their stream and skip checks; they catch up as soon as they are shown.
 *   The pause button does the same until resumed.
 * - describeFreshness renders the status (live / paused / stale / unreadable / removed / no data,
 *   in words and the dot's colour), the version label, "checked 14:07:31" and the notice.
 */
(function () {
    "use strict";

    // The stream's first event must arrive within this; otherwise the page checks instead.
    var FIRST_EVENT_MS = 4000;
    var config = null;
    var source = null;
    var firstEventTimer = null;
    var pushWorks = false;        // an event arrived on the current stream
    var paused = false;
    var known = {shown: null, status: null};
    var lastTag = null;
    var lastDocument = null;
    var checking = false;

    function dash() { return window.dash_clientside; }
    function onPage() { return Boolean(document.getElementById("live-state")); }

    function setMode(mode) {
        if (dash() && dash().set_props && onPage()) { dash().set_props("live-mode", {data: mode}); }
    }

    // The fields the chart draws from, exactly as the server's live document gives them.
    function shownFrom(doc) {
        var shown = {
            generation: doc.generation,
            token: doc.token,
            updated: doc.updated,
            size: doc.size,
            uploaded_by: doc.uploaded_by || "",
            version: doc.version || "",
            description: doc.description || "",
            loaded_at: new Date().toISOString().replace(/\.\d+Z$/, "Z")
        };
        // A dataset of many: the chart's routes are under /d/<name> and its callbacks read that dataset.
        if (doc.dataset) { shown.dataset = doc.dataset; }
        return shown;
    }

    function same(a, b) { return JSON.stringify(a) === JSON.stringify(b); }

    // What the page should show for a live document: new stores only when they change.
    function apply(doc) {
        if (!onPage()) { stop(); return; }
        if (paused) { return; }
        var shown = known.shown;
        var showing = Boolean(shown && shown.generation);
        var nextShown = shown;
        var nextStatus = null;
        if (doc.status === "live") {
            if (!showing || shown.generation !== doc.generation) { nextShown = shownFrom(doc); }
        } else if (doc.status === "removed" || doc.status === "no data") {
            if (showing) {
                nextStatus = known.status && known.status.kind === "removed"
                    ? known.status : {kind: "removed", at: doc.removed_at || new Date().toISOString()};
            } else {
                nextShown = {empty: true};
            }
        } else {
            var kind = doc.status === "unreadable" ? "unreadable" : "unreachable";
            nextStatus = {error: doc.error || "storage unreachable", kind: kind};
            if (doc.generation) { nextStatus.generation = doc.generation; }
        }
        if (!same(nextShown, shown)) {
            known.shown = nextShown;
            dash().set_props("shown-version", {data: nextShown});
        }
        if (!same(nextStatus, known.status)) {
            known.status = nextStatus;
            dash().set_props("storage-status", {data: nextStatus});
        }
    }

    function noteChecked() {
        if (onPage()) { dash().set_props("last-checked", {data: Date.now()}); }
    }

    function openStream() {
        if (!config || !config.push || !window.EventSource || source || paused) { return; }
        pushWorks = false;
        source = new EventSource(config.events_url);
        firstEventTimer = setTimeout(function () {
            if (!pushWorks) { closeStream(); setMode("checks"); checkNow(); }  // buffered: check instead
        }, FIRST_EVENT_MS);
        source.onmessage = function (event) {
            var doc;
            try { doc = JSON.parse(event.data); } catch (error) { return; }
            if (!pushWorks) { pushWorks = true; clearTimeout(firstEventTimer); setMode("push"); }
            apply(doc);
            noteChecked();
        };
        source.onerror = function () {
            // EventSource reconnects by itself; until an event arrives again, the checks take over.
            if (pushWorks) { pushWorks = false; setMode("checks"); }
            if (source && source.readyState === EventSource.CLOSED) { closeStream(); setMode("checks"); }
        };
    }

    function closeStream() {
        clearTimeout(firstEventTimer);
        if (source) { source.close(); source = null; }
        pushWorks = false;
    }

    function stop() { closeStream(); config = null; }

    // One check of /live/version; the server answers 304 when the browser's copy is current.
    function checkNow() {
        if (!config || checking || paused || document.visibilityState === "hidden") {
            return Promise.resolve(false);
        }
        checking = true;
        var headers = lastTag ? {"If-None-Match": lastTag} : {};
        return fetch(config.version_url, {headers: headers, cache: "no-store", credentials: "same-origin"})
            .then(function (response) {
                if (response.status === 304 && lastDocument) { return lastDocument; }
                if (!response.ok) { throw new Error("HTTP " + response.status); }
                lastTag = response.headers.get("ETag");
                return response.json();
            })
            .then(function (doc) {
                lastDocument = doc;
                apply(doc);
                return true;
            })
            .catch(function () {
                // The app itself cannot be reached: keep what is shown and say so.
                apply({status: "unreachable", error: "the dashboard server did not answer", generation: null});
                return true;
            })
            .finally(function () { checking = false; });
    }

    function resume() {
        if (!config) { return; }
        if (config.push && window.EventSource) { openStream(); }
        checkNow().then(function (checked) { if (checked) { noteChecked(); } });
    }

    document.addEventListener("visibilitychange", function () {
        if (!config) { return; }
        if (document.visibilityState === "hidden") { closeStream(); return; }
        resume();
    });

    function relativeTime(isoTime) {
        var seconds = Math.round((Date.now() - Date.parse(isoTime)) / 1000);
        if (!isFinite(seconds)) { return "at an unknown time"; }
        if (seconds < 10) { return "just now"; }
        if (seconds < 60) { return seconds + " s ago"; }
        var minutes = Math.round(seconds / 60);
        if (minutes < 60) { return minutes + " min ago"; }
        var hours = Math.round(minutes / 60);
        if (hours < 48) { return hours + " h ago"; }
        return Math.round(hours / 24) + " days ago";
    }

    function clockTime(time, withSeconds) {
        var when = new Date(time);
        if (isNaN(when.getTime())) { return "an earlier check"; }
        var format = {hour: "2-digit", minute: "2-digit", hourCycle: "h23"};
        if (withSeconds) { format.second = "2-digit"; }
        return when.toLocaleTimeString([], format);
    }

    window.dash_clientside = window.dash_clientside || {};
    window.dash_clientside.live = {
        // The page (re)mounted: start from nothing, stream first (or checks with LIVE_PUSH=off).
        start: function (liveConfig) {
            closeStream();
            config = liveConfig;
            known = {shown: null, status: null};
            lastTag = null;
            lastDocument = null;
            paused = false;
            if (config.push && window.EventSource) { openStream(); return "connecting"; }
            checkNow().then(function (checked) { if (checked) { noteChecked(); } });
            return "checks";
        },

        // Every POLL_INTERVAL_SECONDS: a check unless the stream delivers (async: Dash awaits it).
        check: async function () {
            var noUpdate = window.dash_clientside.no_update;
            if (pushWorks) { return noUpdate; }
            var checked = await checkNow();
            return checked ? Date.now() : noUpdate;
        },

        togglePause: function (nClicks, wasPaused) {
            paused = !wasPaused;
            var label = paused ? "Resume live updates" : "Pause live updates";
            if (paused) { closeStream(); } else { setTimeout(resume, 0); }  // resuming catches up at once
            return [paused, label];
        },

        describeFreshness: function (clockTicks, shown, status, isPaused, lastChecked, mode, liveConfig) {
            var hasData = Boolean(shown && shown.generation);
            var state = liveState(hasData, shown, status, isPaused, mode, liveConfig);
            var notice = storageNotice(hasData, shown, status);
            // Nothing to show and a notice saying why: not "Loading…", which would wait forever.
            var waiting = !(shown && shown.empty) && !notice.text;
            var label = hasData ? versionLabel(shown) : (waiting ? "Loading…" : "");
            var details = hasData
                ? "generation " + shown.generation + " · written " + new Date(shown.updated).toString()
                : "";
            var checked = lastChecked ? "checked " + clockTime(lastChecked, true) : "";
            return [label, details, state.words, "live-dot state-" + state.name, checked,
                    notice.text, Boolean(notice.text), notice.color];
        }
    };

    // "v12 · 14:07 · alice", or "updated 14:07 · written outside the app" without a version number.
    function versionLabel(shown) {
        var when = clockTime(shown.updated);
        var ago = " (" + relativeTime(shown.updated) + ")";
        if (/^[0-9]+$/.test(String(shown.version || ""))) {
            var parts = ["v" + shown.version, when + ago];
            if (shown.uploaded_by) { parts.push(shown.uploaded_by); }
            return parts.join(" · ");
        }
        // Published by this app before version numbers existed: still say who.
        return "updated " + when + ago + " · " + (shown.uploaded_by || "written outside the app");
    }

    function liveState(hasData, shown, status, isPaused, mode, liveConfig) {
        if (status && status.kind === "removed") { return {name: "removed", words: "Data removed"}; }
        if (status && status.error && status.kind === "unreadable") {
            return {name: "unreadable", words: "Unreadable version"};
        }
        if (status && status.error) { return {name: "stale", words: "Stale — storage unreachable"}; }
        if (shown && shown.empty) { return {name: "empty", words: "No data"}; }
        if (!hasData) { return {name: "loading", words: "Connecting…"}; }
        if (isPaused) { return {name: "paused", words: "Paused"}; }
        if (mode === "push") { return {name: "live", words: "Live · push"}; }
        var every = liveConfig ? liveConfig.interval_seconds : null;
        return {name: "live", words: every ? "Live · checks every " + every + " s" : "Live"};
    }

    function storageNotice(hasData, shown, status) {
        if (status && status.kind === "removed") {
            return {text: "The data was removed at " + clockTime(status.at) + ". The chart shows the last version " +
                          "until new data is published.", color: "secondary"};
        }
        if (!(status && status.error)) { return {text: "", color: "warning"}; }
        if (!hasData) {
            return status.kind === "unreadable"
                ? {text: "The data cannot be read: " + status.error, color: "danger"}
                : {text: "Storage is unreachable, so no data could be loaded yet. The page keeps retrying and " +
                         "shows the chart as soon as storage answers.", color: "warning"};
        }
        var since = clockTime(shown.updated);
        return status.kind === "unreadable"
            ? {text: "Showing data from " + since + " — the newest version cannot be read: " + status.error,
               color: "danger"}
            : {text: "Showing data from " + since + " — storage unreachable, retrying.", color: "warning"};
    }
})();

/*
 * Chart page: what the chart area (and the table, assets/take_up.js) says before any data could
 * be shown (instead of "Loading…" forever when storage is down as the visitor arrives).
 */
(function () {
    "use strict";
    window.dash_clientside = window.dash_clientside || {};
    window.dash_clientside.chartPage = {
        // Why no version can be shown (storage unreachable, the version unreadable), else null.
        unavailable: function (status, shown) {
            if ((shown && (shown.generation || shown.empty)) || !(status && status.error)) { return null; }
            return status.kind === "unreadable"
                ? "The data cannot be read (see the notice above)"
                : "Storage is unreachable — retrying";
        }
    };
})();

/*
 * Data table: when the shown version or the chart's filters change, drop the grid's
 * cached blocks so it asks the server again (the rows live on the server only).
 */
(function () {
    "use strict";
    var lastKey = null;
    window.dash_clientside = window.dash_clientside || {};
    window.dash_clientside.dataTable = {
        refresh: function (shown, view) {
            var noUpdate = window.dash_clientside.no_update;
            var selects = view ? [view.date_from, view.date_to, view.filters] : null;
            var key = JSON.stringify([shown && shown.token, selects]);
            if (key === lastKey) { return noUpdate; }
            var first = lastKey === null;
            lastKey = key;
            if (!first && window.dash_ag_grid && window.dash_ag_grid.getApiAsync) {
                window.dash_ag_grid.getApiAsync("data-table").then(function (api) { api.purgeInfiniteCache(); });
            }
            return key;
        }
    };
})();

/* Navbar: the menu button opens and closes the links on narrow screens. */
(function () {
    "use strict";
    window.dash_clientside = window.dash_clientside || {};
    window.dash_clientside.navbar = {
        toggle: function (clicks, isOpen) { return clicks ? !isOpen : isOpen; }
    };
})();
