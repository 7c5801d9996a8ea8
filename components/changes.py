""" "What changed" on the chart page: the summary and the changed rows, filled in the browser (``take_up.js``)
from ``GET /live/<generation>/changes``; the ghost traces are part of the chart's own answer."""

from __future__ import annotations

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import html

from components.data_table import download_link, grid_card

# Row and cell classes (assets/style.css): added rows green, removed rows struck through, changed cells marked.
ROW_CLASS_RULES = {
    "change-added": "params.data.change === 'added'",
    "change-removed": "params.data.change === 'removed'",
}


def changed_cell_rules(field: str) -> dict[str, str]:
    """The class rule that marks a changed cell of column ``field`` (a ``c<n>`` name: a plain identifier)."""
    return {"change-cell": f"params.data.changed_cells.{field} === true"}


def changes_panel() -> html.Div:
    """The summary in words, how rows were matched, the changed-rows switch and the download (hidden when off)."""
    return html.Div(
        [
            html.Div(id="changes-summary", className="fw-semibold", role="status"),
            html.Div(id="changes-matching", className="text-muted small"),
            html.Div(
                [
                    dbc.Switch(id="changes-only-rows", label="Only changed rows in the table", value=False),
                    download_link("Download changes (CSV)", "download-changes"),
                ],
                className="d-flex flex-wrap align-items-center gap-3 mt-1",
            ),
        ],
        id="changes-panel",
        hidden=True,
        className="border rounded bg-light px-3 py-2 mt-2",
    )


def changes_table() -> html.Div:
    """The changed rows (added, removed struck through, changed cells "old → new"), shown instead of the data."""
    grid = dag.AgGrid(
        id="changes-table",
        rowData=[],
        columnDefs=[],
        defaultColDef={"resizable": True, "sortable": True, "minWidth": 110},
        # Every column rendered: a grid first laid out while hidden otherwise draws only its first columns.
        dashGridOptions={"rowClassRules": ROW_CLASS_RULES, "suppressColumnVirtualisation": True},
        style={"height": "420px", "width": "100%"},
        className="ag-theme-quartz",
    )
    return html.Div(grid_card("Changed rows", "changes-table-count", grid), id="changes-table-area", hidden=True)
