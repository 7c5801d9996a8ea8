"""The chart page's components, for ``/`` and ``/d/<name>``; their callbacks live in ``pages/chart.py``."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from components.changes import changes_panel, changes_table
from components.chart import chart_controls, graph
from components.data_table import data_table, download_controls


def chart_page(title: str, description: str, status_bar: Any) -> dbc.Container:
    """A whole chart page: ``title``, ``description``, the live ``status_bar``, chart, table and downloads."""
    return dbc.Container(
        [
            html.H1(title, className="h3 mt-3", id="dashboard-title"),
            html.P(description, className="mb-1", hidden=not description),
            html.P(id="version-description", className="text-muted small mb-2"),
            status_bar,
            # refresh=False: setting ``search`` pushes a history entry without reloading or re-routing the page.
            dcc.Location(id="chart-url", refresh=False),
            dcc.Store(id="chart-view"),  # the validated view: ViewState.to_dict()
            dcc.Store(id="rendered-chart"),  # what is drawn: generation, view and trace signature
            dcc.Store(id="chart-range"),  # the zoomed x range, so live updates keep its detail
            dcc.Store(id="chart-controls-key"),  # the drawn view and a key of the controls' values
            chart_controls(),
            graph(),
            changes_panel(),
            download_controls(),
            html.Div(data_table(), id="data-table-area"),
            changes_table(),
            dcc.Store(id="data-table-key"),
        ],
        fluid=True,
    )
