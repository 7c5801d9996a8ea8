"""Plain Flask routes and hooks next to the Dash pages: downloads, take-up GETs, what changed, 404 for unknown paths.

With many datasets every route also answers under ``/d/<name>`` (``/d/sales/live/<generation>/chart``,
``/d/sales/download/data.csv``…) for that dataset; an unknown name gets 404.
"""

from __future__ import annotations

import re
from typing import Any

import dash
from flask import Flask, Response, abort, request
from werkzeug.routing import Map, Rule

from app_context import current_datasets, find_dataset, use_dataset
from routes.catalog import catalog_routes
from routes.changes import changes_routes
from routes.downloads import downloads, refuse
from routes.live import DATASET_PREFIX, NO_SUCH_DATASET
from routes.take_up import take_up

NOT_FOUND_MODULE = "pages.not_found_404"
DATASET_PAGE = re.compile(r"/d/([^/]+)/?")
CATALOG_PATH = "/datasets"


def register_routes(server: Flask) -> None:
    """Add the download and take-up routes and the not-found status to ``server``."""
    for blueprint in (downloads, take_up, changes_routes):
        server.register_blueprint(blueprint)
        server.register_blueprint(blueprint, url_prefix=DATASET_PREFIX, name=f"dataset_{blueprint.name}")
    server.register_blueprint(catalog_routes)
    server.url_value_preprocessor(_dataset_from_url)
    server.after_request(_not_found_status)


def _dataset_from_url(_endpoint: str | None, values: dict[str, Any] | None) -> None:
    # ``/d/<dataset>/…``: the request is about that dataset (a short plain 404 when there is none,
    # like the other routes' refusals, not Flask's HTML page).
    if values and "dataset" in values and use_dataset(values.pop("dataset")) is None:
        abort(refuse(404, NO_SUCH_DATASET))


def unknown_dataset_page(path: str) -> bool:
    """Whether ``path`` is ``/d/<name>`` of no dataset, or ``/datasets`` on a deployment of one object."""
    if path.rstrip("/") == CATALOG_PATH:
        return current_datasets() is None
    matched = DATASET_PAGE.fullmatch(path)
    return matched is not None and find_dataset(matched.group(1)) is None


def is_page_path(path: str) -> bool:
    """Whether ``path`` opens a registered page but the not-found one (``path_template``s are werkzeug rules)."""
    pages = Map(
        [
            Rule(page.get("path_template") or page["relative_path"].rstrip("/") or "/")
            for page in dash.page_registry.values()
            if page["module"] != NOT_FOUND_MODULE
        ]
    )
    return pages.bind("localhost").test(path.rstrip("/") or "/")


def _not_found_status(response: Response) -> Response:
    # Dash answers every unknown path with its index page (200) and draws the not-found page in
    # the browser; browsers, crawlers and monitors need the status to say so too.
    rule = request.url_rule
    served_index = rule is not None and rule.rule.endswith("<path:path>") and response.mimetype == "text/html"
    if (
        served_index
        and response.status_code == 200
        and (not is_page_path(request.path) or unknown_dataset_page(request.path))
    ):
        response.status_code = 404
    return response
