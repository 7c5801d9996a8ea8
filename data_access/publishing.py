"""Publishing a checked upload, restoring an old version, and reading the history.

Every write names the generation the admin reviewed (a concurrent publish is refused) and carries audit metadata.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from data_access.changes import row_hashes
from data_access.live_data import LiveData
from data_access.parsing import format_for, load_table
from data_access.sources import DataVersion, StorageError, VersionConflict
from data_access.staging import StagedFile, Staging
from data_access.validation import validate_upload
from settings import MAX_DESCRIPTION_CHARS

log = logging.getLogger(__name__)

MAX_FILENAME_LENGTH = 200


@dataclass(frozen=True)
class Publication:
    """What to publish: the bytes exactly as they will be stored, and how many rows they hold."""

    content: bytes
    rows: int
    original_filename: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def convert_table(raw_frame: pd.DataFrame, blob_name: str) -> bytes:
    """``raw_frame`` (a checked upload, as typed) in the format ``blob_name`` calls for, so readers parse it right."""
    if format_for(blob_name) == "parquet":
        buffer = io.BytesIO()
        raw_frame.to_parquet(buffer, index=False)
        return buffer.getvalue()
    return raw_frame.to_csv(index=False).encode()


def clean_filename(filename: str) -> str:
    """The uploaded file's base name, for metadata only: no path, no control characters, bounded."""
    base = re.split(r"[\\/]", filename or "")[-1]
    base = "".join(character for character in base if character.isprintable())
    return base[:MAX_FILENAME_LENGTH] or "unnamed"


class RestoreRefused(ValueError):
    """The old version fails today's upload checks; the message says why. Nothing was written."""


class Publisher:
    """Writes new live versions of one data source, conflict-safe."""

    def __init__(self, live_data: LiveData) -> None:
        self.live_data = live_data

    def live_version(self) -> DataVersion | None:
        """The live version straight from storage (no cache): the base a reviewer compares against."""
        return self.live_data.source.current_version()

    def publish(
        self, publication: Publication, user: str, expected_generation: str | None, description: str = ""
    ) -> DataVersion:
        """Make ``publication`` live if ``expected_generation`` still is; :class:`VersionConflict` if not."""
        audit = Audit(publication.original_filename, publication.sha256, publication.rows, description)
        return self._write(
            Action(user, "publish", expected_generation),
            audit,
            lambda metadata: self.live_data.source.write(publication.content, expected_generation, metadata),
        )

    def publish_staged(
        self, staging: Staging, staged: StagedFile, audit: Audit, user: str, expected_generation: str | None
    ) -> DataVersion:
        """Copy the checked generation of a staged upload onto the live data, then delete the staged file."""
        version = self._write(
            Action(user, "publish", expected_generation),
            audit,
            lambda metadata: staging.publish(staged, expected_generation, metadata),
        )
        staging.delete(staged.upload_id)
        return version

    def restore(self, generation: str, user: str, expected_generation: str | None) -> DataVersion:
        """Republish an old ``generation`` with fresh audit metadata if it passes the upload checks (RestoreRefused)."""
        content = self.live_data.source.read(generation)
        rows = self._check_restorable(content)
        old = next((version for version in self.history(100) if version.generation == generation), None)
        filename = old.metadata.get("original_filename", "") if old else ""
        # Kept with the restore, so the history can say "restored v3" once v3 itself is no longer listed.
        old_number = old.metadata.get("version", "") if old else ""
        publication = Publication(content, rows, filename or self.live_data.source.name)
        audit = Audit(publication.original_filename, publication.sha256, rows)
        return self._write(
            Action(user, "restore", expected_generation, restored_from=generation, restored_version=old_number),
            audit,
            lambda metadata: self.live_data.source.write(content, expected_generation, metadata),
        )

    def _check_restorable(self, content: bytes) -> int:
        """The row count of an old version that passes the upload checks."""
        if self.live_data.schema is None:
            return len(load_table(content, self.live_data.source.name))
        report = validate_upload(content, self.live_data.source.name, self.live_data.schema, len(content))
        if not report.ok:
            raise RestoreRefused(f"it fails today's upload checks: {report.problems[0]}")
        return len(report.table)

    def history(self, limit: int = 25) -> list[DataVersion]:
        return self.live_data.source.history(limit)

    def _metadata(self, action: Action, audit: Audit) -> dict[str, str]:
        metadata = {
            "uploaded_by": action.user,
            "uploaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "original_filename": clean_filename(audit.original_filename),
            "sha256": audit.sha256,
            "rows": str(audit.rows),
            "action": action.name,
            "previous_generation": action.expected_generation or "",
            "version": str(self._next_version_number(action.expected_generation)),
        }
        optional = {
            "description": clean_description(audit.description),
            "restored_from": action.restored_from,
            "restored_version": action.restored_version if action.restored_version.isdigit() else "",
        }
        return metadata | {key: value for key, value in optional.items() if value}

    def _next_version_number(self, expected_generation: str | None) -> int:
        """1 + the live version's number (or 1); VersionConflict now, before any copy, if it is not the expected one."""
        try:
            live = self.live_version()
        except StorageError as error:
            raise StorageError(f"{error}; nothing was sent") from error
        if (live.generation if live else None) != expected_generation:
            raise VersionConflict(live)
        number = live.metadata.get("version", "") if live else ""
        return int(number) + 1 if number.isdigit() else 1

    def _write(self, action: Action, audit: Audit, send: Callable[[dict[str, str]], DataVersion]) -> DataVersion:
        """Build the audit metadata, ``send`` it with the bytes, and log the outcome once (for operators)."""
        fields = {
            "user": action.user,
            "action": action.name,
            "rows": audit.rows,
            "sha256": audit.sha256,
            "previous_generation": action.expected_generation,
            "restored_from": action.restored_from or None,
        }
        try:
            version = send(self._metadata(action, audit))
        except VersionConflict as conflict:
            live = conflict.current.generation if conflict.current else None
            log.warning("%s refused: live data changed", action.name, extra={**fields, "live_generation": live})
            raise
        log.info(
            "%s: generation %s is live",
            action.name,
            version.generation,
            extra={**fields, "generation": version.generation},
        )
        self.live_data.note_written()  # open charts learn at once, not at the next periodic check
        return version


@dataclass(frozen=True)
class Action:
    """Who writes a new version, how, and over which live generation."""

    user: str
    name: str  # "publish" or "restore"
    expected_generation: str | None
    restored_from: str = ""
    restored_version: str = ""  # the restored version's number, when it had one


@dataclass(frozen=True)
class Audit:
    """What the audit metadata says about the published bytes (the rest is who, when and what it replaced)."""

    original_filename: str
    sha256: str
    rows: int
    description: str = ""


def clean_description(description: str | None) -> str:
    """The admin's description as stored: printable characters, at most ``MAX_DESCRIPTION_CHARS`` of them."""
    text = "".join(character for character in (description or "") if character.isprintable())
    return text.strip()[:MAX_DESCRIPTION_CHARS]


def diff_summary(old: pd.DataFrame | None, new: pd.DataFrame) -> dict[str, object]:
    """Rows added / removed / unchanged between two tables (rows compared as whole records)."""
    if old is None:
        old = new.iloc[:0, :0]  # nothing before: every row and column is added
    old_columns = [str(column) for column in old.columns]
    new_columns = [str(column) for column in new.columns]
    shared = [column for column in new_columns if column in old_columns]
    unchanged = _unchanged_rows(row_hashes(old, new, shared), row_hashes(new, old, shared)) if shared else 0
    return {
        "added": len(new) - unchanged,
        "removed": len(old) - unchanged,
        "unchanged": unchanged,
        "columns_added": [column for column in new_columns if column not in old_columns],
        "columns_removed": [column for column in old_columns if column not in new_columns],
    }


def _unchanged_rows(old_hashes: np.ndarray, new_hashes: np.ndarray) -> int:
    """Rows found on both sides, a repeated row counting as often as it appears on both."""
    old_values, old_counts = np.unique(old_hashes, return_counts=True)
    new_values, new_counts = np.unique(new_hashes, return_counts=True)
    _common, old_at, new_at = np.intersect1d(old_values, new_values, assume_unique=True, return_indices=True)
    return int(np.minimum(old_counts[old_at], new_counts[new_at]).sum())
