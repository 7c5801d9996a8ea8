"""The admin page's upload routes (start, chunk in local mode, cancel) and its uploader script.

The file never travels inside a Dash callback: ``POST /admin/upload/start`` answers with a resumable
session straight to the bucket (or ``PUT /admin/upload/chunk/<token>`` on disk) and a token signed
for this admin, the only thing the preview and publish callbacks accept. Every route checks the admin.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, make_response, request, url_for
from werkzeug.http import parse_content_range_header

from app_context import current_dataset_name, current_settings, use_admin_dataset
from auth import User, require_admin, sign, unsign
from auth.web import ADMIN_PATH
from data_access import StorageError, staging_for
from data_access.local_source import LocalStaging
from data_access.staging import CHUNK_BYTES, UploadRefused, is_upload_id, iter_chunks, new_upload_id
from data_access.units import MB
from data_access.validation import upload_problem

UPLOAD_PURPOSE = "admin-upload"
PENDING_PURPOSE = "admin-pending"

blueprint = Blueprint("admin", __name__, url_prefix=ADMIN_PATH, static_folder="static")
UPLOADER_SCRIPT_URL = f"{ADMIN_PATH}/static/admin_upload.js"
CHUNK_PATH_PREFIX = f"{ADMIN_PATH}/upload/chunk/"


def user_token(user: User, purpose: str, data: dict[str, Any]) -> str:
    """A token carrying ``data`` (naming a staged upload by its ``id``) for ``purpose``, valid only for ``user``."""
    return sign(json.dumps({**data, "user": user.name}), purpose)


def read_user_token(token: object, purpose: str, user: User) -> dict[str, Any] | None:
    """What :func:`user_token` put in ``token``, or ``None`` if it was not issued here to ``user``."""
    value = unsign(token, purpose)
    if value is None:
        return None
    data = json.loads(value)
    if not isinstance(data, dict) or data.get("user") != user.name or not is_upload_id(data.get("id")):
        return None
    return data


def _refusal(message: str, status: int) -> Response:
    return make_response(jsonify(error=message), status)


def _same_origin() -> str | None:
    """The page's origin when the request comes from a page of this app, else ``None``."""
    origin = request.headers.get("Origin", "")
    return origin if origin == f"{request.scheme}://{request.host}" else None


@blueprint.post("/upload/start")
def start_upload() -> Response:
    """Check the admin, origin, name and size; prepare a staged upload and say where to send it."""
    user = require_admin()
    origin = _same_origin()
    if origin is None:
        return _refusal("Uploads start from the admin page of this site only.", 403)
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("filename"), str):
        return _refusal("Malformed upload request.", 400)
    filename, size, dataset = body["filename"][:500], body.get("size"), body.get("dataset")
    settings = current_settings()
    problem = upload_problem(filename, size, int(settings.max_upload_mb * MB))
    if problem:
        return _refusal(problem, 400)
    live_data = use_admin_dataset(dataset if isinstance(dataset, str) else None)
    if live_data is None:
        return _refusal("Pick a dataset (or name a new one: letters, digits, '.', '_', '-') first.", 400)
    staging = staging_for(live_data.source)
    try:
        # fake-gcs-server answers every origin's preflight but keeps no CORS rules to read.
        checks_cors = settings.app_env == "production" and not settings.storage_emulator_host
        cors = staging.cors_problem(origin) if checks_cors else None
        if cors:
            return _refusal(f"Uploads cannot reach storage: {cors}. See 'Bucket set-up' in the README.", 409)
        staging.delete_stale()
        upload_id = new_upload_id()
        session_url = staging.start(upload_id, size, origin, user.name)
    except StorageError as error:
        return _refusal(f"Storage cannot be reached right now, so nothing can be uploaded: {error}", 503)
    staged = {"id": upload_id, "size": size, "filename": filename, "dataset": current_dataset_name()}
    token = user_token(user, UPLOAD_PURPOSE, staged)
    if session_url is None:  # local mode: the chunks come to this app, within its request body limit
        url, chunk_bytes = url_for("admin.receive_chunk", token=token), CHUNK_BYTES
    else:
        url, chunk_bytes = session_url, int(settings.upload_chunk_mb * 2**20)
    return jsonify(token=token, url=url, chunk_bytes=chunk_bytes, direct=session_url is not None)


@blueprint.put("/upload/chunk/<token>")
def receive_chunk(token: str) -> Response:
    """Local mode: store one chunk, answering like a resumable upload session (308 + Range, 200 when done)."""
    user = require_admin()
    if _same_origin() is None:
        return _refusal("Uploads come from the admin page of this site only.", 403)
    upload = read_user_token(token, UPLOAD_PURPOSE, user)
    live_data = use_admin_dataset(upload.get("dataset")) if upload is not None else None
    staging = staging_for(live_data.source) if live_data is not None else None
    if upload is None or not isinstance(staging, LocalStaging):
        return _refusal("Unknown upload.", 404)
    # "bytes START-END/SIZE" carries a chunk; "bytes */SIZE" asks how much is stored.
    content_range = parse_content_range_header(request.headers.get("Content-Range"))
    total = upload["size"]
    if content_range is None or content_range.units != "bytes" or content_range.length != total:
        return _refusal("Content-Range must be 'bytes START-END/SIZE' with the declared size.", 400)
    try:
        if content_range.start is None:
            offset = staging.offset(upload["id"], total)
        else:
            length = content_range.stop - content_range.start  # werkzeug: a range is never empty
            if length > CHUNK_BYTES or request.content_length != length:
                return _refusal(f"A chunk is 1 to {CHUNK_BYTES} bytes, as its Content-Range says.", 400)
            body = iter_chunks(request.stream, length)
            offset = staging.receive(upload["id"], content_range.start, total, body)
    except UploadRefused as refused:
        return _refusal(str(refused), 409)
    if offset == total:
        return jsonify(size=total)
    response = Response(status=308)
    if offset:
        response.headers["Range"] = f"bytes=0-{offset - 1}"
    return response


@blueprint.post("/upload/cancel")
def cancel_upload() -> Response:
    """Delete the staged file of an upload this admin started (done or not)."""
    user = require_admin()
    if _same_origin() is None:
        return _refusal("Uploads are cancelled from the admin page of this site only.", 403)
    body = request.get_json(silent=True)
    upload = read_user_token(body.get("token") if isinstance(body, dict) else None, UPLOAD_PURPOSE, user)
    live_data = use_admin_dataset(upload.get("dataset")) if upload is not None else None
    if upload is None or live_data is None:
        return _refusal("Unknown upload.", 404)
    staging_for(live_data.source).delete(upload["id"])
    return Response(status=204)
