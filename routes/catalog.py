"""``GET /live/catalog``: the datasets and their generations, for the open catalog pages.

Cacheable like ``/live/version`` (ETag, 304, ``max-age``) and read from the one catalog listing;
404 when the deployment follows one object.
"""

from __future__ import annotations

import hashlib
import json

from flask import Blueprint, Response, request

from app_context import current_datasets, current_settings
from data_access import StorageError
from data_access.live_channel import version_label
from routes.live import max_age

CATALOG_PATH = "/live/catalog"

catalog_routes = Blueprint("catalog", __name__)


def catalog_document() -> list[dict[str, str]]:
    """Every dataset as the open catalog pages need it: name, generation, label, description (sorted by name)."""
    datasets = current_datasets()
    listed = datasets.catalog.datasets() if datasets is not None else {}
    return [
        {
            "name": dataset.name,
            "generation": dataset.version.generation,
            "label": version_label(dataset.version.to_dict()),
            "description": dataset.description,
        }
        for dataset in sorted(listed.values(), key=lambda each: each.name)
    ]


@catalog_routes.get(CATALOG_PATH)
def live_catalog() -> Response:
    """The catalog document, or 304 when the browser holds it already."""
    if current_datasets() is None:
        return Response("This dashboard follows one dataset.\n", status=404, mimetype="text/plain")
    try:
        body = json.dumps({"datasets": catalog_document()}, separators=(",", ":")).encode()
    except StorageError:
        return Response("The datasets cannot be listed right now.\n", status=503, mimetype="text/plain")
    etag = hashlib.blake2b(body, digest_size=12).hexdigest()
    cache_seconds = max_age(current_settings().version_cache_seconds)
    response = Response(status=304) if etag in request.if_none_match else Response(body, mimetype="application/json")
    response.set_etag(etag)
    response.headers["Cache-Control"] = f"public, max-age={cache_seconds}"
    return response
