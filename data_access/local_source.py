"""A file on disk as the data source (laptops, demos, tests).

The generation is ``<mtime_ns>-<size>`` (one ``stat``). Publishing renames a temporary file over the data file
under a lock; every version is kept in ``<file>.history/``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from data_access.sources import DataVersion, GenerationNotFound, StorageError, VersionConflict
from data_access.staging import STAGING_SUFFIX, STALE_SECONDS, StagedFile, UploadRefused, new_upload_id

_GENERATION = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")


class LocalFileSource:
    """One file, plus its history folder."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).resolve()
        self.location = f"file://{self.path}"
        self.name = self.path.name
        self.history_dir = self.path.with_name(f"{self.path.name}.history")

    def current_version(self) -> DataVersion | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StorageError(f"cannot read the data file: {error.strerror}") from error
        generation = _generation(stat)
        return _version(generation, stat, self._metadata(generation))

    def read(self, generation: str) -> bytes:
        if not _GENERATION.fullmatch(generation):
            # Generations name files in the history folder: never let one be a path.
            raise GenerationNotFound(f"{generation!r} is not a generation of the data file")
        try:
            with open(self.path, "rb") as handle:
                # fstat on the open handle: the version of the bytes actually read.
                if _generation(os.fstat(handle.fileno())) == generation:
                    return self._kept_on_read(generation, handle.read())
        except FileNotFoundError:
            pass
        except OSError as error:
            raise StorageError(f"cannot read the data file: {error.strerror}") from error
        kept = self.history_dir / f"{generation}.data"
        if kept.is_file():
            return kept.read_bytes()
        raise GenerationNotFound(f"version {generation} of the data file is not kept")

    def history(self, limit: int) -> list[DataVersion]:
        """Kept versions newest first, and the live file even when edited on disk (as a bucket lists it)."""
        versions = {}
        for metadata_path in self.history_dir.glob("*.json") if self.history_dir.is_dir() else []:
            generation = metadata_path.stem
            data_path = self.history_dir / f"{generation}.data"
            if data_path.is_file():
                versions[generation] = _version(generation, data_path.stat(), self._metadata(generation))
        live = self.current_version()
        if live is not None:
            versions.setdefault(live.generation, live)
        newest_first = sorted(versions.values(), key=lambda version: _mtime_ns(version.generation), reverse=True)
        return newest_first[:limit]

    def _kept_on_read(self, generation: str, content: bytes) -> bytes:
        """``content`` of the live file, copied into the history first: an edit on disk must not lose it."""
        data_path = self.history_dir / f"{generation}.data"
        temporary = data_path.with_name(f".{data_path.name}.{secrets.token_hex(6)}.tmp")
        try:
            if not data_path.exists():
                self.history_dir.mkdir(exist_ok=True)
                _write_synced(temporary, content)
                os.utime(temporary, ns=(_mtime_ns(generation), _mtime_ns(generation)))
                os.replace(temporary, data_path)
                (self.history_dir / f"{generation}.json").write_text(json.dumps({"action": "edited on disk"}))
        except OSError:  # a read-only folder: the data is still shown, only not kept
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
        return content

    def _metadata(self, generation: str) -> dict[str, str]:
        try:
            return json.loads((self.history_dir / f"{generation}.json").read_text())
        except (OSError, ValueError):
            return {}

    def write(self, content: bytes, expected_generation: str | None, metadata: dict[str, str]) -> DataVersion:
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}.tmp")
        try:
            _write_synced(temporary, content)
            return self.replace_with(temporary, expected_generation, metadata)
        finally:
            temporary.unlink(missing_ok=True)

    def replace_with(self, new_file: Path, expected_generation: str | None, metadata: dict[str, str]) -> DataVersion:
        """Move ``new_file`` (same disk) over the data file if ``expected_generation`` is live, else VersionConflict."""
        self.history_dir.mkdir(exist_ok=True)
        with self._lock():
            current = self.current_version()
            if (current.generation if current else None) != expected_generation:
                raise VersionConflict(current)
            if current is not None:
                self._keep(current.generation, self.path, current.metadata or {"action": "edited on disk"})
            stat = self._distinct_stat(new_file, current)
            generation = _generation(stat)
            self._keep(generation, new_file, metadata)
            os.replace(new_file, self.path)  # atomic: readers see the old or the new file, never half
        return _version(generation, stat, metadata)

    def _keep(self, generation: str, data_file: Path, metadata: dict[str, str]) -> None:
        data_path = self.history_dir / f"{generation}.data"
        if not data_path.exists():
            # A copy, not a link: an editor may later change the data file in place.
            temporary = data_path.with_name(f".{data_path.name}.tmp")
            shutil.copyfile(data_file, temporary)
            os.replace(temporary, data_path)
            os.utime(data_path, ns=(_mtime_ns(generation), _mtime_ns(generation)))
        (self.history_dir / f"{generation}.json").write_text(json.dumps(metadata, indent=1, sort_keys=True))

    @staticmethod
    def _distinct_stat(path: Path, current: DataVersion | None) -> os.stat_result:
        """The new file's stat, nudging its mtime if it would repeat the live generation."""
        stat = path.stat()
        if current is not None and _generation(stat) == current.generation:
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))
            stat = path.stat()
        return stat

    @contextmanager
    def _lock(self) -> Iterator[None]:
        """An exclusive lock across processes (gunicorn workers) for check-then-replace; closing releases it."""
        with open(self.history_dir / ".lock", "w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            yield


def _generation(stat: os.stat_result) -> str:
    return f"{stat.st_mtime_ns}-{stat.st_size}"


def _mtime_ns(generation: str) -> int:
    return int(generation.split("-", 1)[0])


def _version(generation: str, stat: os.stat_result, metadata: dict[str, str]) -> DataVersion:
    updated = datetime.fromtimestamp(_mtime_ns(generation) / 1e9, tz=UTC)
    return DataVersion(generation=generation, updated=updated.isoformat(), size=stat.st_size, metadata=metadata)


def _write_synced(path: Path, content: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


class LocalStaging:
    """Staged uploads in ``<data file>.staging/``: ``<id>.part`` grows by chunks, then is ``<id>.upload`` for good."""

    def __init__(self, source: LocalFileSource) -> None:
        self.source = source
        self.directory = source.path.with_name(f"{source.path.name}{STAGING_SUFFIX}")

    def _part(self, upload_id: str) -> Path:
        return self.directory / f"{upload_id}.part"

    def _complete(self, upload_id: str) -> Path:
        return self.directory / f"{upload_id}.upload"

    def start(self, upload_id: str, size: int, origin: str, user: str) -> str | None:
        self.directory.mkdir(exist_ok=True)
        self._part(upload_id).touch(exist_ok=False)
        return None  # the browser sends chunks to the app (see admin/upload.py)

    def offset(self, upload_id: str, total: int) -> int:
        """How many bytes of the upload are stored (``total`` once complete)."""
        if self._complete(upload_id).exists():
            return total
        try:
            return self._part(upload_id).stat().st_size
        except FileNotFoundError:
            raise UploadRefused("This upload was cancelled or has expired. Choose the file again.") from None

    def receive(self, upload_id: str, start: int, total: int, chunk: Iterator[bytes]) -> int:
        """Write a chunk at ``start`` (≤ the stored offset: a resent chunk overwrites); the new offset."""
        part = self._part(upload_id)
        try:
            handle = open(part, "r+b")  # noqa: SIM115 - closed below, after the lock
        except FileNotFoundError:
            if self._complete(upload_id).exists():
                return total
            raise UploadRefused("This upload was cancelled or has expired. Choose the file again.") from None
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # a retried chunk may race the original
            stored = os.fstat(handle.fileno()).st_size
            if start > stored:
                raise UploadRefused(f"Chunk at byte {start} arrived before byte {stored}.")
            handle.seek(start)
            for data in chunk:
                if handle.tell() + len(data) > total:
                    raise UploadRefused("The upload is larger than the size it declared.")
                handle.write(data)
            offset = max(stored, handle.tell())
            handle.flush()
            if offset == total:
                os.fsync(handle.fileno())
                os.replace(part, self._complete(upload_id))
        return offset

    def find(self, upload_id: str) -> StagedFile | None:
        try:
            stat = self._complete(upload_id).stat()
        except FileNotFoundError:
            return None
        return StagedFile(upload_id, _generation(stat), stat.st_size)

    @contextmanager
    def local_copy(self, staged: StagedFile) -> Iterator[Path]:
        self._check_unchanged(staged)
        yield self._complete(staged.upload_id)  # already on this disk, and never written again

    def stage_bytes(self, content: bytes) -> StagedFile:
        upload_id = new_upload_id()
        self.directory.mkdir(exist_ok=True)
        _write_synced(self._complete(upload_id), content)
        return self.find(upload_id)  # type: ignore[return-value]

    def publish(self, staged: StagedFile, expected_generation: str | None, metadata: dict[str, str]) -> DataVersion:
        self._check_unchanged(staged)
        return self.source.replace_with(self._complete(staged.upload_id), expected_generation, metadata)

    def _check_unchanged(self, staged: StagedFile) -> None:
        current = self.find(staged.upload_id)
        if current is None or current.generation != staged.generation:
            raise GenerationNotFound("the staged upload no longer exists")

    def delete(self, upload_id: str) -> None:
        self._part(upload_id).unlink(missing_ok=True)
        self._complete(upload_id).unlink(missing_ok=True)

    def delete_stale(self, max_age_seconds: float = STALE_SECONDS) -> int:
        cutoff = time.time() - max_age_seconds
        stale = [path for path in self.directory.glob("*") if path.stat().st_mtime < cutoff]
        for path in stale:
            path.unlink(missing_ok=True)
        return len(stale)

    def cors_problem(self, origin: str) -> str | None:
        return None  # chunks go to the app itself
