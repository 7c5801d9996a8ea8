"""The shared cache in front of a :class:`DataSource`.

Two things are cached in one flask-caching backend (``SimpleCache`` per process,
``FileSystemCache`` per machine, ``RedisCache`` across machines):

* the *current version*, refreshed at most once per ``VERSION_CACHE_SECONDS``
  however many dashboards poll, so N sessions cost one metadata call per period;
  a failed check is cached too, so an outage is not hammered by every session;
* the parsed *frame*, keyed by generation: a generation is immutable, so it is
  downloaded and parsed once per cache, never once per session.

A short lock in the cache itself (``add`` is set-if-absent) keeps concurrent
misses from different threads or workers down to one storage call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from app_logging import StateLog
from data_access.parsing import ParseError, format_for, load_table
from data_access.sources import DataSource, DataVersion, GenerationNotFound, LocationMissing, StorageError
from data_access.validation import Schema, validate_upload

log = logging.getLogger(__name__)

FRAME_CACHE_SECONDS = 24 * 3600
VERSION_ENTRY_SECONDS = 24 * 3600  # kept long so a stale entry can be served while refreshing
REFRESH_LOCK_SECONDS = 10
LOCAL_FRAMES_KEPT = 2


class DataUnavailable(RuntimeError):
    """The data for a generation cannot be produced (storage down, gone, or unparsable).

    ``permanent`` is true when retrying cannot help (the version is unreadable or gone).
    """

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class VersionCheck:
    """The answer to "what is live now?": a version, or the reason we could not tell."""

    version: DataVersion | None
    checked_at: float
    error: str | None = None
    #: True when retrying cannot help (misconfiguration), false for an outage.
    permanent: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


class ResilientCache:
    """The shared cache, degraded to "always a miss" while its backend (e.g. Redis) is down.

    Dashboards then ask storage directly: slower and costlier, but still up, never a 500.
    After a failure the backend is left alone for ``RETRY_AFTER_SECONDS`` so that every
    request does not pay a connection timeout.
    """

    RETRY_AFTER_SECONDS = 5.0

    def __init__(self, cache: Any) -> None:
        self._cache = cache
        self._down_until = 0.0
        self._state = StateLog(log, "shared cache (reading storage directly meanwhile)")

    def _call(self, operation: str, default: Any, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() < self._down_until:
            return default
        try:
            result = getattr(self._cache, operation)(*args, **kwargs)
        except Exception as error:  # redis raises its own error types; any backend may fail
            self._state.failed(error)
            self._down_until = time.monotonic() + self.RETRY_AFTER_SECONDS
            return default
        self._state.recovered()
        return result

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def get(self, key: str) -> Any:
        return self._call("get", None, key)

    def ping(self) -> bool:
        """Whether the backend answers now (one read; skipped while it is known to be down)."""
        self._call("get", None, "ping")
        return self.available

    def set(self, key: str, value: Any, timeout: int | None = None) -> bool:
        return bool(self._call("set", False, key, value, timeout=timeout))

    def add(self, key: str, value: Any, timeout: int | None = None) -> bool:
        return bool(self._call("add", False, key, value, timeout=timeout))

    def delete(self, key: str) -> bool:
        return bool(self._call("delete", False, key))

    def clear(self) -> bool:
        return bool(self._call("clear", False))


class LiveData:
    """Cached access to the current version and to parsed frames of one data source."""

    def __init__(
        self,
        source: DataSource,
        cache: Any,
        version_cache_seconds: float,
        schema: Schema | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.source = source
        self.schema = schema
        # Data written around the app (gsutil, an editor) gets the upload checks too, except
        # that any table may be shown: the chart page lets people pick its columns.
        self._stored_schema = schema.for_stored_data() if schema else None
        self.cache = ResilientCache(cache)
        self.version_cache_seconds = version_cache_seconds
        self._clock = clock
        self._prefix = f"live-data:{source.location}"
        self._version_key = f"{self._prefix}:version"
        self._refresh_lock = threading.Lock()
        self._frame_lock = threading.Lock()
        # Parsed frames of immutable generations, to skip unpickling on every callback.
        self._local_frames: OrderedDict[str, pd.DataFrame] = OrderedDict()
        self._storage_state = StateLog(log, "storage version check", location=source.location)
        self._local_check: VersionCheck | None = None

    # -- current version -------------------------------------------------------------

    def check_version(self) -> VersionCheck:
        """The live version, from the cache when it is younger than ``version_cache_seconds``.

        The last answer this process saw is reused while it is fresh, without asking the
        shared cache: same freshness, but no Redis round trip per poll.
        """
        local = self._local_check
        if local is not None and self._clock() - local.checked_at < self.version_cache_seconds:
            return local
        self._local_check = self._shared_check()
        return self._local_check

    def _shared_check(self) -> VersionCheck:
        entry = self.cache.get(self._version_key)
        if entry is not None and self._is_fresh(entry):
            return _check_from_entry(entry)
        took_lock = self._take_lock("version-refresh")
        if entry is not None and not took_lock:
            # Another thread or worker is asking storage right now: its answer is moments away,
            # and the entry we have is only just past its period.
            return _check_from_entry(entry)
        try:
            return self._refresh_version()
        finally:
            if took_lock:
                self._release_lock("version-refresh")

    def invalidate_version(self) -> None:
        """Forget the cached version (after this process published a new one)."""
        self._local_check = None
        self.cache.delete(self._version_key)

    def _refresh_version(self) -> VersionCheck:
        with self._refresh_lock:
            entry = self.cache.get(self._version_key)
            if entry is not None and self._is_fresh(entry):
                return _check_from_entry(entry)  # a thread of this process refreshed it meanwhile
            checked_at = self._clock()
            try:
                version = self.source.current_version()
                entry = {"checked_at": checked_at, "version": version.to_dict() if version else None, "error": None}
                self._storage_state.recovered()
            except StorageError as error:
                self._storage_state.failed(error)
                permanent = isinstance(error, LocationMissing)
                entry = {"checked_at": checked_at, "version": None, "error": str(error), "permanent": permanent}
            self.cache.set(self._version_key, entry, timeout=VERSION_ENTRY_SECONDS)
            return _check_from_entry(entry)

    def _is_fresh(self, entry: dict[str, Any]) -> bool:
        return self._clock() - entry["checked_at"] < self.version_cache_seconds

    # -- frames ----------------------------------------------------------------------

    def frame(self, generation: str) -> pd.DataFrame:
        """The parsed and transformed table of ``generation``; downloads at most once per cache.

        Raises :class:`DataUnavailable` with a readable reason when it cannot.
        """
        key = f"{self._prefix}:frame:{generation}"
        local = self._local_frames.get(key)
        if local is not None:
            return local
        with self._frame_lock:
            entry = self.cache.get(key)
            if entry is None:
                entry = self._load_frame_entry(key, generation)
            if "error" in entry:
                raise DataUnavailable(entry["error"], permanent=True)
            self._remember(key, entry["frame"])
            return entry["frame"]

    def _load_frame_entry(self, key: str, generation: str) -> dict[str, Any]:
        lock_name = f"frame:{generation}"
        took_lock = self._take_lock(lock_name)
        if not took_lock and self.cache.available:
            # Another worker is downloading this generation: wait for its result.
            waited = self._wait_for(key)
            if waited is not None:
                return waited
        try:
            # The lock is held until the parsed frame is in the cache, so nobody downloads twice.
            return self._download_and_parse(key, generation)
        finally:
            if took_lock:
                self._release_lock(lock_name)

    def _download_and_parse(self, key: str, generation: str) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            content = self.source.read(generation)
        except GenerationNotFound as error:
            raise DataUnavailable(f"version {generation} is no longer available", permanent=True) from error
        except StorageError as error:
            # Not cached: an outage is temporary, the next poll retries.
            raise DataUnavailable(str(error)) from error
        # A broken generation stays broken: the verdict is cached, not re-downloaded per session.
        entry = self._parse(content, generation)
        log.info("generation %s taken up", generation, extra=_load_fields(entry, generation, started))
        self.cache.set(key, entry, timeout=FRAME_CACHE_SECONDS)
        return entry

    def _parse(self, content: bytes, generation: str) -> dict[str, Any]:
        if self._stored_schema is None:
            try:
                return {"frame": load_table(content, self.source.name)}
            except ParseError as error:
                return {"error": f"version {generation} cannot be read: {error}"}
        stored_as = f"stored.{format_for(self.source.name)}"
        report = validate_upload(content, stored_as, self._stored_schema, max_bytes=len(content))
        if not report.ok:
            return {"error": f"version {generation} was not accepted: {report.problems[0]}"}
        return {"frame": report.frame}

    def _wait_for(self, key: str) -> dict[str, Any] | None:
        deadline = self._clock() + REFRESH_LOCK_SECONDS
        while self._clock() < deadline:
            time.sleep(0.05)
            entry = self.cache.get(key)
            if entry is not None:
                return entry
        return None

    def _remember(self, key: str, frame: pd.DataFrame) -> None:
        self._local_frames[key] = frame
        self._local_frames.move_to_end(key)
        while len(self._local_frames) > LOCAL_FRAMES_KEPT:
            self._local_frames.popitem(last=False)

    def _take_lock(self, name: str) -> bool:
        return bool(self.cache.add(f"{self._prefix}:lock:{name}", 1, timeout=REFRESH_LOCK_SECONDS))

    def _release_lock(self, name: str) -> None:
        self.cache.delete(f"{self._prefix}:lock:{name}")


def _load_fields(entry: dict[str, Any], generation: str, started: float) -> dict[str, Any]:
    """Log fields for a generation just downloaded and parsed (its rows, or why it was refused)."""
    frame = entry.get("frame")
    return {
        "generation": generation,
        "rows": None if frame is None else len(frame),
        "load_seconds": round(time.perf_counter() - started, 3),
        "error": entry.get("error"),
    }


def _check_from_entry(entry: dict[str, Any]) -> VersionCheck:
    version = DataVersion.from_dict(entry["version"]) if entry["version"] else None
    return VersionCheck(
        version=version, checked_at=entry["checked_at"], error=entry["error"], permanent=entry.get("permanent", False)
    )
