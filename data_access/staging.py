"""Uploads staged next to the live data (``<GCS_BLOB>.staging/<id>``), checked there, then published by a copy.

The random id travels only in a token signed for the admin; exactly the checked generation is published.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from data_access.sources import DataVersion
from data_access.validation import Schema, ValidationReport, validate_file

#: Bytes per chunk the browser sends to the app in local mode (storage sessions take ``UPLOAD_CHUNK_MB``).
CHUNK_BYTES = 8 * 2**20
#: Staged files older than this are abandoned and deleted (the bucket's lifecycle rule says the same).
STALE_SECONDS = 24 * 3600
STAGING_SUFFIX = ".staging"
_UPLOAD_ID_BYTES = 16


class UploadRefused(ValueError):
    """An upload cannot start or continue; the message says why, for the admin."""


@dataclass(frozen=True)
class StagedFile:
    """One complete staged upload, pinned to the generation that was checked."""

    upload_id: str
    generation: str
    size: int


class Staging(Protocol):
    """Where uploads wait to be checked and published (one per data source)."""

    def start(self, upload_id: str, size: int, origin: str, user: str) -> str | None:
        """Prepare an upload of ``size`` bytes; the URL the browser sends chunks to, if storage gives one."""

    def find(self, upload_id: str) -> StagedFile | None:
        """The complete staged file, or ``None`` while it is missing or incomplete."""

    def local_copy(self, staged: StagedFile) -> AbstractContextManager[Path]:
        """A file on this machine holding exactly ``staged`` (removed afterwards if it was a copy)."""

    def stage_bytes(self, content: bytes) -> StagedFile:
        """Stage bytes the server made itself (a format conversion of a checked upload)."""

    def publish(self, staged: StagedFile, expected_generation: str | None, metadata: dict[str, str]) -> DataVersion:
        """Make ``staged`` the live version if ``expected_generation`` still is (else VersionConflict)."""

    def delete(self, upload_id: str) -> None:
        """Forget a staged upload (nothing happens if it is gone already)."""

    def delete_stale(self, max_age_seconds: float = STALE_SECONDS) -> int:
        """Delete abandoned staged uploads older than ``max_age_seconds``; how many were deleted."""

    def cors_problem(self, origin: str) -> str | None:
        """Why a browser on ``origin`` cannot send chunks to storage, or ``None`` when it can (or is unknown)."""


def new_upload_id() -> str:
    """A random, unguessable staged-upload id (hex)."""
    return secrets.token_hex(_UPLOAD_ID_BYTES)


def is_upload_id(value: object) -> bool:
    """True for ids :func:`new_upload_id` makes: never a path, never the live object's name."""
    return isinstance(value, str) and len(value) == 2 * _UPLOAD_ID_BYTES and all(c in "0123456789abcdef" for c in value)


@dataclass
class StagedCheck:
    """What checking a staged upload found, and the bytes' digest (for the audit metadata; empty if refused)."""

    report: ValidationReport
    sha256: str


def check_staged(staging: Staging, staged: StagedFile, filename: str, schema: Schema, max_bytes: int) -> StagedCheck:
    """Run the upload checks on exactly ``staged``, from a file on this machine."""
    with staging.local_copy(staged) as path:
        report = validate_file(path, filename, schema, max_bytes)
        if not report.ok:  # nothing to publish, so no digest for its audit metadata
            return StagedCheck(report, "")
        with open(path, "rb") as handle:
            sha256 = hashlib.file_digest(handle, "sha256").hexdigest()
    return StagedCheck(report, sha256)


def cors_problem(rules: list[dict[str, Any]], origin: str) -> str | None:
    """Why the bucket CORS ``rules`` keep a page on ``origin`` from PUTting chunks, or ``None``."""
    for rule in rules:
        origins = rule.get("origin") or []
        methods = [str(method).upper() for method in rule.get("method") or []]
        if (origin in origins or "*" in origins) and "PUT" in methods:
            headers = {str(header).lower() for header in rule.get("responseHeader") or []}
            missing = [name for name in ("Content-Range", "Content-Type", "Range") if name.lower() not in headers]
            if missing:
                return f"the bucket's CORS rule for {origin} lacks the headers {', '.join(missing)}"
            return None
    return f"the bucket's CORS settings do not allow uploads (PUT) from {origin}"


def iter_chunks(handle: Any, length: int, piece: int = 2**20) -> Iterator[bytes]:
    """Up to ``length`` bytes from a stream, in pieces (a request body is never read whole)."""
    remaining = length
    while remaining > 0:
        data = handle.read(min(piece, remaining))
        if not data:
            return
        remaining -= len(data)
        yield data
