"""The browser side of the live channel every live page shares: stores, freshness line, pause button.

``assets/live_dashboard.js`` sets ``shown-version`` and ``storage-status`` only when something changed.
"""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html

from routes.live import EVENTS_PATH, VERSION_PATH

# Relative times ("2 min ago") are re-rendered in the browser at this pace.
CLOCK_TICK_MS = 15_000


def live_status_bar(poll_interval_seconds: float, live_push: str = "auto", base: str = "") -> html.Div:
    """Check timer, stores, freshness line, pause button and storage notice (``base``: ``/d/<name>`` or "")."""
    config = {
        "push": live_push == "auto",
        "interval_seconds": poll_interval_seconds,
        "version_url": base + VERSION_PATH,
        "events_url": base + EVENTS_PATH,
    }
    return html.Div(
        [
            dcc.Interval(id="poll-interval", interval=int(poll_interval_seconds * 1000)),
            dcc.Interval(id="clock-interval", interval=CLOCK_TICK_MS),
            dcc.Store(id="live-config", data=config),
            dcc.Store(id="live-mode"),
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
        ClientsideFunction(namespace="live", function_name="start"),
        Output("live-mode", "data"),
        Input("live-config", "data"),
    )
    app.clientside_callback(
        ClientsideFunction(namespace="live", function_name="check"),
        Output("last-checked", "data"),
        Input("poll-interval", "n_intervals"),
        prevent_initial_call=True,
    )
    app.clientside_callback(
        ClientsideFunction(namespace="live", function_name="togglePause"),
        Output("poll-interval", "disabled"),
        Output("pause-button", "children"),
        Input("pause-button", "n_clicks"),
        State("poll-interval", "disabled"),
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
        Input("live-mode", "data"),
        State("live-config", "data"),
    )
