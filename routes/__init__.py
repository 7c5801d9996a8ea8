"""Plain Flask routes and hooks next to the Dash pages: downloads, take-up GETs, what changed, 404 for unknown paths."""

from __future__ import annotations

import dash
from flask import Flask, Response, request
from werkzeug.routing import Map, Rule

from routes.changes import changes_routes
from routes.downloads import downloads
from routes.take_up import take_up

NOT_FOUND_MODULE = "pages.not_found_404"


def register_routes(server: Flask) -> None:
    """Add the download and take-up routes and the not-found status to ``server``."""
    server.register_blueprint(downloads)
    server.register_blueprint(take_up)
    server.register_blueprint(changes_routes)
    server.after_request(_not_found_status)


def is_page_path(path: str) -> bool:
    """Whether ``path`` opens one of the registered pages (the not-found page excluded).

    Pages' ``path_template``s (``/d/<name>``) are werkzeug rules, so werkzeug matches them.
    """
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
    if served_index and response.status_code == 200 and not is_page_path(request.path):
        response.status_code = 404
    return response
