/*
 * Browser side of the live loop. Runs in the page, costs the server nothing.
 *
 * - gatePoll decides whether an Interval tick becomes a server poll: not while the
 *   tab is hidden, not while the previous poll is still in flight (dcc.Interval does
 *   not wait for responses), and it catches up as soon as the tab is shown again.
 * - describeFreshness renders "updated 2 min ago" and the storage notice.
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

    function clockTime(isoTime) {
        var when = new Date(isoTime);
        if (isNaN(when.getTime())) { return "an earlier check"; }
        return when.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit", hourCycle: "h23"});
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

        describeFreshness: function (clockTicks, shown, status, paused) {
            var parts = [];
            if (shown && shown.generation) {
                parts.push("Updated " + relativeTime(shown.updated));
                parts.push("generation " + shown.generation);
                if (shown.uploaded_by) { parts.push("by " + shown.uploaded_by); }
            } else if (shown && shown.empty) {
                parts.push("No data published yet");
            } else {
                parts.push("Loading…");
            }
            if (paused) { parts.push("live updates paused"); }
            var text = parts.join(" · ");
            var notice = "";
            if (status && status.error && !(shown && shown.generation)) {
                notice = status.kind === "unreadable"
                    ? "The data cannot be read: " + status.error
                    : "Storage unreachable, retrying — no data loaded yet.";
            } else if (status && status.error) {
                var since = clockTime(shown.updated);
                notice = status.kind === "unreadable"
                    ? "Showing data from " + since + " — the newest version cannot be read: " + status.error
                    : "Showing data from " + since + " — storage unreachable, retrying.";
            }
            return [text, notice, Boolean(notice)];
        }
    };
})();
