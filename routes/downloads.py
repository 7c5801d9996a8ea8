"""``/download/data.csv`` and ``/download/data.parquet``: the version a page shows, as a file.

The browser passes the signed token the poll handed it (``token=``), never a bare
generation, plus — when the person asked for the filtered rows — the page's own filter
parameters (``from``, ``to``, ``f.<column>``). Only the live version can be downloaded:
a token for a version that has since been replaced or rolled back is refused, so a
withdrawn version cannot be fetched again with an old link. The file is streamed in
chunks (see :mod:`data_access.downloads`), so memory stays bounded at any size.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request, stream_with_context

from app_context import current_live_data
from auth import unsign
from data_access import DataUnavailable
from data_access.downloads import FORMATS, download_name, file_chunks, version_label
from data_access.view_state import ViewState, filter_rows

#: The purpose the chart page signs shown generations with (``shown-version``'s ``token``).
GENERATION_TOKEN_PURPOSE = "shown-generation"
FILTER_PARAMETERS = ("from", "to")

downloads = Blueprint("downloads", __name__)


def _refuse(status: int, message: str) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")


@downloads.get("/download/data.<file_format>")
def download(file_format: str) -> Response:
    """Stream the token's generation (optionally filtered) as ``file_format``."""
    if file_format not in FORMATS:
        return _refuse(404, "Downloads are data.csv or data.parquet.")
    generation = unsign(request.args.get("token"), GENERATION_TOKEN_PURPOSE)
    if generation is None:
        return _refuse(403, "This download link was not issued by this dashboard. Reload the page and try again.")
    live_data = current_live_data()
    check = live_data.check_version()
    if not check.ok:
        return _refuse(503, "The data cannot be reached right now; try again in a minute.")
    if check.version is None or check.version.generation != generation:
        return _refuse(410, "This version is no longer the live one. The page shows the new one within seconds.")
    try:
        frame = live_data.frame(generation)
    except DataUnavailable:
        return _refuse(503, "The data cannot be read right now; try again in a minute.")
    filtered = _asks_for_filters(request.args)
    if filtered:
        view, _notices = ViewState.from_query(request.query_string.decode("utf-8", "replace"))
        frame = filter_rows(frame, view, live_data.roles(generation))
    label = version_label(check.version.metadata, check.version.updated)
    name = download_name(live_data.source.name, label, file_format, filtered)
    return Response(
        stream_with_context(file_chunks(frame, file_format)),
        content_type=FORMATS[file_format],
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, no-store"},
    )


def _asks_for_filters(args: Any) -> bool:
    return any(key in FILTER_PARAMETERS or key.startswith("f.") for key in args)
