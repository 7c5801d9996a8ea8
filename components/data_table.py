"""The data table under the chart, and the download controls.

AG Grid's infinite row model: the browser holds only the blocks it shows; paging, sorting and
filtering run on the server (:mod:`data_access.table_query`).
"""

from __future__ import annotations

from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import pandas as pd
from dash import html

from data_access.roles import INTEGER, NUMBER, TIME, value_kind
from data_access.table_query import column_field

# Rows per request and requests kept in the browser (a 10M-row table is never sent whole).
BLOCK_ROWS = 100
BLOCKS_KEPT = 20


#: AG Grid's filter for each kind of column (text for the rest).
FILTERS = {INTEGER: "agNumberColumnFilter", NUMBER: "agNumberColumnFilter", TIME: "agDateColumnFilter"}


def _filter_for(values: pd.Series) -> str:
    return FILTERS.get(value_kind(values), "agTextColumnFilter")


def column_defs(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """One grid column per frame column; fields are ``c0``, ``c1``… (names may contain dots)."""
    definitions = []
    for index, column in enumerate(frame.columns):
        definition = {
            "field": column_field(index),
            "headerName": str(column),
            "headerTooltip": str(column),
            "filter": _filter_for(frame[column]),
        }
        if pd.api.types.is_numeric_dtype(frame[column]) and not pd.api.types.is_bool_dtype(frame[column]):
            definition["type"] = "numericColumn"  # right-aligned
        definitions.append(definition)
    return definitions


def data_table() -> dbc.Card:
    """The grid in a card that scrolls sideways by itself (never the page)."""
    grid = dag.AgGrid(
        id="data-table",
        rowModelType="infinite",
        columnDefs=[],
        defaultColDef={"sortable": True, "resizable": True, "minWidth": 110, "filterParams": {"maxNumConditions": 2}},
        dashGridOptions={
            "cacheBlockSize": BLOCK_ROWS,
            "maxBlocksInCache": BLOCKS_KEPT,
            "infiniteInitialRowCount": 1,
            "rowBuffer": 10,
        },
        columnSize="autoSize",
        style={"height": "420px", "width": "100%"},
        className="ag-theme-quartz",
    )
    return grid_card("Rows", "data-table-count", grid)


def grid_card(title: str, count_id: str, grid: dag.AgGrid) -> dbc.Card:
    """``grid`` in a card headed by ``title`` and a row count (``count_id``)."""
    return dbc.Card(
        [
            dbc.CardHeader(
                [html.Span(title, className="fw-semibold"), html.Span(id=count_id, className="ms-2 small")],
                className="d-flex align-items-baseline",
            ),
            dbc.CardBody(grid, className="p-0 data-table-body"),
        ],
        className="mt-3 mb-3",
    )


def download_link(label: str, link_id: str) -> html.A:
    """A download button, disabled until the page sets its address."""
    return html.A(label, id=link_id, className="btn btn-outline-primary btn-sm disabled", download="")


def download_controls() -> html.Div:
    """ "Download CSV" / "Download Parquet" links and the choice of all rows or only the filtered ones."""
    return html.Div(
        [
            download_link("Download CSV", "download-csv"),
            download_link("Download Parquet", "download-parquet"),
            dbc.Switch(id="download-filtered", label="only the rows the filters select", value=True, className="mb-0"),
        ],
        className="d-flex flex-wrap align-items-center gap-2 mt-2",
    )
