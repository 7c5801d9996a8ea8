"""The live-update machinery every live page shares: poll timer, per-session stores,
freshness line, pause button and the storage notice.

Only the *browser* side lives here (clientside callbacks in
``assets/live_dashboard.js``); the server-side poll belongs to the page that
decides what a new version means for it.

Per-session state, all small: ``shown-version`` (the generation this page shows
and its metadata), ``storage-status`` (the last check's error, or when the data was
removed) and ``last-checked`` (when the server last answered a poll). The dataset
itself never goes into a store.

The status line says one of: live, paused, stale (storage unreachable), unreadable
version, data removed, no data — in words and in the dot's colour — then the version
as people name it ("v12 · 14:07 · alice"; the raw generation only in its tooltip).
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html

# Relative times ("2 min ago") are re-rendered in the browser at this pace.
CLOCK_TICK_MS = 15_000


def live_status_bar(poll_interval_seconds: float) -> html.Div:
    """Timer, stores, freshness line, pause button and the (hidden) storage notice."""
    return html.Div(
        [
            dcc.Interval(id="poll-interval", interval=int(poll_interval_seconds * 1000)),
            dcc.Interval(id="clock-interval", interval=CLOCK_TICK_MS),
            dcc.Store(id="poll-trigger"),
            dcc.Store(id="poll-busy", data=False),
            dcc.Store(id="shown-version"),
            dcc.Store(id="storage-status"),
            dcc.Store(id="last-checked"),
            html.Div(
                [
                    html.Span(
                        [html.Span(className="live-dot", id="live-dot"), html.Span("Connecting…", id="live-state")],
                        className="live-state d-inline-flex align-items-center gap-1 small fw-semibold",
                    ),
                    html.Span("Loading…", id="freshness-text", className="text-muted small"),
                    html.Span(id="last-checked-text", className="text-muted small"),
                    dbc.Button(
                        "Pause live updates",
                        id="pause-button",
                        size="sm",
                        color="secondary",
                        outline=True,
                        className="ms-auto",
                    ),
                ],
                className="d-flex flex-wrap align-items-center gap-2 mb-2",
            ),
            dbc.Alert(id="storage-notice", color="warning", is_open=False, className="py-2"),
        ]
    )


def register_callbacks(app: Dash) -> None:
    """Attach the clientside callbacks of :func:`live_status_bar` to ``app``."""
    app.clientside_callback(
        ClientsideFunction(namespace="live", function_name="gatePoll"),
        Output("poll-trigger", "data"),
        Input("poll-interval", "n_intervals"),
        State("poll-busy", "data"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="live", function_name="togglePause"),
        Output("poll-interval", "disabled"),
        Output("pause-button", "children"),
        Output("poll-trigger", "data", allow_duplicate=True),
        Input("pause-button", "n_clicks"),
        State("poll-interval", "disabled"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(namespace="live", function_name="noteChecked"),
        Output("last-checked", "data"),
        Input("poll-busy", "data"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(namespace="live", function_name="describeFreshness"),
        Output("freshness-text", "children"),
        Output("freshness-text", "title"),
        Output("live-state", "children"),
        Output("live-dot", "className"),
        Output("last-checked-text", "children"),
        Output("storage-notice", "children"),
        Output("storage-notice", "is_open"),
        Output("storage-notice", "color"),
        Input("clock-interval", "n_intervals"),
        Input("shown-version", "data"),
        Input("storage-status", "data"),
        Input("poll-interval", "disabled"),
        Input("last-checked", "data"),
    )
