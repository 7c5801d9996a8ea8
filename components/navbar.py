"""The top navigation bar, built from Dash's page registry; it folds behind a button on phones."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import ClientsideFunction, Dash, Input, Output, State

from components.catalog import CATALOG_MODULE


def navbar(title: str, catalog: bool = False) -> dbc.Navbar:
    """Brand plus one link per registered page (pages opt out with ``nav=False``; ``catalog``: ``/`` is the catalog)."""
    links = [
        dbc.NavItem(dbc.NavLink(_link_name(page, catalog), href=page["relative_path"], active="exact"))
        for page in dash.page_registry.values()
        if page.get("nav", True)
    ]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand(title, href="/", className="text-truncate"),
                dbc.NavbarToggler(id="navbar-toggler", n_clicks=0),
                dbc.Collapse(
                    dbc.Nav(links, navbar=True, className="ms-auto"), id="navbar-collapse", is_open=False, navbar=True
                ),
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        expand="md",
        className="mb-2",
    )


def _link_name(page: dict, catalog: bool) -> str:
    """The page's name; ``/`` in a catalog deployment is the catalog (there is no single chart)."""
    if catalog and page["path"] == "/" and CATALOG_MODULE in dash.page_registry:
        return dash.page_registry[CATALOG_MODULE]["name"]
    return page["name"]


def register_callbacks(app: Dash) -> None:
    """The menu button opens and closes the links (below the ``md`` breakpoint)."""
    app.clientside_callback(
        ClientsideFunction(namespace="navbar", function_name="toggle"),
        Output("navbar-collapse", "is_open"),
        Input("navbar-toggler", "n_clicks"),
        State("navbar-collapse", "is_open"),
        prevent_initial_call=True,
    )
