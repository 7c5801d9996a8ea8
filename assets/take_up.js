/*
 * Chart page, browser side of a take-up: what happens when `shown-version` (or the view) changes.
 *
 * The chart, the grid's columns and the table's blocks come from generation-keyed GETs
 * (routes/take_up.py), answered once per process per (generation, view) and cacheable, so a
 * publish seen by many dashboards costs the server about one answer. A new generation on the
 * same view is applied as a Patch that never touches the x axis or the traces' visibility, so
 * a user's zoom and legend choices survive any update (also one that adds a second y axis).
 * While a frame is still being taken up the server answers 202: the page says "Loading…" and
 * asks again.
 */
(function () {
    "use strict";
    var MAX_WAIT_MS = 8000;
    // The axes and series a default view chooses. Not its kind or aggregate: those suit the table they
    // were chosen for (a mean per id of 3 rows) and, kept for a table of 80,000 rows, would draw every row.
    var PINNED_KEYS = ["x", "y", "color"];
    var pinned = null;           // the view pinView wrote into the URL: {from, to, view}
    var latestShown = null;      // the newest shown-version the chart has seen
    var shownWaiters = [];       // table requests made before any version was shown
    var nothingReason = null;    // why no version can be shown ("" for no data at all), else null
    var chartCalls = 0;
    var changesCalls = 0;
    var rowsGeneration = null;   // the generation the table's last answer came from

    function noUpdate() { return window.dash_clientside.no_update; }
    function sleep(ms) { return new Promise(function (resolve) { setTimeout(resolve, ms); }); }

    function setShown(shown) {
        latestShown = shown;
        nothingReason = null;
        release(shown);
    }

    function release(value) {
        var waiting = shownWaiters;
        shownWaiters = [];
        waiting.forEach(function (resolve) { resolve(value); });
    }

    // The version to show, or {nothing: reason} while none can be (then waiting would never end).
    function shownNow() {
        if (latestShown && latestShown.generation) { return Promise.resolve(latestShown); }
        if (nothingReason !== null) { return Promise.resolve({nothing: nothingReason}); }
        return new Promise(function (resolve) { shownWaiters.push(resolve); });
    }

    function stillShown(shown) {
        return !latestShown || !latestShown.generation || latestShown.generation === shown.generation;
    }

    // GET `url` as JSON; 202 (being taken up; 503 from a proxy) is asked again while `shown` is still the one shown.
    function getJSON(url, shown, onWait) {
        var delay = 500;
        function attempt() {
            return fetch(url, {credentials: "same-origin"}).then(function (response) {
                if ((response.status === 202 || response.status === 503) && stillShown(shown)) {
                    if (onWait) { onWait(); }
                    var after = Number(response.headers.get("Retry-After")) * 1000 || delay;
                    delay = Math.min(delay * 2, MAX_WAIT_MS);
                    return sleep(Math.max(after, delay / 2)).then(attempt);
                }
                return response.json().then(function (body) { return {status: response.status, body: body}; });
            }, function () {
                // Network gone: ask again while this version is still the one to show.
                if (!stillShown(shown)) { return {status: 0, body: {}}; }
                delay = Math.min(delay * 2, MAX_WAIT_MS);
                return sleep(delay).then(attempt);
            });
        }
        return attempt();
    }

    function liveUrl(shown, what, search, extra) {
        var params = new URLSearchParams(search || "");
        params.set("t", shown.token);
        Object.keys(extra || {}).forEach(function (key) { params.set(key, extra[key]); });
        return base(shown) + "/live/" + encodeURIComponent(shown.generation) + "/" + what + "?" + params.toString();
    }

    // Where the shown dataset's routes are: /d/<name> for one of many, else the root.
    function base(shown) {
        return shown && shown.dataset ? "/d/" + encodeURIComponent(shown.dataset) : "";
    }

    function messageFigure(text) {
        return {data: [], layout: {uirevision: "message", xaxis: {visible: false}, yaxis: {visible: false},
                annotations: [{text: text, showarrow: false, font: {size: 16}}], template: "plotly_white"}};
    }

    function loading(text) {
        window.dash_clientside.set_props("data-table-count", {children: text});
    }

    // Same view, new data: the traces and the y axes' titles change, the x axis never does.
    function dataPatch(figure, answer, sameSignature) {
        var patch = new window.dash_clientside.Patch();
        var traces = answer.figure.data;
        if (sameSignature) {
            traces.forEach(function (trace, index) {
                patch.assign(["data", index, "x"], trace.x);
                patch.assign(["data", index, "y"], trace.y);
            });
        } else {
            // Other traces (a second axis, a new colour group): keep each legend choice by name.
            var hidden = {};
            (figure.data || []).forEach(function (trace) { hidden[trace.name] = trace.visible; });
            patch.assign(["data"], traces.map(function (trace) {
                return hidden[trace.name] === undefined ? trace : Object.assign({}, trace, {visible: hidden[trace.name]});
            }));
            // The y axes, panels and their names follow the new traces; of the x axis only what
            // ties it to them (its anchor, its title) changes, never its range.
            var layout = answer.figure.layout;
            var old = figure.layout || {};
            Object.keys(layout).forEach(function (key) {
                if (key !== "xaxis" && key !== "uirevision" && key !== "title") { patch.assign(["layout", key], layout[key]); }
            });
            Object.keys(old).forEach(function (key) {
                if (/^yaxis[0-9]*$|^annotations$/.test(key) && !(key in layout)) { patch.delete(["layout", key]); }
            });
            if (layout.xaxis.anchor) { patch.assign(["layout", "xaxis", "anchor"], layout.xaxis.anchor); }
            else if (old.xaxis && old.xaxis.anchor) { patch.delete(["layout", "xaxis", "anchor"]); }
            patch.assign(["layout", "xaxis", "title"], layout.xaxis.title);
        }
        patch.assign(["layout", "title", "text"], answer.figure.layout.title.text);
        return patch.build();
    }

    function setSearch(search) {
        // dcc.Location pushes no history entry for a search and href the address bar already shows.
        window.history.replaceState(window.history.state, "", window.location.pathname + search + window.location.hash);
        window.dash_clientside.set_props("chart-url", {search: search, href: window.location.href});
    }

    // A page opened without a view keeps the one it first drew: its choices are written into the URL
    // (replacing the history entry), so a new version with other defaults cannot switch its axes.
    function pinView(search, view) {
        var params = new URLSearchParams(search || "");
        if (!view || ["x", "y", "kind"].some(function (key) { return params.has(key); })) { return; }
        var chosen = view.slice(1).split("&").filter(function (pair) {
            var key = pair.split("=")[0];
            return PINNED_KEYS.indexOf(key) >= 0 && !params.has(key);
        });
        if (!chosen.length) { return; }
        var kept = (search || "").replace(/^\?/, "");
        pinned = {from: search || "", to: "?" + (kept ? [kept] : []).concat(chosen).join("&"), view: view};
        setSearch(pinned.to);
    }

    // The x range of a plotly relayout event: [low, high], [] for "everything", else null (a y-only
    // zoom, a resize, a legend click: nothing to re-resolve).
    function visibleRange(relayout) {
        if (!relayout || typeof relayout !== "object") { return null; }
        if (relayout["xaxis.autorange"]) { return []; }
        if ("xaxis.range[0]" in relayout && "xaxis.range[1]" in relayout) {
            return [relayout["xaxis.range[0]"], relayout["xaxis.range[1]"]];
        }
        var range = relayout["xaxis.range"];
        return Array.isArray(range) && range.length === 2 ? range.slice() : null;
    }

    window.dash_clientside = window.dash_clientside || {};
    window.dash_clientside.takeUp = {
        // Outputs: figure, rendered-chart, chart-range, grid columns, controls key.
        chart: async function (shown, _view, search, rendered, range, figure, columns, controlsKey) {
            var none = [noUpdate(), noUpdate(), noUpdate(), noUpdate(), noUpdate()];
            if (!shown) { return none; }
            if (shown.empty) {
                setShown(null);
                return [messageFigure("No data published yet"), null, null, noUpdate(), noUpdate()];
            }
            if (!shown.generation || !shown.token) { return none; }
            setShown(shown);
            var call = ++chartCalls;
            var got = await getJSON(liveUrl(shown, "chart", search), shown);
            if (call !== chartCalls || got.status !== 200) { return none; }
            var answer = got.body;
            if (pinned && search === pinned.to && answer.view !== pinned.view) {
                // The data lost a pinned column (another table): the page takes that table's defaults.
                search = pinned.from;
                pinned = null;
                setSearch(search);
                got = await getJSON(liveUrl(shown, "chart", search), shown);
                if (call !== chartCalls || got.status !== 200) { return none; }
                answer = got.body;
            }
            pinView(search, answer.view);
            var drawn = rendered || {};
            if (drawn.generation === shown.generation && drawn.view === answer.view) { return none; }
            var newColumns = JSON.stringify(columns) === JSON.stringify(answer.columns) ? noUpdate() : answer.columns;
            var key = answer.view + "|" + answer.controls;
            var newKey = key === controlsKey ? noUpdate() : key;
            var drawing = {generation: shown.generation, view: answer.view, signature: answer.signature};
            if (drawn.view !== answer.view || !figure || !figure.data || !figure.data.length) {
                return [answer.figure, drawing, null, newColumns, newKey];  // a new view starts unzoomed
            }
            var sameSignature = JSON.stringify(drawn.signature) === JSON.stringify(answer.signature);
            if (Array.isArray(range) && range.length === 2 && !answer.aggregated) {
                // Zoomed: the traces at full detail for the visible range (only this page asks for it).
                var zoomed = await getJSON(liveUrl(shown, "chart", search, {x0: range[0], x1: range[1]}), shown);
                if (call !== chartCalls) { return none; }
                if (zoomed.status === 200) { answer = zoomed.body; }
            }
            return [dataPatch(figure, answer, sameSignature), drawing, noUpdate(), newColumns, newKey];
        },

        // Zoom or pan: the drawn traces' data for the visible range (the whole range on autorange).
        // Outputs: figure, chart-range.
        zoom: async function (relayout, shown, search, rendered) {
            var none = [noUpdate(), noUpdate()];
            var range = visibleRange(relayout);
            if (!range || !shown || !shown.generation || !shown.token || !rendered || rendered.generation !== shown.generation) {
                return none;
            }
            var got = await getJSON(liveUrl(shown, "chart", search, range.length ? {x0: range[0], x1: range[1]} : {}), shown);
            // Aggregates have no more detail; another view or version drawn meanwhile settles it itself.
            if (got.status !== 200 || got.body.aggregated || got.body.view !== rendered.view || !stillShown(shown)) {
                return none;
            }
            return [dataPatch(null, got.body, true), range.length ? range : null];
        },

        // The grid's block request, answered by a GET (the same for every page on this version).
        rows: async function (gridRequest, search, shownState) {
            if (!gridRequest) { return [noUpdate(), noUpdate()]; }
            var shown = shownState && shownState.generation && shownState.token ? shownState : null;
            if (!shown) {
                loading("Loading…");
                shown = await shownNow();
                if (!shown.generation) { return [{rowData: [], rowCount: 0}, shown.nothing]; }
            }
            if (shown.generation !== rowsGeneration) { loading("Loading…"); }
            var grid = JSON.stringify({startRow: gridRequest.startRow, endRow: gridRequest.endRow,
                                       sortModel: gridRequest.sortModel, filterModel: gridRequest.filterModel});
            var got = await getJSON(liveUrl(shown, "rows", search, {grid: grid}), shown,
                                    function () { loading("Loading…"); });
            if (got.status === 200) {
                rowsGeneration = shown.generation;
                return [{rowData: got.body.rowData, rowCount: got.body.rowCount}, got.body.count];
            }
            if (!stillShown(shown)) { return [noUpdate(), noUpdate()]; }  // a newer version asks again
            return [{rowData: [], rowCount: 0}, got.body.error || "The rows cannot be shown right now."];
        },

        // No version can be shown (no data, unreadable, unreachable): table requests stop waiting for one,
        // the chart and the table say why; a version shown later refreshes both. Outputs: figure, table count.
        nothingShown: function (status, shown) {
            if (shown && shown.generation) { return [noUpdate(), noUpdate()]; }
            var unavailable = window.dash_clientside.chartPage.unavailable(status, shown);
            nothingReason = shown && shown.empty ? "" : unavailable;
            if (nothingReason === null) { return [noUpdate(), noUpdate()]; }
            release({nothing: nothingReason});
            // No data at all: the chart's own take-up says so.
            return [unavailable === null ? noUpdate() : messageFigure(unavailable), nothingReason];
        },

        description: function (shown) {
            // Also releases table requests made before any version was shown: they must not wait for
            // the chart's own take-up, which may be queued behind them.
            if (shown && shown.generation && shown.token) { setShown(shown); }
            return String((shown && shown.description) || "");
        },

        // "What changed" (changes=1): summary, matching, changed rows and their download for the shown version.
        // Outputs: panel hidden, summary, matching, rows, columns, count, download href, download class.
        changes: async function (shown, view) {
            var classes = "btn btn-outline-primary btn-sm";
            var off = [true, "", "", [], [], "", null, classes + " disabled"];
            if (!(view && view.changes && shown && shown.generation && shown.token)) { return off; }
            var call = ++changesCalls;
            function computing() {
                window.dash_clientside.set_props("changes-panel", {hidden: false});
                window.dash_clientside.set_props("changes-summary", {children: "Computing what changed…"});
            }
            var extra = view.vs ? {vs: view.vs} : {};
            var got = await getJSON(liveUrl(shown, "changes", "", extra), shown, computing);
            if (call !== changesCalls) { return off.map(noUpdate); }
            var body = got.body || {};
            if (got.status !== 200 || body.nothing) {
                var text = body.summary || body.error || "What changed cannot be shown right now.";
                return [false, text, "", [], [], "", null, classes + " disabled"];
            }
            var params = new URLSearchParams({token: shown.token});
            if (view.vs) { params.set("vs", view.vs); }
            var count = body.rows.length < body.total
                ? "first " + body.rows.length.toLocaleString("en-US") + " of " + body.total.toLocaleString("en-US")
                : body.total.toLocaleString("en-US") + (body.total === 1 ? " row" : " rows");
            return [false, body.label + " vs " + body.before + ": " + body.summary, body.matching,
                    body.rows, body.columns, count, base(shown) + "/download/changes.csv?" + params.toString(), classes];
        },

        // The table shows only the changed rows when asked (and "What changed" is on).
        changedRowsOnly: function (onlyChanged, view) {
            var only = Boolean(onlyChanged && view && view.changes);
            return [only, !only];
        },

        // The download links for the shown version (with the chart's filters when asked).
        downloads: function (shown, view, onlyFiltered) {
            var classes = "btn btn-outline-primary btn-sm";
            if (!(shown && shown.generation && shown.token)) {
                return [null, null, classes + " disabled", classes + " disabled"];
            }
            var params = new URLSearchParams({token: shown.token});
            if (onlyFiltered && view) {
                if (view.date_from) { params.append("from", view.date_from); }
                if (view.date_to) { params.append("to", view.date_to); }
                Object.keys(view.filters || {}).forEach(function (column) {
                    (view.filters[column] || []).forEach(function (value) { params.append("f." + column, value); });
                });
            }
            var suffix = "?" + params.toString();
            var files = base(shown) + "/download/data.";
            return [files + "csv" + suffix, files + "parquet" + suffix, classes, classes];
        }
    };
})();
