"""Publishing a checked upload, restoring an old version, and reading the history.

Every write names the generation the admin reviewed; if someone published in
between, storage refuses the write (:class:`VersionConflict`) and nothing is
lost. Each version carries audit metadata: who, when, original file name,
sha256, rows, what action, which generation it replaced, a version number
(1 + the replaced version's) and the admin's optional description.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from data_access.live_data import LiveData
from data_access.parsing import format_for, load_table
from data_access.sources import DataVersion, VersionConflict
from data_access.staging import StagedFile, Staging

MAX_FILENAME_LENGTH = 200
MAX_DESCRIPTION_LENGTH = 500


@dataclass(frozen=True)
class Publication:
    """What to publish: the bytes exactly as they will be stored, and how many rows they hold."""

    content: bytes
    rows: int
    original_filename: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def prepare_publication(raw_frame: pd.DataFrame, upload: bytes, filename: str, blob_name: str) -> Publication:
    """The bytes to store under ``blob_name``: the upload as-is when formats match, else converted.

    The stored format always follows the configured object name, so readers parse it right.
    """
    same_format = format_for(filename) == format_for(blob_name)
    content = upload if same_format else convert_table(raw_frame, blob_name)
    return Publication(content, len(raw_frame), clean_filename(filename))


def convert_table(raw_frame: pd.DataFrame, blob_name: str) -> bytes:
    """``raw_frame`` (a checked upload, as typed) in the format ``blob_name`` calls for."""
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
        metadata = self._metadata(user, "publish", audit, expected_generation)
        return self._done(self.live_data.source.write(publication.content, expected_generation, metadata))

    def publish_staged(
        self, staging: Staging, staged: StagedFile, audit: Audit, user: str, expected_generation: str | None
    ) -> DataVersion:
        """Copy the checked generation of a staged upload onto the live data, then delete the staged file."""
        metadata = self._metadata(user, "publish", audit, expected_generation)
        version = self._done(staging.publish(staged, expected_generation, metadata))
        staging.delete(staged.upload_id)
        return version

    def restore(self, generation: str, user: str, expected_generation: str | None) -> DataVersion:
        """Republish an old ``generation`` as the new live version, with fresh audit metadata."""
        content = self.live_data.source.read(generation)
        rows = len(load_table(content, self.live_data.source.name))
        old = next((version for version in self.history(100) if version.generation == generation), None)
        filename = old.metadata.get("original_filename", "") if old else ""
        publication = Publication(content, rows, filename or self.live_data.source.name)
        audit = Audit(publication.original_filename, publication.sha256, rows)
        metadata = self._metadata(user, "restore", audit, expected_generation, restored_from=generation)
        return self._done(self.live_data.source.write(content, expected_generation, metadata))

    def history(self, limit: int = 25) -> list[DataVersion]:
        return self.live_data.source.history(limit)

    def _metadata(
        self, user: str, action: str, audit: Audit, expected_generation: str | None, restored_from: str = ""
    ) -> dict[str, str]:
        metadata = {
            "uploaded_by": user,
            "uploaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "original_filename": clean_filename(audit.original_filename),
            "sha256": audit.sha256,
            "rows": str(audit.rows),
            "action": action,
            "previous_generation": expected_generation or "",
            "version": str(self._next_version_number(expected_generation)),
        }
        description = clean_description(audit.description)
        if description:
            metadata["description"] = description
        if restored_from:
            metadata["restored_from"] = restored_from
        return metadata

    def _next_version_number(self, expected_generation: str | None) -> int:
        """1 + the live version's number (1 when nothing is live or it was written outside the app).

        A live version other than the expected one means a conflict: reported now, before any copy.
        """
        live = self.live_version()
        if (live.generation if live else None) != expected_generation:
            raise VersionConflict(live)
        number = live.metadata.get("version", "") if live else ""
        return int(number) + 1 if number.isdigit() else 1

    def _done(self, version: DataVersion) -> DataVersion:
        # This cache learns at once; other caches within VERSION_CACHE_SECONDS.
        self.live_data.invalidate_version()
        return version


@dataclass(frozen=True)
class Audit:
    """What the audit metadata says about the published bytes (the rest is who, when and what it replaced)."""

    original_filename: str
    sha256: str
    rows: int
    description: str = ""


def clean_description(description: str | None) -> str:
    """The admin's description as stored: printable characters, at most 500 of them."""
    text = "".join(character for character in (description or "") if character.isprintable())
    return text.strip()[:MAX_DESCRIPTION_LENGTH]


def diff_summary(old: pd.DataFrame | None, new: pd.DataFrame) -> dict[str, object]:
    """Rows added / removed / unchanged between two tables (rows compared as whole records)."""
    if old is None:
        return {
            "added": len(new),
            "removed": 0,
            "unchanged": 0,
            "columns_added": list(map(str, new.columns)),
            "columns_removed": [],
        }
    old_columns = [str(column) for column in old.columns]
    new_columns = [str(column) for column in new.columns]
    shared = [column for column in new_columns if column in old_columns]
    old_rows = _row_counts(old, shared)
    new_rows = _row_counts(new, shared)
    unchanged = int(pd.concat([old_rows, new_rows], axis=1, join="inner").min(axis=1).sum())
    return {
        "added": len(new) - unchanged,
        "removed": len(old) - unchanged,
        "unchanged": unchanged,
        "columns_added": [column for column in new_columns if column not in old_columns],
        "columns_removed": [column for column in old_columns if column not in new_columns],
    }


def _row_counts(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """How often each distinct row (over ``columns``) occurs, keyed by a row hash."""
    if not columns:
        return pd.Series(dtype="int64")
    # Compare as text so 1 and 1.0 from two parses of the same file agree.
    hashes = pd.util.hash_pandas_object(frame[columns].astype(str), index=False)
    return hashes.value_counts()
