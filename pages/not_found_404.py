"""Shown for any path that is not a page."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import html

from app_context import current_datasets

dash.register_page(__name__, path="/404", name="Not found", nav=False)


def layout(**_query: object) -> dbc.Container:
    """ "Page not found", with a link back to what ``/`` is here: the chart, or the catalog of datasets."""
    back = "Back to the datasets" if current_datasets() is not None else "Back to the chart"
    return dbc.Container([html.H1("Page not found", className="h3 mt-4"), html.P(html.A(back, href="/"))], fluid=True)
