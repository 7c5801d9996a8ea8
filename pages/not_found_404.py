"""Shown for any path that is not a page."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import html

from app_context import current_datasets

dash.register_page(__name__, path="/404", name="Not found", nav=False)


def layout(**_query: object) -> dbc.Container:
    return dbc.Container(
        [html.H1("Page not found", className="h3 mt-4"), html.P(html.A(_back_text(), href="/"))],
        fluid=True,
    )


def _back_text() -> str:
    """What ``/`` is on this deployment: the chart, or the catalog of its datasets."""
    return "Back to the datasets" if current_datasets() is not None else "Back to the chart"
