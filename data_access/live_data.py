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
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeVar

import pandas as pd

from data_access.parsing import ParseError, format_for, load_table
from data_access.roles import ColumnRoles, detect_roles, parse_time_columns
from data_access.sources import DataSource, DataVersion, GenerationNotFound, LocationMissing, StorageError
from data_access.validation import Schema, validate_upload

log = logging.getLogger(__name__)
T = TypeVar("T")

FRAME_CACHE_SECONDS = 24 * 3600
VERSION_ENTRY_SECONDS = 24 * 3600  # kept long so a stale entry can be served while refreshing
REFRESH_LOCK_SECONDS = 10
LOCAL_FRAMES_KEPT = 2
# Derived values (roles, charts of a few thousand points each) kept per process.
DERIVED_KEPT = 256


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

    def _call(self, operation: str, default: Any, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() < self._down_until:
            return default
        try:
            return getattr(self._cache, operation)(*args, **kwargs)
        except Exception as error:  # redis raises its own error types; any backend may fail
            log.warning(
                "shared cache unavailable for %.0f s, reading storage directly: %s", self.RETRY_AFTER_SECONDS, error
            )
            self._down_until = time.monotonic() + self.RETRY_AFTER_SECONDS
            return default

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def get(self, key: str) -> Any:
        return self._call("get", None, key)

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
        # Data derived from a generation's frame once per process (column roles, aggregated charts).
        self._derived: OrderedDict[tuple[str, Hashable], Any] = OrderedDict()
        self._derived_lock = threading.Lock()

    # -- current version -------------------------------------------------------------

    def check_version(self) -> VersionCheck:
        """The live version, from the cache when it is younger than ``version_cache_seconds``."""
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
            except StorageError as error:
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

    def roles(self, generation: str) -> ColumnRoles:
        """The column roles of ``generation``'s frame: computed once per process, never per request.

        Raises :class:`DataUnavailable` like :meth:`frame`.
        """
        return self.derived(generation, "roles", lambda: detect_roles(self.frame(generation)))

    def derived(self, generation: str, name: Hashable, compute: Callable[[], T]) -> T:
        """``compute()``'s result for this generation and ``name``, kept per process (generations are immutable).

        For data derived from a frame that many requests share: roles, a view's aggregated chart.
        Two threads may both compute a missing value once; the last few hundred are kept.
        """
        key = (f"{self._prefix}:{generation}", name)
        with self._derived_lock:
            if key in self._derived:
                self._derived.move_to_end(key)
                return self._derived[key]
        value = compute()
        with self._derived_lock:
            self._derived[key] = value
            while len(self._derived) > DERIVED_KEPT:
                self._derived.popitem(last=False)
        return value

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
        try:
            content = self.source.read(generation)
        except GenerationNotFound as error:
            raise DataUnavailable(f"version {generation} is no longer available", permanent=True) from error
        except StorageError as error:
            # Not cached: an outage is temporary, the next poll retries.
            raise DataUnavailable(str(error)) from error
        # A broken generation stays broken: the verdict is cached, not re-downloaded per session.
        entry = self._parse(content, generation)
        self.cache.set(key, entry, timeout=FRAME_CACHE_SECONDS)
        return entry

    def _parse(self, content: bytes, generation: str) -> dict[str, Any]:
        if self._stored_schema is None:
            try:
                frame = load_table(content, self.source.name)
            except ParseError as error:
                return {"error": f"version {generation} cannot be read: {error}"}
            # Date-like text (2018-01-01) becomes datetimes once per generation, not per chart.
            return {"frame": parse_time_columns(frame)}
        stored_as = f"stored.{format_for(self.source.name)}"
        report = validate_upload(content, stored_as, self._stored_schema, max_bytes=len(content))
        if not report.ok:
            return {"error": f"version {generation} was not accepted: {report.problems[0]}"}
        return {"frame": parse_time_columns(report.frame)}

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


def _check_from_entry(entry: dict[str, Any]) -> VersionCheck:
    version = DataVersion.from_dict(entry["version"]) if entry["version"] else None
    return VersionCheck(
        version=version, checked_at=entry["checked_at"], error=entry["error"], permanent=entry.get("permanent", False)
    )
