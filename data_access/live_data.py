"""The shared cache in front of a :class:`DataSource`: the current version and parsed frames.

The version is checked at most once per ``VERSION_CACHE_SECONDS`` for the deployment (failures too: an outage is
not hammered); an immutable generation is downloaded and parsed once per cache. Short owned locks keep concurrent
misses to one storage call; while Redis is down a small process-local cache stands in.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

import pandas as pd
from cachelib import SimpleCache
from redis.exceptions import LockError, RedisError

from data_access.frame_store import (
    FrameEntry,
    FramePool,
    LocalFrames,
    SharedFrames,
    frame_bytes,
    release_memory,
    take_up_slot,
)
from data_access.parsing import ParseError, format_for, load_table
from data_access.roles import ColumnRoles, detect_roles, parse_time_columns
from data_access.sources import DataSource, DataVersion, GenerationNotFound, LocationMissing, StorageError
from data_access.state_log import StateLog
from data_access.validation import Schema, validate_upload

log = logging.getLogger(__name__)
T = TypeVar("T")

# Keys carry the data location; a prefix keeps them apart from other apps sharing a Redis.
CACHE_KEY_PREFIX = "live-dashboard:"
VERSION_ENTRY_SECONDS = 24 * 3600  # kept long so a stale entry can be served while refreshing
REFRESH_LOCK_SECONDS = 10
# Which version replaced which ("What changed"): kept for a week of comparisons.
REPLACEMENT_SECONDS = 7 * 24 * 3600
DEFAULT_FRAME_MEMORY_MB = 512
# Shorter than a version check can take at worst (gcs_source: timeouts + retries, ~8 s):
# a hung check does not stop every other worker from trying again.
VERSION_LOCK_SECONDS = 3
# The process-local stand-in while the shared cache is down: a few versions and frames.
LOCAL_FALLBACK_ENTRIES = 16


class DataUnavailable(RuntimeError):
    """The data for a generation cannot be produced; ``permanent``: retrying cannot help (unreadable or gone)."""

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
    """The shared cache, replaced by a small process-local one while its backend (e.g. Redis) is down.

    After a failure the backend is left alone for ``RETRY_AFTER_SECONDS``: requests do not each pay a timeout.
    """

    RETRY_AFTER_SECONDS = 5.0

    def __init__(self, cache: Any, redis: Any = None, key_prefix: str = "") -> None:
        self.backend = cache  # the cachelib cache this one stands in front of
        self.redis = redis  # the redis-py client holding the locks, or None
        self._key_prefix = key_prefix
        self._local = SimpleCache(threshold=LOCAL_FALLBACK_ENTRIES)
        self._down_until = 0.0
        self._state = StateLog(log, "shared cache (reading storage directly meanwhile)")

    def _call(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() < self._down_until:
            return getattr(self._local, operation)(*args, **kwargs)
        try:
            result = getattr(self.backend, operation)(*args, **kwargs)
        except Exception as error:  # redis raises its own error types; any backend may fail
            self._state.failed(error)
            self._mark_down(error)
            return getattr(self._local, operation)(*args, **kwargs)
        self._state.recovered()
        return result

    def _mark_down(self, error: Exception) -> None:
        self._down_until = time.monotonic() + self.RETRY_AFTER_SECONDS

    def take_lock(self, key: str, seconds: float) -> Any:
        """A lock on ``key`` for at most ``seconds`` (redis-py's, else a :class:`CacheLock`), or ``None``."""
        if self.redis is not None and self.available:
            lock = self.redis.lock(self._key_prefix + key, timeout=seconds, blocking=False)
            try:
                return lock if lock.acquire() else None
            except RedisError as error:
                self._mark_down(error)
        token = secrets.token_hex(16)
        return CacheLock(self, key, token) if self.add(key, token, timeout=seconds) else None

    def release_lock(self, lock: Any) -> None:
        """Release ``lock`` if it still holds its key (an expired lock may belong to someone else now)."""
        try:
            lock.release()
        except LockError:
            pass  # expired meanwhile: the key is no longer ours to delete
        except RedisError as error:
            self._mark_down(error)

    @property
    def available(self) -> bool:
        return time.monotonic() >= self._down_until

    def get(self, key: str) -> Any:
        return self._call("get", key)

    def ping(self) -> bool:
        """Whether the backend answers now (one read; skipped while it is known to be down)."""
        self._call("get", "ping")
        return self.available

    def set(self, key: str, value: Any, timeout: int | None = None) -> bool:
        return bool(self._call("set", key, value, timeout=timeout))

    def add(self, key: str, value: Any, timeout: int | None = None) -> bool:
        return bool(self._call("add", key, value, timeout=timeout))

    def delete(self, key: str) -> bool:
        return bool(self._call("delete", key))


class CacheLock:
    """A best-effort lock in a cache without compare-and-delete (Redis deployments get redis-py's lock)."""

    def __init__(self, cache: ResilientCache, key: str, token: str) -> None:
        self._cache = cache
        self._key = key
        self._token = token

    def release(self) -> None:
        """Delete the key if it still holds this lock's token."""
        if self._cache.get(self._key) == self._token:
            self._cache.delete(self._key)


class LiveData:
    """Cached access to the current version and to parsed frames of one data source."""

    def __init__(
        self,
        source: DataSource,
        cache: Any,
        version_cache_seconds: float,
        schema: Schema | None = None,
        clock: Callable[[], float] = time.time,
        frame_memory_mb: float = DEFAULT_FRAME_MEMORY_MB,
        share_frames: bool = True,
        redis: Any = None,
        frame_pool: FramePool | None = None,
    ) -> None:
        self.source = source
        self.schema = schema
        # Data written around the app (gsutil, an editor) gets the upload checks too, except
        # that any table may be shown: the chart page lets people pick its columns.
        self._stored_schema = schema.for_stored_data() if schema else None
        self._prefix = f"live-data:{source.location}"
        # Lock keys in Redis carry the same prefix as the cache's own keys (data_access.make_cache).
        self.cache = ResilientCache(cache, redis, key_prefix=CACHE_KEY_PREFIX)
        self.version_cache_seconds = version_cache_seconds
        self._clock = clock
        self._version_key = f"{self._prefix}:version"
        self._last_seen_key = f"{self._prefix}:last-seen"
        self._refresh_lock = threading.Lock()
        self._frame_lock = threading.Lock()
        # Parsed frames of immutable generations: this process' LRU, and Arrow bytes shared
        # with other workers (not copied into a per-process SimpleCache: the LRU is that copy).
        # With many datasets their frames share one budget (``frame_pool``).
        self.local_frames = LocalFrames(frame_memory_mb * 2**20, pool=frame_pool)
        self.shared_frames = SharedFrames(self.cache, self._prefix, share_frames)
        self._storage_state = StateLog(log, "storage version check", location=source.location)
        self._local_check: VersionCheck | None = None
        self._refresh_started: float | None = None  # when a thread of this process began renewing it
        self._write_listeners: list[Callable[[], None]] = []

    def check_version(self) -> VersionCheck:
        """The live version, at most ``version_cache_seconds`` old (this process' last answer saves a Redis trip)."""
        return self.recent_check() or self.renew_check()

    def renew_check(self) -> VersionCheck:
        """Ask the shared cache (or storage, when its entry is due too) for the live version now."""
        if self._refresh_started is None:
            self._refresh_started = self._clock()
        try:
            self._local_check = self._shared_check()
        finally:
            self._refresh_started = None
        # Unchanged polls never look a frame up: a replaced frame would outlive REPLACED_FRAME_SECONDS.
        self.local_frames.drop_replaced()
        return self._local_check

    def recent_check(self, while_renewing: bool = False) -> VersionCheck | None:
        """This process' last check while fresh, else ``None``; never asks anyone.

        ``while_renewing`` (unchanged polls only): also up to ``VERSION_LOCK_SECONDS`` older while a thread renews it.
        """
        local = self._local_check
        if local is None:
            return None
        renewing = while_renewing and self._refresh_started is not None
        grace = VERSION_LOCK_SECONDS if renewing else 0
        return local if self._clock() - local.checked_at < self.version_cache_seconds + grace else None

    def _shared_check(self) -> VersionCheck:
        entry = self.cache.get(self._version_key)
        if entry is not None and self._is_fresh(entry):
            return check_from_entry(entry)
        lock = self._take_lock("version-refresh", VERSION_LOCK_SECONDS)
        if entry is not None and not lock:
            # Another thread or worker is asking storage right now: its answer is moments away,
            # and the entry we have is only just past its period.
            return check_from_entry(entry)
        try:
            return self._refresh_version()
        finally:
            if lock:
                self.cache.release_lock(lock)

    def invalidate_version(self) -> None:
        """Forget the cached version (after this process published a new one)."""
        self._local_check = None
        self.cache.delete(self._version_key)

    def adopt_check(self, check: VersionCheck) -> None:
        """Take ``check`` (made by another process, heard on the live channel) as this process' last check."""
        local = self._local_check
        if local is None or check.checked_at >= local.checked_at:
            self._local_check = check

    def on_written(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after this app wrote a new live version (the live channel announces it)."""
        self._write_listeners.append(listener)

    def note_written(self) -> None:
        """A publish or restore through this app is confirmed: forget the cached version and tell listeners."""
        self.invalidate_version()
        for listener in list(self._write_listeners):
            try:
                listener()
            except Exception:  # the write itself succeeded; periodic checks announce it anyway
                log.exception("announcing a new version failed")

    def _refresh_version(self) -> VersionCheck:
        with self._refresh_lock:
            entry = self.cache.get(self._version_key)
            if entry is not None and self._is_fresh(entry):
                return check_from_entry(entry)  # a thread of this process refreshed it meanwhile
            # Fresh from when the answer came, not from when it was asked (a slow call is not fresher).
            try:
                version = self.source.current_version()
                check = VersionCheck(version, self._clock())
                self._storage_state.recovered()
                if version is not None:
                    self._note_replacement(version)
            except StorageError as error:
                self._storage_state.failed(error)
                check = VersionCheck(None, self._clock(), str(error), isinstance(error, LocationMissing))
            self.cache.set(self._version_key, entry_from_check(check), timeout=VERSION_ENTRY_SECONDS)
            return check

    def _note_replacement(self, version: DataVersion) -> None:
        """Remember which version ``version`` replaced: for a store that lists only the live object, the only record."""
        last = self.cache.get(self._last_seen_key)
        if last is not None and last.get("generation") == version.generation:
            return
        if last is not None:
            self.cache.set(f"{self._prefix}:replaced:{version.generation}", last, timeout=REPLACEMENT_SECONDS)
        self.cache.set(self._last_seen_key, version.to_dict(), timeout=REPLACEMENT_SECONDS)

    def replaced_version(self, generation: str) -> DataVersion | None:
        """The version ``generation`` replaced, when this deployment saw it happen."""
        entry = self.cache.get(f"{self._prefix}:replaced:{generation}")
        return DataVersion.from_dict(entry) if entry else None

    def _is_fresh(self, entry: dict[str, Any]) -> bool:
        return self._clock() - entry["checked_at"] < self.version_cache_seconds

    def frame(self, generation: str) -> pd.DataFrame:
        """The parsed table of ``generation``, downloaded at most once per cache; else :class:`DataUnavailable`."""
        local = self.local_frames.get(generation)
        if local is not None:
            return local
        with self._frame_lock:
            local = self.local_frames.get(generation)
            if local is not None:
                return local  # another thread of this process took it up meanwhile
            entry = self.shared_frames.get(generation) or self._load_frame_entry(generation)
            if entry.error is not None:
                raise DataUnavailable(entry.error, permanent=True)
            self.local_frames.put(generation, entry.frame)
            release_memory()  # what parsing and encoding used goes back to the system now
            return entry.frame

    def derived(self, generation: str, name: Hashable, build: Callable[[pd.DataFrame], T]) -> T:
        """``build(frame)`` once per generation per process, kept with the frame; raises like :meth:`frame`."""
        frame = self.frame(generation)
        value = self.local_frames.derived(generation, name, build)
        return build(frame) if value is None else value  # only when the LRU could not keep it

    def roles(self, generation: str) -> ColumnRoles:
        """The column roles of ``generation``'s frame, once per process; raises like :meth:`frame`."""
        return self.derived(generation, "roles", detect_roles)

    def _load_frame_entry(self, generation: str) -> FrameEntry:
        took_lock = self._take_lock(f"frame:{generation}", REFRESH_LOCK_SECONDS)
        if not took_lock and self.cache.available:
            # Another worker is downloading this generation: wait for its result.
            waited = self._wait_for(generation)
            if waited is not None:
                return waited
        try:
            # The lock is held until the parsed frame is in the cache, so nobody downloads twice.
            with take_up_slot():
                entry = self.shared_frames.get(generation) or self._download_and_parse(generation)
                self.shared_frames.put(generation, entry)
            return entry
        finally:
            if took_lock:
                self.cache.release_lock(took_lock)

    def _download_and_parse(self, generation: str) -> FrameEntry:
        started = time.perf_counter()
        try:
            content = self.source.read(generation)
        except GenerationNotFound as error:
            raise DataUnavailable(f"version {generation} is no longer available", permanent=True) from error
        except StorageError as error:
            # Not cached: an outage is temporary, the next poll retries.
            raise DataUnavailable(str(error)) from error
        try:
            entry = self._parse(content, generation)
        except Exception as error:  # whatever a stored object holds, the dashboards must not answer 500
            # Every shape we know of is refused with a sentence by the checks; this is for the
            # next one: cached as unreadable (the last good data stays), logged to be fixed.
            log.exception("generation %s could not be parsed", generation)
            entry = FrameEntry(error=f"version {generation} cannot be read ({type(error).__name__})")
        fields = {
            "generation": generation,
            "rows": None if entry.frame is None else len(entry.frame),
            "load_seconds": round(time.perf_counter() - started, 3),
            "error": entry.error,
        }
        log.info("generation %s taken up", generation, extra=fields)
        return entry

    def _parse(self, content: bytes, generation: str) -> FrameEntry:
        if self._stored_schema is None:
            try:
                frame = load_table(content, self.source.name)
            except ParseError as error:
                return FrameEntry(error=f"version {generation} cannot be read: {error}")
        else:
            stored_as = f"stored.{format_for(self.source.name)}"
            report = validate_upload(content, stored_as, self._stored_schema, max_bytes=len(content))
            if not report.ok:
                return FrameEntry(error=f"version {generation} was not accepted: {report.problems[0]}")
            frame = report.frame
        # Date-like text (2018-01-01) becomes datetimes once per generation, not per chart.
        frame = parse_time_columns(frame)
        # Data written around the app has no row limit (MAX_ROWS is for uploads), but must fit in memory.
        problem = self.memory_problem(frame)
        if problem is not None:
            return FrameEntry(error=f"version {generation} was not accepted: {problem}.")
        return FrameEntry(frame=frame)

    def memory_problem(self, frame: pd.DataFrame) -> str | None:
        """Why ``frame`` (date columns parsed) would not fit in ``FRAME_MEMORY_MB``, or ``None``."""
        size, budget = frame_bytes(frame), self.local_frames.budget_bytes
        if size <= budget:
            return None
        return (
            f"its {len(frame):,} rows take {size / 2**20:,.0f} MB in memory, "
            f"more than FRAME_MEMORY_MB ({budget / 2**20:,.0f} MB)"
        )

    def _wait_for(self, generation: str) -> FrameEntry | None:
        deadline = self._clock() + REFRESH_LOCK_SECONDS
        while self._clock() < deadline:
            time.sleep(0.05)
            entry = self.shared_frames.get(generation)
            if entry is not None:
                return entry
        return None

    def _take_lock(self, name: str, seconds: float) -> Any:
        return self.cache.take_lock(f"{self._prefix}:lock:{name}", seconds)


def entry_from_check(check: VersionCheck) -> dict[str, Any]:
    """The cache entry (JSON-ready) of a check: what the live channel sends between processes."""
    return asdict(check)


def check_from_entry(entry: dict[str, Any]) -> VersionCheck:
    version = DataVersion.from_dict(entry["version"]) if entry["version"] else None
    return VersionCheck(**{**entry, "version": version})
