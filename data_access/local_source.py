"""A file on disk as the data source: for laptops, demos and tests.

The generation is ``<mtime_ns>-<size>``: any editor save or atomic replace
changes it, and checking it costs one ``stat``. Publishing writes a temporary
file and renames it over the data file (atomic), under a lock, after checking
the expected generation is still live. Every published version is kept in a
history folder next to the data file (``data.csv.history/``), with its audit
metadata, so old versions can be read and restored.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from data_access.sources import DataVersion, GenerationNotFound, StorageError, VersionConflict

_GENERATION = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")


class LocalFileSource:
    """One file, plus its history folder."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).resolve()
        self.location = f"file://{self.path}"
        self.name = self.path.name
        self.history_dir = self.path.with_name(f"{self.path.name}.history")

    # -- reading ---------------------------------------------------------------------

    def current_version(self) -> DataVersion | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StorageError(f"cannot read {self.path}: {error.strerror}") from error
        generation = _generation(stat)
        return _version(generation, stat, self._metadata(generation))

    def read(self, generation: str) -> bytes:
        if not _GENERATION.fullmatch(generation):
            # Generations name files in the history folder: never let one be a path.
            raise GenerationNotFound(f"{generation!r} is not a generation of {self.path}")
        try:
            with open(self.path, "rb") as handle:
                # fstat on the open handle: the version of the bytes actually read.
                if _generation(os.fstat(handle.fileno())) == generation:
                    return handle.read()
        except FileNotFoundError:
            pass
        except OSError as error:
            raise StorageError(f"cannot read {self.path}: {error.strerror}") from error
        kept = self.history_dir / f"{generation}.data"
        if kept.is_file():
            return kept.read_bytes()
        raise GenerationNotFound(f"version {generation} of {self.path} is not kept")

    def history(self, limit: int) -> list[DataVersion]:
        versions = []
        for metadata_path in self.history_dir.glob("*.json") if self.history_dir.is_dir() else []:
            generation = metadata_path.stem
            data_path = self.history_dir / f"{generation}.data"
            if data_path.is_file():
                versions.append(_version(generation, data_path.stat(), self._metadata(generation)))
        versions.sort(key=lambda version: _mtime_ns(version.generation), reverse=True)
        return versions[:limit]

    def _metadata(self, generation: str) -> dict[str, str]:
        try:
            return json.loads((self.history_dir / f"{generation}.json").read_text())
        except (OSError, ValueError):
            return {}

    # -- writing ---------------------------------------------------------------------

    def write(self, content: bytes, expected_generation: str | None, metadata: dict[str, str]) -> DataVersion:
        self.history_dir.mkdir(exist_ok=True)
        with self._lock():
            current = self.current_version()
            if (current.generation if current else None) != expected_generation:
                raise VersionConflict(current)
            if current is not None:
                self._keep(current.generation, self.path.read_bytes(), current.metadata or {"action": "edited on disk"})
            temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(6)}.tmp")
            try:
                _write_synced(temporary, content)
                stat = self._distinct_stat(temporary, current)
                generation = _generation(stat)
                self._keep(generation, content, metadata)
                os.replace(temporary, self.path)  # atomic: readers see the old or the new file, never half
            finally:
                temporary.unlink(missing_ok=True)
        return _version(generation, stat, metadata)

    def _keep(self, generation: str, content: bytes, metadata: dict[str, str]) -> None:
        data_path = self.history_dir / f"{generation}.data"
        if not data_path.exists():
            _write_synced(data_path, content)
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
        """An exclusive lock across processes (gunicorn workers) for check-then-replace."""
        with open(self.history_dir / ".lock", "w") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)


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
