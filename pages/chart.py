"""Chart page (``/``): the live dataset, updated by itself when a new generation lands.

Two server callbacks:

* :func:`poll_for_new_version` runs on every poll tick. When the generation this
  browser shows is still live it answers HTTP 204 (``PreventUpdate``) after one
  cached lookup. When it changed, it makes sure the new frame loads (warming the
  shared cache) and stores the new generation in this session's ``shown-version``.
* :func:`render_chart` redraws when the generation or the user's chart choices
  change: a ``Patch`` of the traces' data on a live update (keeps zoom and legend),
  a whole figure when the choices change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from auth import sign, unsign
from components.chart import (
    build_figure,
    chart_controls,
    data_patch,
    drawn_as,
    fit_choices,
    graph,
    message_figure,
    numeric_columns,
)
from components.live_status import live_status_bar
from data_access import DataUnavailable, DataVersion, current_live_data
from settings import current_settings

dash.register_page(__name__, path="/", name="Chart", title="Live dashboard", order=0)

# The chart only draws generations the poll handed out: the browser cannot ask for any other
# (an old, rolled-back version, or a made-up one that would bypass the cache).
GENERATION_TOKEN_PURPOSE = "shown-generation"


def layout(**_query: Any) -> dbc.Container:
    settings = current_settings()
    return dbc.Container(
        [
            html.H1("Live data", className="h3 mt-3"),
            html.P(f"Data: {current_live_data().source.name}", className="text-muted small mb-2", id="data-location"),
            live_status_bar(settings.poll_interval_seconds),
            chart_controls(),
            graph(),
            dcc.Store(id="chart-choices", storage_type="session"),
            dcc.Store(id="rendered-chart"),
        ],
        fluid=True,
    )


def _shown_version(version: DataVersion) -> dict[str, Any]:
    """What this session keeps about the version it shows: small, never the data."""
    return {
        "generation": version.generation,
        "token": sign(version.generation, GENERATION_TOKEN_PURPOSE),
        "updated": version.updated,
        "size": version.size,
        "uploaded_by": version.metadata.get("uploaded_by", ""),
        "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


@callback(
    Output("shown-version", "data"),
    Output("storage-status", "data"),
    Input("poll-trigger", "data"),
    State("shown-version", "data"),
    State("storage-status", "data"),
    running=[(Output("poll-busy", "data"), True, False)],
    prevent_initial_call=True,
)
def poll_for_new_version(_trigger: Any, shown: dict | None, status: dict | None) -> tuple:
    """Compare the live generation with the one this session shows; 204 when unchanged."""
    live_data = current_live_data()
    check = live_data.check_version()
    if not check.ok:
        return _report(status, {"error": check.error, "kind": "unreadable" if check.permanent else "unreachable"})
    if check.version is None:
        empty = {"empty": True, "location": live_data.source.location}
        if shown == empty:
            return _report(status, None)
        return empty, None
    if shown and shown.get("generation") == check.version.generation:
        # The common case: nothing changed. One cached lookup, then 204 with no body.
        return _report(status, None)
    try:
        live_data.frame(check.version.generation)  # download + parse once per cache, not per session
    except DataUnavailable as error:
        kind = "unreadable" if error.permanent else "unreachable"
        return _report(status, {"error": str(error), "kind": kind, "generation": check.version.generation})
    return _shown_version(check.version), None


def _report(current_status: dict | None, new_status: dict | None) -> tuple:
    """Update only the status store, or answer 204 when it already says this."""
    if new_status == current_status:
        raise PreventUpdate
    return no_update, new_status


@callback(
    Output("chart-graph", "figure"),
    Output("chart-x", "options"),
    Output("chart-y", "options"),
    Output("chart-x", "value"),
    Output("chart-y", "value"),
    Output("chart-kind", "value"),
    Output("chart-choices", "data"),
    Output("rendered-chart", "data"),
    Input("shown-version", "data"),
    Input("chart-x", "value"),
    Input("chart-y", "value"),
    Input("chart-kind", "value"),
    State("chart-choices", "data"),
    State("rendered-chart", "data"),
)
def render_chart(
    shown: dict | None,
    x_column: str | None,
    y_columns: list[str] | None,
    kind: str | None,
    saved_choices: dict | None,
    rendered: dict | None,
) -> tuple:
    """Draw the shown generation with this session's choices (Patch on a pure data update)."""
    if not shown:
        raise PreventUpdate
    if shown.get("empty"):
        message = f"No data published yet at {shown.get('location', 'the configured location')}"
        return (message_figure(message), *([no_update] * 7))
    generation = unsign(shown.get("token"), GENERATION_TOKEN_PURPOSE)
    if generation is None or generation != shown.get("generation"):
        raise PreventUpdate
    try:
        frame = current_live_data().frame(generation)
    except DataUnavailable:
        # The poll reports the outage; keep whatever the page shows.
        raise PreventUpdate from None

    data_changed = ctx.triggered_id == "shown-version"
    if data_changed:
        requested = (rendered or {}).get("choices") or saved_choices
    else:
        requested = {"x": x_column, "y": y_columns, "kind": kind}
    choices = fit_choices(requested, frame)
    max_points = current_settings().max_chart_points
    drawn = drawn_as(choices, len(frame), max_points)
    if data_changed and rendered and rendered.get("choices") == choices and rendered.get("drawn_as") == drawn:
        figure: Any = data_patch(frame, choices, max_points)
    else:
        figure = build_figure(frame, choices, max_points)
    columns = [str(column) for column in frame.columns]
    return (
        figure,
        columns,
        numeric_columns(frame),
        choices["x"],
        choices["y"],
        choices["kind"],
        choices,
        {"generation": generation, "choices": choices, "drawn_as": drawn},
    )
