/*
 * Browser side of the live loop. Runs in the page, costs the server nothing.
 *
 * - gatePoll decides whether an Interval tick becomes a server poll: not while the
 *   tab is hidden, not while the previous poll is still in flight (dcc.Interval does
 *   not wait for responses), and it catches up as soon as the tab is shown again.
 * - describeFreshness renders the status (live / paused / stale / unreadable / removed / no data,
 *   in words and the dot's colour), the version label, "checked 14:07:31" and the notice.
 */
(function () {
    "use strict";

    // A poll that never answered (network gone) must not block polling forever.
    var STUCK_POLL_MS = 30000;
    var lastPollStartedAt = 0;
    var missedWhileHidden = false;

    function pollNow() {
        lastPollStartedAt = Date.now();
        return lastPollStartedAt;
    }

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

    document.addEventListener("visibilitychange", function () {
        if (document.visibilityState === "visible" && missedWhileHidden) {
            missedWhileHidden = false;
            if (window.dash_clientside && window.dash_clientside.set_props) {
                window.dash_clientside.set_props("poll-trigger", {data: pollNow()});
            }
        }
    });

    window.dash_clientside = window.dash_clientside || {};
    window.dash_clientside.live = {
        gatePoll: function (nIntervals, pollBusy) {
            var noUpdate = window.dash_clientside.no_update;
            if (document.visibilityState === "hidden") {
                missedWhileHidden = true;
                return noUpdate;
            }
            if (pollBusy && Date.now() - lastPollStartedAt < STUCK_POLL_MS) {
                return noUpdate;
            }
            return pollNow();
        },

        togglePause: function (nClicks, paused) {
            var nowPaused = !paused;
            var label = nowPaused ? "Resume live updates" : "Pause live updates";
            // Resuming polls at once instead of waiting for the next tick.
            var trigger = nowPaused ? window.dash_clientside.no_update : pollNow();
            return [nowPaused, label, trigger];
        },

        noteChecked: function (busy) {
            // The poll's "running" flag drops when the server answered (204 included).
            return busy ? window.dash_clientside.no_update : Date.now();
        },

        describeFreshness: function (clockTicks, shown, status, paused, lastChecked) {
            var hasData = Boolean(shown && shown.generation);
            var state = liveState(hasData, shown, status, paused);
            var label = hasData ? versionLabel(shown) : (shown && shown.empty ? "" : "Loading…");
            var details = hasData
                ? "generation " + shown.generation + " · written " + new Date(shown.updated).toString()
                : "";
            var checked = lastChecked ? "checked " + clockTime(lastChecked, true) : "";
            var notice = storageNotice(hasData, shown, status);
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

    function liveState(hasData, shown, status, paused) {
        if (status && status.kind === "removed") { return {name: "removed", words: "Data removed"}; }
        if (status && status.error && status.kind === "unreadable") {
            return {name: "unreadable", words: "Unreadable version"};
        }
        if (status && status.error) { return {name: "stale", words: "Stale — storage unreachable"}; }
        if (shown && shown.empty) { return {name: "empty", words: "No data"}; }
        if (!hasData) { return {name: "loading", words: "Connecting…"}; }
        if (paused) { return {name: "paused", words: "Paused"}; }
        return {name: "live", words: "Live"};
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
 * Chart page: what the chart area says before any data could be shown (instead of
 * "Loading…" forever when storage is down as the visitor arrives).
 */
(function () {
    "use strict";
    window.dash_clientside = window.dash_clientside || {};
    window.dash_clientside.chartPage = {
        placeholder: function (status, shown) {
            var noUpdate = window.dash_clientside.no_update;
            if ((shown && (shown.generation || shown.empty)) || !(status && status.error)) { return noUpdate; }
            var message = status.kind === "unreadable"
                ? "The data cannot be read (see the notice above)"
                : "Storage is unreachable — retrying";
            return {
                data: [],
                layout: {
                    xaxis: {visible: false},
                    yaxis: {visible: false},
                    annotations: [{text: message, showarrow: false, font: {size: 16}}],
                    template: "plotly_white"
                }
            };
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
