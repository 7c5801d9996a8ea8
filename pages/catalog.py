"""The catalog (``/`` with many datasets; also ``/datasets``): one card per dataset, filtered by name, live.

The browser checks ``GET /live/catalog`` (ETag, 304) every ``POLL_INTERVAL_SECONDS`` and asks for the
cards again only when the listing changed; a card's summary is read once per generation.
"""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Input, Output, State, callback, clientside_callback, dcc, html

from app_context import current_datasets, current_settings
from callback_input import typed_callback
from components.catalog import OUTAGE_NOTICE, dataset_card
from routes.catalog import CATALOG_PATH

dash.register_page(__name__, path="/datasets", name="Datasets", title="Live dashboards", nav=False)

NOT_FOUND_MODULE = "pages.not_found_404"
#: The longest filter text looked at (a dataset name is at most 100 characters).
MAX_FILTER_CHARS = 100


def layout(**_query: Any) -> Any:
    """Title, name filter and the cards as they are now (the not-found page for a deployment of one)."""
    if current_datasets() is None:
        return dash.page_registry[NOT_FOUND_MODULE]["layout"]()
    settings = current_settings()
    return dbc.Container(
        [
            html.H1(settings.dashboard_title, className="h3 mt-3"),
            html.P(settings.dashboard_description, className="mb-1", hidden=not settings.dashboard_description),
            dbc.Input(
                id="catalog-filter",
                type="search",
                placeholder="Filter by name",
                maxLength=MAX_FILTER_CHARS,
                className="mb-3",
                style={"maxWidth": "24rem"},
            ),
            dcc.Interval(id="catalog-interval", interval=int(settings.poll_interval_seconds * 1000)),
            dcc.Store(id="catalog-config", data={"url": CATALOG_PATH}),
            dcc.Store(id="catalog-etag"),
            html.Div(cards(""), id="catalog-cards"),
        ],
        fluid=True,
    )


def cards(name_filter: str) -> Any:
    """The cards of the datasets whose name contains ``name_filter`` (any case), sorted by name."""
    datasets = current_datasets()
    listed, error = datasets.catalog.last_known() if datasets is not None else ({}, None)
    notice = dbc.Alert(OUTAGE_NOTICE, color="warning", className="catalog-notice") if error is not None else None
    wanted = name_filter.strip().lower()
    shown = [listed[name] for name in sorted(listed, key=str.casefold) if wanted in name.lower()]
    if not shown:
        empty = "No dataset matches." if listed else "No datasets yet." if error is None else ""
        return [notice, html.P(empty, className="text-muted")]
    return [notice, dbc.Row([dataset_card(each, datasets.summary(each)) for each in shown], className="g-3")]  # type: ignore[union-attr]


# Every POLL_INTERVAL_SECONDS: GET /live/catalog with If-None-Match; a new ETag only when it changed.
clientside_callback(
    ClientsideFunction(namespace="catalog", function_name="check"),
    Output("catalog-etag", "data"),
    Input("catalog-interval", "n_intervals"),
    State("catalog-config", "data"),
    State("catalog-etag", "data"),
    prevent_initial_call=True,
)


@callback(
    Output("catalog-cards", "children"),
    Input("catalog-etag", "data"),
    Input("catalog-filter", "value"),
    prevent_initial_call=True,
)
@typed_callback
def redraw(_etag: str | None, name_filter: str | None) -> Any:
    """The catalog changed or the filter did: the cards again, from the server's listing."""
    return cards((name_filter or "")[:MAX_FILTER_CHARS])
