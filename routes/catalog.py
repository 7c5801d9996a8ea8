"""``GET /live/catalog``: the datasets and their generations, for the open catalog pages.

Cacheable like ``/live/version`` (ETag, 304, ``max-age``) and read from the one catalog listing;
during a storage outage, the last listing with ``status: unreachable``. 404 when the deployment
follows one object.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from flask import Blueprint, Response, request

from app_context import current_datasets, current_settings
from data_access.versions import version_label
from routes.downloads import refuse
from routes.live import cached_json, flask_answer, max_age

CATALOG_PATH = "/live/catalog"

catalog_routes = Blueprint("catalog", __name__)


def catalog_document() -> dict[str, Any]:
    """Each dataset's name, generation, label and description by name; ``unreachable``: the last listing's."""
    datasets = current_datasets()
    listed, error = datasets.catalog.last_known() if datasets is not None else ({}, None)
    rows = [
        {
            "name": dataset.name,
            "generation": dataset.version.generation,
            "label": version_label(dataset.version, with_file=False),
            "description": dataset.description,
        }
        for dataset in sorted(listed.values(), key=lambda each: each.name.casefold())
    ]
    return {"status": "unreachable" if error is not None else "live", "datasets": rows}


@catalog_routes.get(CATALOG_PATH)
def live_catalog() -> Response:
    """The catalog document, or 304 when the browser holds it already."""
    if current_datasets() is None:
        return refuse(404, "This dashboard follows one dataset.")
    body = json.dumps(catalog_document(), separators=(",", ":")).encode()
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    cache_seconds = max_age(current_settings().version_cache_seconds)
    return flask_answer(*cached_json(body, etag, request.headers.get("If-None-Match"), cache_seconds))
