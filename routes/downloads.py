"""``/download/data.csv`` and ``.parquet``: the live version a page shows (by its signed token), streamed.

Only the live version: a withdrawn one cannot be fetched again with an old link.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from flask import Blueprint, Response, request, stream_with_context

from app_context import current_live_data
from auth import unsign
from data_access import DataUnavailable, DataVersion
from data_access.downloads import FORMATS, download_name, file_chunks, version_label
from data_access.view_state import ViewState, filter_rows

if TYPE_CHECKING:
    from data_access.live_data import LiveData

#: The purpose the chart page signs shown generations with (``shown-version``'s ``token``).
GENERATION_TOKEN_PURPOSE = "shown-generation"
FILTER_PARAMETERS = ("from", "to")
UNREADABLE_NOW = "The data cannot be read right now; try again in a minute."

downloads = Blueprint("downloads", __name__)


def refuse(status: int, message: str) -> Response:
    """A plain-text refusal: ``message`` with ``status``."""
    return Response(message + "\n", status=status, mimetype="text/plain")


def live_token_version(live_data: LiveData) -> DataVersion | Response:
    """The live version the request's signed ``token`` names, or the refusal to send instead."""
    generation = unsign(request.args.get("token"), GENERATION_TOKEN_PURPOSE)
    if generation is None:
        return refuse(403, "This download link was not issued by this dashboard. Reload the page and try again.")
    check = live_data.check_version()
    if not check.ok:
        return refuse(503, "The data cannot be reached right now; try again in a minute.")
    if check.version is None or check.version.generation != generation:
        return refuse(410, "This version is no longer the live one. The page shows the new one within seconds.")
    return check.version


def attachment(chunks: Iterator[bytes], content_type: str, name: str) -> Response:
    """``chunks`` streamed as a file download called ``name``, never cached."""
    return Response(
        stream_with_context(chunks),
        content_type=content_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, no-store"},
    )


@downloads.get("/download/data.<file_format>")
def download(file_format: str) -> Response:
    """Stream the token's generation (optionally filtered) as ``file_format``."""
    if file_format not in FORMATS:
        return refuse(404, "Downloads are data.csv or data.parquet.")
    live_data = current_live_data()
    version = live_token_version(live_data)
    if isinstance(version, Response):
        return version
    try:
        frame = live_data.frame(version.generation)
    except DataUnavailable:
        return refuse(503, UNREADABLE_NOW)
    filtered = any(key in FILTER_PARAMETERS or key.startswith("f.") for key in request.args)
    if filtered:
        view, _notices = ViewState.from_query(request.query_string.decode("utf-8", "replace"))
        frame = filter_rows(frame, view, live_data.roles(version.generation))
    label = version_label(version.metadata, version.updated)
    name = download_name(live_data.source.name, label, file_format, filtered)
    return attachment(file_chunks(frame, file_format), FORMATS[file_format], name)
