"""Chart page (``/``): the live dataset, updated by itself when a new generation lands.

Its callbacks serve every chart (``/d/<name>`` too: ``shown-version`` names the dataset). They only
wire: the live channel sets ``shown-version`` in the browser, figures and table blocks come from
plain GETs (``routes/take_up.py``, ``assets/take_up.js``), so no server callback runs while nothing changes.
"""

from __future__ import annotations

from typing import Any

import dash
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, ctx, no_update
from dash.exceptions import PreventUpdate

from app_context import current_datasets, current_live_data, current_settings, dataset_live_data
from auth import unsign
from callback_input import typed_callback
from components.catalog import CATALOG_MODULE
from components.chart import CONTROL_IDS, CONTROL_INPUTS, CONTROL_OUTPUTS, control_values, view_from_controls
from components.chart_page import chart_page
from components.live_status import live_status_bar
from data_access import DataUnavailable
from data_access.roles import ColumnRoles
from data_access.view_state import ViewState
from routes.downloads import GENERATION_TOKEN_PURPOSE

dash.register_page(__name__, path="/", name="Chart", title="Live dashboard", order=0)

# The chart only draws generations the live channel handed out (GENERATION_TOKEN_PURPOSE): the browser
# cannot ask for any other (an old, rolled-back version, or a made-up one that would bypass the cache).


def layout(**query: Any) -> Any:
    """The chart of the one dataset; with many datasets, the catalog of them (``pages/catalog.py``)."""
    if current_datasets() is not None:
        return dash.page_registry[CATALOG_MODULE]["layout"](**query)
    settings = current_settings()
    status_bar = live_status_bar(settings.poll_interval_seconds, settings.live_push)
    return chart_page(settings.dashboard_title, settings.dashboard_description, status_bar)


def _roles(shown: dict | None) -> ColumnRoles:
    """The column roles of the generation this browser was handed (signature checked); else no update."""
    generation = shown.get("generation") if shown else None  # none while nothing is shown ("empty")
    if generation is None or unsign(shown.get("token"), GENERATION_TOKEN_PURPOSE) != generation:
        raise PreventUpdate
    name = shown.get("dataset")
    live_data = current_live_data() if name is None else dataset_live_data(str(name))
    if live_data is None:
        raise PreventUpdate  # a dataset this process cannot find (storage down): keep what is shown
    try:
        return live_data.roles(generation)
    except DataUnavailable:
        # The poll reports the outage; keep whatever the page shows.
        raise PreventUpdate from None


# A new generation or view: the chart, the grid's columns and the controls' key come from
# ``GET /live/<generation>/chart`` (routes/take_up.py), applied in the browser (assets/take_up.js).
dash.clientside_callback(
    ClientsideFunction(namespace="takeUp", function_name="chart"),
    Output("chart-graph", "figure"),
    Output("rendered-chart", "data"),
    Output("chart-range", "data"),
    Output("data-table", "columnDefs"),
    Output("chart-controls-key", "data"),
    Input("shown-version", "data"),
    Input("chart-view", "data"),
    State("chart-url", "search"),
    State("rendered-chart", "data"),
    State("chart-range", "data"),
    State("chart-graph", "figure"),
    State("data-table", "columnDefs"),
    State("chart-controls-key", "data"),
)


@callback(
    output={
        "search": Output("chart-url", "search"),
        "view": Output("chart-view", "data"),
        "notice": Output("chart-notice", "children"),
        "controls": CONTROL_OUTPUTS,
    },
    inputs={
        "search": Input("chart-url", "search"),
        # Changes only when the drawn view or what the controls offer changed, not on every take-up.
        "drawn": Input("chart-controls-key", "data"),
        "controls": CONTROL_INPUTS,
        "shown": State("shown-version", "data"),
        "current": State("chart-view", "data"),
    },
)
@typed_callback
def sync_view(search: str | None, drawn: Any, controls: dict[str, Any], shown: dict | None, current: Any) -> dict:
    """Controls → view → query string; or query string (a link, back/forward) or a new drawing → controls."""
    roles = _roles(shown)
    from_controls = ctx.triggered_id in CONTROL_IDS
    if from_controls:
        wanted, notices = view_from_controls(controls, ViewState.from_dict(current)), []
    else:
        wanted, notices = ViewState.from_query(search)
    view, stale = wanted.resolve(roles)
    view_data = view.to_dict()
    return {
        "search": view.to_query() if from_controls else no_update,
        "view": view_data if view_data != current else no_update,
        "notice": " ".join(notices + stale),
        "controls": control_values(view, roles, controls["filter_column"] if from_controls else None),
    }


# Zoom or pan: the traces at full detail for the visible x range, from the same GET (x0, x1) as a take-up.
dash.clientside_callback(
    ClientsideFunction(namespace="takeUp", function_name="zoom"),
    Output("chart-graph", "figure", allow_duplicate=True),
    Output("chart-range", "data", allow_duplicate=True),
    Input("chart-graph", "relayoutData"),
    State("shown-version", "data"),
    State("chart-url", "search"),
    State("rendered-chart", "data"),
    prevent_initial_call=True,
)


clientside_callback(
    ClientsideFunction(namespace="chart", function_name="toggleOptions"),
    Output("chart-options", "is_open"),
    Input("chart-options-toggle", "n_clicks"),
    State("chart-options", "is_open"),
    prevent_initial_call=True,
)


# -- data table and downloads (rows the chart's filters select) ------------------------------


# New version or other filters: the grid drops its cached blocks and asks again.
dash.clientside_callback(
    ClientsideFunction(namespace="dataTable", function_name="refresh"),
    Output("data-table-key", "data"),
    Input("shown-version", "data"),
    Input("chart-view", "data"),
)


dash.clientside_callback(
    ClientsideFunction(namespace="takeUp", function_name="description"),
    Output("version-description", "children"),
    Input("shown-version", "data"),
)


# Nothing can be shown (no data, unreadable, unreachable): a visitor arriving while storage is down sees
# why the chart and the table are empty, not "Loading…" forever.
dash.clientside_callback(
    ClientsideFunction(namespace="takeUp", function_name="nothingShown"),
    Output("chart-graph", "figure", allow_duplicate=True),
    Output("data-table-count", "children", allow_duplicate=True),
    Input("storage-status", "data"),
    Input("shown-version", "data"),
    prevent_initial_call=True,
)


# Each block of rows: ``GET /live/<generation>/rows`` (asked again while the version is taken up).
dash.clientside_callback(
    ClientsideFunction(namespace="takeUp", function_name="rows"),
    Output("data-table", "getRowsResponse"),
    Output("data-table-count", "children"),
    Input("data-table", "getRowsRequest"),
    State("chart-url", "search"),
    State("shown-version", "data"),
    prevent_initial_call=True,
)


dash.clientside_callback(
    ClientsideFunction(namespace="takeUp", function_name="downloads"),
    Output("download-csv", "href"),
    Output("download-parquet", "href"),
    Output("download-csv", "className"),
    Output("download-parquet", "className"),
    Input("shown-version", "data"),
    Input("chart-view", "data"),
    Input("download-filtered", "value"),
)


# "What changed": the summary, how rows were matched, the changed rows and their download, per shown version.
dash.clientside_callback(
    ClientsideFunction(namespace="takeUp", function_name="changes"),
    Output("changes-panel", "hidden"),
    Output("changes-summary", "children"),
    Output("changes-matching", "children"),
    Output("changes-table", "rowData"),
    Output("changes-table", "columnDefs"),
    Output("changes-table-count", "children"),
    Output("download-changes", "href"),
    Output("download-changes", "className"),
    Input("shown-version", "data"),
    Input("chart-view", "data"),
)


dash.clientside_callback(
    ClientsideFunction(namespace="takeUp", function_name="changedRowsOnly"),
    Output("data-table-area", "hidden"),
    Output("changes-table-area", "hidden"),
    Input("changes-only-rows", "value"),
    Input("chart-view", "data"),
)
