"""A Cloud Storage object as the data source, through one reused client.

Messages raised may reach visitors: they never name the bucket or object (the logs do). Every call has a
deadline (``STORAGE_DEADLINE_SECONDS``), and an unanswered write is confirmed or fenced (:meth:`GCSSource._confirm`).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from google.api_core import exceptions as api_errors
from google.auth import exceptions as auth_errors
from google.cloud.storage.retry import DEFAULT_RETRY

from data_access.parsing import format_for
from data_access.sources import DataVersion, GenerationNotFound, LocationMissing, StorageError, VersionConflict
from data_access.staging import STAGING_SUFFIX, STALE_SECONDS, StagedFile, cors_problem, new_upload_id

log = logging.getLogger(__name__)

# requests' errors derive from OSError (connection refused, DNS, TLS).
_STORAGE_ERRORS = (api_errors.GoogleAPIError, auth_errors.GoogleAuthError, OSError)
_CONTENT_TYPES = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
CONNECT_TIMEOUT_SECONDS = 3
# A poll must fail fast and report, not hang in retries: a metadata GET takes milliseconds.
METADATA_TIMEOUT_SECONDS = 4
# Between two reads of a response body, not for the whole transfer.
TRANSFER_READ_TIMEOUT_SECONDS = 10
# Staged uploads (admin only) may be a gigabyte: their reads get a longer budget than the live object's.
_METADATA_RETRY = DEFAULT_RETRY.with_timeout(2)
_DOWNLOAD_RETRY = DEFAULT_RETRY.with_timeout(30)


class _BodyPieces:
    """A write-only stream that keeps the pieces written to it: download_as_bytes would copy them into a BytesIO."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []

    def write(self, piece: bytes) -> int:
        self._pieces.append(piece)
        return len(piece)

    def value(self) -> bytes:
        """Everything written; no copy when it came in one piece (a download without retries)."""
        return self._pieces[0] if len(self._pieces) == 1 else b"".join(self._pieces)


class Deadline:
    """An overall time budget shared by the calls of one storage operation (retries included)."""

    def __init__(self, seconds: float) -> None:
        self._ends_at = time.monotonic() + seconds

    def call_options(self, read_timeout: float) -> dict[str, Any]:
        """``timeout=`` and ``retry=`` for one google-cloud-storage call that must end within the budget."""
        remaining = self._ends_at - time.monotonic()
        if remaining <= 0.05:
            raise StorageError("storage did not answer in time")
        read = min(read_timeout, remaining)
        return {
            "timeout": (min(CONNECT_TIMEOUT_SECONDS, remaining), read),
            # Retries stop once the budget minus one more attempt is spent.
            "retry": DEFAULT_RETRY.with_timeout(max(0.0, remaining - read)),
        }


class GCSSource:
    """One object in a Cloud Storage bucket."""

    def __init__(self, bucket: str, blob_name: str, client: Any, deadline_seconds: float = 20.0) -> None:
        self.bucket_name = bucket
        self.deadline_seconds = deadline_seconds
        self.blob_name = blob_name
        self.location = f"gs://{bucket}/{blob_name}"
        self.name = Path(blob_name).name
        self._bucket = client.bucket(bucket)

    def current_version(self) -> DataVersion | None:
        try:
            blob = self._bucket.get_blob(self.blob_name, **self._metadata_options())
        except _STORAGE_ERRORS as error:
            raise StorageError(f"cannot read metadata of the data ({_describe(error)})") from error
        if blob is None:
            self._check_bucket_exists()
            return None
        return _version_of(blob)

    def _check_bucket_exists(self) -> None:
        """Tell "nothing published yet" apart from a misspelt bucket (asked only while the object is missing)."""
        try:
            exists = self._bucket.exists(**self._metadata_options())
        except api_errors.Forbidden:
            return  # object-only permissions cannot see the bucket itself: assume it is there
        except _STORAGE_ERRORS as error:
            raise StorageError(f"cannot read metadata of the data ({_describe(error)})") from error
        if not exists:
            raise LocationMissing("the configured bucket does not exist (check GCS_BUCKET)")

    def _metadata_options(self) -> dict[str, Any]:
        return Deadline(min(self.deadline_seconds, 2 * METADATA_TIMEOUT_SECONDS)).call_options(METADATA_TIMEOUT_SECONDS)

    def read(self, generation: str) -> bytes:
        if not generation.isdigit():
            raise GenerationNotFound(f"{generation!r} is not a generation of the data")
        blob = self._bucket.blob(self.blob_name, generation=int(generation))
        body = _BodyPieces()
        try:
            # One read of the whole body, still checksummed: the default streams it in 8 KiB
            # pieces, a large share of a take-up's time (docs/benchmarks/workers.md).
            blob.download_to_file(
                body,
                single_shot_download=True,
                **Deadline(self.deadline_seconds).call_options(TRANSFER_READ_TIMEOUT_SECONDS),
            )
            return body.value()
        except api_errors.NotFound as error:
            raise GenerationNotFound(f"version {generation} no longer exists") from error
        except _STORAGE_ERRORS as error:
            log.warning("download of %s#%s failed: %s", self.location, generation, error)
            raise StorageError(f"cannot download version {generation} ({_describe(error)})") from error

    def write(self, content: bytes, expected_generation: str | None, metadata: dict[str, str]) -> DataVersion:
        """Upload ``content`` as the live version if ``expected_generation`` still is (``None``: nothing is)."""

        def upload(live: Any, deadline: Deadline, condition: int) -> None:
            live.upload_from_string(
                content,
                content_type=live.content_type,
                if_generation_match=condition,
                timeout=deadline.call_options(TRANSFER_READ_TIMEOUT_SECONDS)["timeout"],
                retry=None,
            )

        return self._replace_live(expected_generation, metadata, upload)

    def copy_from(
        self, object_name: str, generation: str, expected_generation: str | None, metadata: dict[str, str]
    ) -> DataVersion:
        """Copy ``object_name`` at ``generation`` (pinned: what was checked goes live) onto the live object."""
        source = self._bucket.blob(object_name, generation=int(generation))

        def copy(live: Any, deadline: Deadline, condition: int) -> None:
            token = None
            try:
                while True:  # large objects may take several rewrite calls
                    token, _copied, _total = live.rewrite(
                        source,
                        token=token,
                        if_generation_match=condition,
                        timeout=deadline.call_options(TRANSFER_READ_TIMEOUT_SECONDS)["timeout"],
                        retry=None,
                    )
                    if token is None:
                        return
            except api_errors.NotFound as error:
                raise GenerationNotFound(
                    f"gs://{self.bucket_name}/{object_name}#{generation} no longer exists"
                ) from error

        return self._replace_live(expected_generation, metadata, copy)

    def _replace_live(
        self, expected_generation: str | None, metadata: dict[str, str], send: Callable[[Any, Deadline, int], None]
    ) -> DataVersion:
        """``send`` the new live object once, only if ``expected_generation`` is live (else VersionConflict).

        Never retried (a retry could land after a failure was reported); an unanswered send is found live or
        fenced (:meth:`_confirm`). The Publisher checks the live version first: an unreachable storage gets nothing.
        """
        deadline = Deadline(self.deadline_seconds)
        live = self._bucket.blob(self.blob_name)
        live.metadata = metadata
        live.content_type = _CONTENT_TYPES[format_for(self.blob_name)]
        try:
            # 0 means "only if the object does not exist yet".
            send(live, deadline, int(expected_generation) if expected_generation else 0)
        except api_errors.PreconditionFailed:
            raise VersionConflict(self.current_version()) from None
        except _STORAGE_ERRORS as error:
            log.warning("write to %s got no answer: %s", self.location, error)
            return self._confirm(metadata, expected_generation, error)
        return _version_of(live)

    def _confirm(self, metadata: dict[str, str], expected_generation: str | None, cause: BaseException) -> DataVersion:
        """After an unanswered write: ours if live, else re-write ``expected_generation`` so the write never lands."""
        deadline = Deadline(self.deadline_seconds)
        unconfirmed = (
            f"storage did not confirm the write to {self.location} ({_describe(cause)}) and cannot be reached to "
            "cancel it: check the live version before publishing again"
        )
        try:
            live = self._bucket.get_blob(self.blob_name, **deadline.call_options(METADATA_TIMEOUT_SECONDS))
            if live is not None and dict(live.metadata or {}) == metadata:
                return _version_of(live)  # it landed; only the answer was lost
            if live is None and expected_generation is None:
                raise StorageError(unconfirmed)  # create-only: nothing to re-write without publishing something
            if live is None or str(live.generation) != expected_generation:
                # Someone else's version is live (or none): the upload's condition fails already.
                raise VersionConflict(_version_of(live) if live is not None else None)
            self._rewrite_as_is(live, deadline)
        except api_errors.PreconditionFailed:
            landed = self.current_version()  # something replaced it first: our upload, or someone's
            if landed is not None and landed.metadata == metadata:
                return landed
            raise VersionConflict(landed) from None
        except (*_STORAGE_ERRORS, StorageError) as error:
            raise StorageError(unconfirmed) from error
        raise StorageError(f"cannot write {self.location} ({_describe(cause)}); nothing was published")

    def _rewrite_as_is(self, live: Any, deadline: Deadline) -> None:
        """Write ``live``'s bytes and metadata again, only if it is still the live generation."""
        content = self._bucket.blob(self.blob_name, generation=live.generation).download_as_bytes(
            **deadline.call_options(TRANSFER_READ_TIMEOUT_SECONDS)
        )
        fence = self._bucket.blob(self.blob_name)
        fence.metadata = dict(live.metadata or {})
        fence.upload_from_string(
            content,
            content_type=live.content_type,
            if_generation_match=live.generation,
            timeout=deadline.call_options(TRANSFER_READ_TIMEOUT_SECONDS)["timeout"],
            retry=None,
        )

    def history(self, limit: int) -> list[DataVersion]:
        """Versions newest first: the bucket's listing, completed by following ``previous_generation``.

        Some emulators list only the live generation; the chain of audit metadata finds the rest.
        """
        try:
            listed = self._bucket.list_blobs(
                prefix=self.blob_name, versions=True, **Deadline(self.deadline_seconds).call_options(10)
            )
            versions = {str(blob.generation): _version_of(blob) for blob in listed if blob.name == self.blob_name}
            self._follow_chain(versions, limit)
        except _STORAGE_ERRORS as error:
            raise StorageError(f"cannot list versions of {self.location} ({_describe(error)})") from error
        newest_first = sorted(versions.values(), key=lambda version: int(version.generation), reverse=True)
        return newest_first[:limit]

    def _follow_chain(self, versions: dict[str, DataVersion], limit: int) -> None:
        previous = versions[max(versions, key=int)].metadata.get("previous_generation") if versions else None
        while previous and len(versions) < limit:
            if previous not in versions:
                blob = self._bucket.get_blob(self.blob_name, generation=int(previous), **self._metadata_options())
                if blob is None:
                    return
                versions[previous] = _version_of(blob)
            previous = versions[previous].metadata.get("previous_generation")


def _version_of(blob: Any) -> DataVersion:
    return DataVersion(
        generation=str(blob.generation),
        updated=blob.updated.astimezone(UTC).isoformat() if blob.updated else "",
        size=int(blob.size or 0),
        metadata=dict(blob.metadata or {}),
    )


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


class GCSStaging:
    """Staged uploads as objects ``<GCS_BLOB>.staging/<id>``, written by the browser through resumable sessions.

    A session URL is bound to its one staged name (create-only) and to the page's origin: it writes nothing else.
    """

    def __init__(self, source: GCSSource) -> None:
        self.source = source
        self.prefix = f"{source.blob_name}{STAGING_SUFFIX}/"
        self._bucket = source._bucket

    def _blob(self, upload_id: str, generation: str | None = None) -> Any:
        return self._bucket.blob(self.prefix + upload_id, generation=int(generation) if generation else None)

    def start(self, upload_id: str, size: int, origin: str, user: str) -> str | None:
        blob = self._blob(upload_id)
        blob.metadata = {"staged_by": user}
        try:
            return blob.create_resumable_upload_session(
                content_type="application/octet-stream",
                size=size,
                origin=origin,
                if_generation_match=0,
                timeout=(3, 30),
            )
        except _STORAGE_ERRORS as error:
            raise StorageError(f"cannot start an upload to {self.source.location} ({_describe(error)})") from error

    def find(self, upload_id: str) -> StagedFile | None:
        try:
            blob = self._bucket.get_blob(self.prefix + upload_id, timeout=(3, 10), retry=_METADATA_RETRY)
        except _STORAGE_ERRORS as error:
            raise StorageError(f"cannot read the staged upload ({_describe(error)})") from error
        return StagedFile(upload_id, str(blob.generation), int(blob.size or 0)) if blob else None

    @contextmanager
    def local_copy(self, staged: StagedFile) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="staged-") as folder:
            path = Path(folder) / "staged.upload"
            try:
                self._blob(staged.upload_id, staged.generation).download_to_filename(
                    str(path), timeout=(3, 300), retry=_DOWNLOAD_RETRY
                )
            except api_errors.NotFound as error:
                raise GenerationNotFound("the staged upload no longer exists") from error
            except _STORAGE_ERRORS as error:
                raise StorageError(f"cannot read the staged upload ({_describe(error)})") from error
            yield path

    def stage_bytes(self, content: bytes) -> StagedFile:
        upload_id = new_upload_id()
        blob = self._blob(upload_id)
        try:
            blob.upload_from_string(content, if_generation_match=0, timeout=(3, 300))
        except _STORAGE_ERRORS as error:
            raise StorageError(f"cannot stage the converted file ({_describe(error)})") from error
        return StagedFile(upload_id, str(blob.generation), len(content))

    def publish(self, staged: StagedFile, expected_generation: str | None, metadata: dict[str, str]) -> DataVersion:
        return self.source.copy_from(self.prefix + staged.upload_id, staged.generation, expected_generation, metadata)

    def delete(self, upload_id: str) -> None:
        try:
            self._blob(upload_id).delete(timeout=(3, 30))
        except api_errors.NotFound:
            pass
        except _STORAGE_ERRORS as error:
            # The lifecycle rule and the next cleanup remove it later.
            log.warning("could not delete staged upload %s: %s", upload_id, error)

    def delete_stale(self, max_age_seconds: float = STALE_SECONDS) -> int:
        cutoff = datetime.now(UTC) - timedelta(seconds=max_age_seconds)
        deleted = 0
        try:
            for blob in self._bucket.list_blobs(prefix=self.prefix, timeout=(3, 30)):
                if blob.time_created and blob.time_created < cutoff:
                    self.delete(blob.name[len(self.prefix) :])
                    deleted += 1
        except _STORAGE_ERRORS as error:
            log.warning("could not list staged uploads: %s", error)
        return deleted

    def cors_problem(self, origin: str) -> str | None:
        try:
            self._bucket.reload(timeout=(3, 10), retry=_METADATA_RETRY)
        except api_errors.Forbidden:
            return None  # object-only permissions cannot read the bucket's settings: let the browser find out
        except _STORAGE_ERRORS as error:
            raise StorageError(f"cannot read the bucket's settings ({_describe(error)})") from error
        return cors_problem(list(self._bucket.cors or []), origin)
