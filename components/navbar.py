"""The top navigation bar, built from Dash's page registry."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc


def navbar(title: str) -> dbc.Navbar:
    """Brand plus one link per registered page (pages opt out with ``nav=False``)."""
    links = [
        dbc.NavItem(dbc.NavLink(page["name"], href=page["relative_path"], active="exact"))
        for page in dash.page_registry.values()
        if page.get("nav", True) and page["module"] != "pages.not_found_404"
    ]
    return dbc.Navbar(
        dbc.Container(
            [dbc.NavbarBrand(title, href="/"), dbc.Nav(links, navbar=True, className="ms-auto")],
            fluid=True,
        ),
        color="dark",
        dark=True,
        className="mb-2",
    )
