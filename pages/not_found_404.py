"""Shown for any path that is not a page."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import html

dash.register_page(__name__, path="/404", name="Not found", nav=False)


def layout(**_query: object) -> dbc.Container:
    return dbc.Container(
        [html.H1("Page not found", className="h3 mt-4"), html.P(html.A("Back to the chart", href="/"))],
        fluid=True,
    )
