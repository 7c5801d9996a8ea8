"""Where the data lives: one small interface, a Cloud Storage and a local-file implementation.

A *version* identifies one immutable state of the data. ``current_version()`` is
cheap (a metadata call or a ``stat``); ``read(generation)`` returns the bytes of
exactly that version, so a reader never mixes two versions.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from google.api_core import exceptions as api_errors
from google.auth import exceptions as auth_errors
from google.cloud.storage.retry import DEFAULT_RETRY

log = logging.getLogger(__name__)

# requests' errors derive from OSError (connection refused, DNS, TLS).
_STORAGE_ERRORS = (api_errors.GoogleAPIError, auth_errors.GoogleAuthError, OSError)
_METADATA_RETRY = DEFAULT_RETRY.with_timeout(2)
_DOWNLOAD_RETRY = DEFAULT_RETRY.with_timeout(30)


class StorageError(RuntimeError):
    """Storage could not be reached or answered with an error."""


class GenerationNotFound(StorageError):
    """The requested version no longer exists (it was replaced or deleted)."""


@dataclass(frozen=True)
class DataVersion:
    """Metadata of one version of the data: cheap to fetch, small to cache and to send."""

    generation: str
    updated: str  # ISO 8601, UTC
    size: int
    metadata: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DataVersion:
        return cls(**values)


class DataSource(Protocol):
    """What the rest of the app needs from a place that holds the data."""

    #: Stable text naming the data's location; used in cache keys.
    location: str
    #: File name of the data, used to pick a parser (``.csv``, ``.parquet``).
    name: str

    def current_version(self) -> DataVersion | None:
        """The live version, or ``None`` when nothing has been published yet."""
        ...

    def read(self, generation: str) -> bytes:
        """The bytes of exactly ``generation``; :class:`GenerationNotFound` if it is gone."""
        ...


class LocalFileSource:
    """A file on disk. Its version changes whenever its content is rewritten.

    The generation is ``<mtime_ns>-<size>``: any editor save or atomic replace
    changes it, and comparing it costs one ``stat``.
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).resolve()
        self.location = f"file://{self.path}"
        self.name = self.path.name

    def current_version(self) -> DataVersion | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StorageError(f"cannot read {self.path}: {error.strerror}") from error
        return _version_from_stat(stat)

    def read(self, generation: str) -> bytes:
        try:
            with open(self.path, "rb") as handle:
                # fstat on the open handle: the version of the bytes we actually read.
                opened_version = _version_from_stat(os.fstat(handle.fileno()))
                content = handle.read()
        except FileNotFoundError as error:
            raise GenerationNotFound(f"{self.path} does not exist") from error
        except OSError as error:
            raise StorageError(f"cannot read {self.path}: {error.strerror}") from error
        if opened_version.generation != generation:
            raise GenerationNotFound(f"{self.path} is now at {opened_version.generation}, not {generation}")
        return content


def _version_from_stat(stat: os.stat_result) -> DataVersion:
    updated = datetime.fromtimestamp(stat.st_mtime_ns / 1e9, tz=UTC)
    return DataVersion(
        generation=f"{stat.st_mtime_ns}-{stat.st_size}",
        updated=updated.isoformat(),
        size=stat.st_size,
    )


class GCSSource:
    """One object in a Cloud Storage bucket, read through one reused client.

    ``current_version()`` is a metadata GET (no data transfer); ``read()``
    downloads the pinned generation, so a concurrent upload cannot be mixed in.
    """

    def __init__(self, bucket: str, blob_name: str, client: Any) -> None:
        self.bucket_name = bucket
        self.blob_name = blob_name
        self.location = f"gs://{bucket}/{blob_name}"
        self.name = Path(blob_name).name
        self._bucket = client.bucket(bucket)

    def current_version(self) -> DataVersion | None:
        try:
            # A short retry budget: a poll must fail fast and report, not hang for minutes.
            blob = self._bucket.get_blob(self.blob_name, timeout=(3, 10), retry=_METADATA_RETRY)
        except _STORAGE_ERRORS as error:
            log.warning("version check of %s failed: %s", self.location, error)
            raise StorageError(f"cannot read metadata of {self.location} ({_describe(error)})") from error
        if blob is None:
            return None
        return DataVersion(
            generation=str(blob.generation),
            updated=blob.updated.astimezone(UTC).isoformat() if blob.updated else "",
            size=int(blob.size or 0),
            metadata=dict(blob.metadata or {}),
        )

    def read(self, generation: str) -> bytes:
        blob = self._bucket.blob(self.blob_name, generation=int(generation))
        try:
            return blob.download_as_bytes(timeout=(3, 120), retry=_DOWNLOAD_RETRY)
        except api_errors.NotFound as error:
            raise GenerationNotFound(f"{self.location}#{generation} no longer exists") from error
        except _STORAGE_ERRORS as error:
            log.warning("download of %s#%s failed: %s", self.location, generation, error)
            raise StorageError(f"cannot download {self.location}#{generation} ({_describe(error)})") from error


def _describe(error: BaseException) -> str:
    """A short, stable reason (same outage, same text), for people and for change detection."""
    if isinstance(error, api_errors.RetryError) and error.cause is not None:
        error = error.cause
    code = getattr(error, "code", None)
    if isinstance(code, int):
        return f"HTTP {code}"
    return type(error).__name__


def make_storage_client(project: str = "", emulator_host: str = "") -> Any:
    """One ``google.cloud.storage.Client``; anonymous credentials against an emulator."""
    from google.cloud import storage

    if emulator_host:
        from google.auth.credentials import AnonymousCredentials

        # An explicit endpoint instead of the process-wide variable: several clients can coexist.
        return storage.Client(
            project=project or "local-emulator",
            credentials=AnonymousCredentials(),
            client_options={"api_endpoint": emulator_host},
        )
    return storage.Client(project=project or None)
