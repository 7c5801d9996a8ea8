"""The admin service's part of the app: the page at ``/admin``, its upload routes and uploader script.

The public chart service never calls :func:`register_admin`, so it has no admin page, callback or route to protect.
"""

from __future__ import annotations

from dash import Dash
from flask import Response, redirect, request

from admin import page
from admin.upload import CHUNK_PATH_PREFIX, UPLOADER_SCRIPT_URL, blueprint
from auth.web import ADMIN_PATH, allow_large_bodies
from data_access.staging import CHUNK_BYTES

__all__ = ["UPLOADER_SCRIPT_URL", "register_admin"]


def register_admin(app: Dash, *, home: bool) -> None:
    """Add the admin page, its callbacks and routes to ``app``; ``home``: ``/`` redirects to the page.

    The page needs ``UPLOADER_SCRIPT_URL`` among the app's ``external_scripts``.
    """
    app.server.register_blueprint(blueprint)
    # Local mode: the file reaches the app one chunk per request; everything else stays small.
    allow_large_bodies(app.server, CHUNK_PATH_PREFIX, CHUNK_BYTES + 2**20)
    page.register(app)
    if home:
        app.server.before_request(_front_door_to_admin_page)


def _front_door_to_admin_page() -> Response | None:
    # The admin service has no chart (the public service has): its address alone leads to the page.
    return redirect(ADMIN_PATH) if request.path == "/" else None
