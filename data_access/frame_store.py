"""Where parsed frames live: a small LRU in each process (:class:`LocalFrames`, within ``FRAME_MEMORY_MB``),
and the newest frame as zstd Arrow IPC parts of at most ``PART_BYTES`` in the shared cache (:class:`SharedFrames`).
"""

from __future__ import annotations

import fcntl
import logging
import os
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from data_access.parsing import arrow_to_frame

log = logging.getLogger(__name__)

# Derived values (roles, a chart per view) kept per generation; a URL makes a new view.
DERIVED_KEPT = 256
#: Largest value written to the shared cache (Redis refuses values over 512 MB).
PART_BYTES = 64 * 2**20
#: Long enough for every worker to take up a generation from one download; replaced ones leave soon.
SHARED_FRAME_SECONDS = 10 * 60
#: A replaced generation's frame is dropped after this long unused (open pages have moved on by then).
REPLACED_FRAME_SECONDS = 30
#: Per process: the live generation and the one before it (pages may still be drawing it).
GENERATIONS_KEPT = 2
#: In the shared cache: the newest only (workers that showed the one before still hold it).
GENERATIONS_SHARED = 1
_IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")


@dataclass
class FrameEntry:
    """What a generation turned into: its frame, or why it cannot be shown."""

    frame: pd.DataFrame | None = None
    error: str | None = None


def frame_bytes(frame: pd.DataFrame) -> int:
    """Memory held by ``frame`` (deep: text columns count their characters)."""
    return int(frame.memory_usage(deep=True, index=True).sum())


def generation_order(generation: str) -> int:
    """Sort key: GCS generations are increasing integers, local ones start with the mtime in ns."""
    head = generation.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


@dataclass
class _LocalEntry:
    frame: pd.DataFrame
    size: int
    used_at: float
    derived: dict[Hashable, Any] = field(default_factory=dict)


class FramePool:
    """The frames of many datasets in one process under one byte budget: others' least used go first."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = budget_bytes
        self._members: list[LocalFrames] = []
        self._lock = threading.Lock()

    def join(self, frames: LocalFrames) -> None:
        """Count ``frames`` in this pool's budget."""
        with self._lock:
            self._members.append(frames)

    def held_bytes(self) -> int:
        """Bytes held by every member."""
        return sum(member.held_bytes() for member in list(self._members))

    def trim(self, keep: LocalFrames) -> None:
        """Drop other members' least recently used frames while the pool is over its budget."""
        with self._lock:
            while self.held_bytes() > self.budget_bytes:
                others = [(member.oldest_use(), id(member), member) for member in self._members if member is not keep]
                used = [entry for entry in others if entry[0] is not None]
                if not used:
                    return
                min(used)[2].drop_least_used()


class LocalFrames:
    """This process' frames, newest generations first, bounded by bytes and by count (and by a :class:`FramePool`)."""

    def __init__(
        self, budget_bytes: int, clock: Callable[[], float] = time.monotonic, pool: FramePool | None = None
    ) -> None:
        self.budget_bytes = budget_bytes
        self._clock = clock
        self._entries: OrderedDict[str, _LocalEntry] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = pool
        if pool is not None:
            pool.join(self)

    def get(self, generation: str) -> pd.DataFrame | None:
        """The frame of ``generation`` if this process holds it."""
        with self._lock:
            self._drop_replaced()
            entry = self._entries.get(generation)
            if entry is None:
                return None
            entry.used_at = self._clock()
            return entry.frame

    def put(self, generation: str, frame: pd.DataFrame) -> None:
        """Keep ``frame``; evict older generations beyond the count or the byte budget."""
        with self._lock:
            self._entries[generation] = _LocalEntry(frame, frame_bytes(frame), self._clock())
            ordered = sorted(self._entries, key=generation_order, reverse=True)
            self._entries = OrderedDict((name, self._entries[name]) for name in ordered[:GENERATIONS_KEPT])
            while len(self._entries) > 1 and self.held_bytes() > self.budget_bytes:
                self._entries.popitem(last=True)  # the oldest generation goes first
        if self._pool is not None:
            self._pool.trim(keep=self)

    def oldest_use(self) -> float | None:
        """When the least recently used frame held here was last used (``None``: none held)."""
        with self._lock:
            return min((entry.used_at for entry in self._entries.values()), default=None)

    def drop_least_used(self) -> None:
        """Drop the least recently used frame held here (the pool is over its budget)."""
        with self._lock:
            if self._entries:
                del self._entries[min(self._entries, key=lambda name: self._entries[name].used_at)]

    def derived(self, generation: str, name: Hashable, build: Callable[[pd.DataFrame], Any]) -> Any:
        """``build(frame)`` computed once per generation and kept next to the frame (``None``: frame not held)."""
        with self._lock:
            entry = self._entries.get(generation)
        if entry is None:
            return None
        if name not in entry.derived:
            value = build(entry.frame)  # a race computes it twice, harmlessly
            while len(entry.derived) >= DERIVED_KEPT:  # views are many (a name per URL); keep the newest
                entry.derived.pop(next(iter(entry.derived)))
            entry.derived[name] = value
        return entry.derived[name]

    def held_bytes(self) -> int:
        return sum(entry.size for entry in list(self._entries.values()))

    def generations(self) -> list[str]:
        """Held generations, newest first."""
        with self._lock:
            self._drop_replaced()
            return list(self._entries)

    def drop_replaced(self) -> None:
        """Drop replaced generations nobody asked for lately (also done by every lookup)."""
        with self._lock:
            self._drop_replaced()

    def _drop_replaced(self) -> None:
        now = self._clock()
        replaced = [
            generation
            for generation in list(self._entries)[1:]
            if now - self._entries[generation].used_at > REPLACED_FRAME_SECONDS
        ]
        for generation in replaced:
            del self._entries[generation]
        if replaced:
            release_memory()


@contextmanager
def take_up_slot(lock_dir: Path | None = None) -> Iterator[None]:
    """One download-and-parse at a time among one server's workers: a take-up briefly needs twice the frame."""
    # Named after the parent process: sibling workers share it, other apps on the machine do not.
    path = (lock_dir or Path(tempfile.gettempdir())) / f"live-dashboard-take-up-{os.getppid()}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def release_memory() -> None:
    """Hand memory Arrow freed back to the system (its allocator keeps it for reuse otherwise)."""
    pa.default_memory_pool().release_unused()


def encode_frame(frame: pd.DataFrame, part_bytes: int | None = None) -> list[bytes]:
    """``frame`` as compressed Arrow IPC streams, each a whole table of some rows, each ≤ ~part_bytes."""
    part_bytes = part_bytes or PART_BYTES
    table = pa.Table.from_pandas(frame, preserve_index=False)
    # Uncompressed size bounds the compressed one, so this many rows never overflow a part.
    rows_per_part = max(1, len(frame) * part_bytes // max(table.nbytes, 1))
    parts = []
    for start in range(0, max(len(frame), 1), rows_per_part):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema, options=_IPC_OPTIONS) as writer:
            writer.write_table(table.slice(start, rows_per_part))
        parts.append(sink.getvalue().to_pybytes())
    return parts


def decode_frame(parts: list[bytes]) -> pd.DataFrame:
    """The frame :func:`encode_frame` cut into ``parts``."""
    tables = [pa.ipc.open_stream(part).read_all() for part in parts]
    table = pa.concat_tables(tables)
    del tables
    return arrow_to_frame(table)


class SharedFrames:
    """Frames in the shared cache, as Arrow parts; a miss (or a lost part) returns ``None``."""

    def __init__(self, cache: Any, prefix: str, share_frames: bool) -> None:
        self.cache = cache
        self.prefix = prefix
        self.share_frames = share_frames

    def key(self, generation: str) -> str:
        """The manifest key of ``generation`` (present once all its parts are stored)."""
        return f"{self.prefix}:frame:{generation}"

    def get(self, generation: str) -> FrameEntry | None:
        """The stored verdict of ``generation``, or ``None`` when nothing (complete) is stored."""
        manifest = self.cache.get(self.key(generation))
        if manifest is None:
            return None
        if manifest.get("error"):
            return FrameEntry(error=manifest["error"])
        parts = [self.cache.get(f"{self.key(generation)}:{index}") for index in range(manifest["parts"])]
        if any(part is None for part in parts):
            return None  # a part expired or was evicted before its manifest: read storage again
        return FrameEntry(frame=decode_frame(parts))

    def put(self, generation: str, entry: FrameEntry) -> None:
        """Store ``entry`` (parts first, manifest last) and delete the frames of older generations."""
        if entry.error is not None:
            # A broken generation stays broken: the verdict is shared, not re-downloaded per worker.
            self.cache.set(self.key(generation), {"error": entry.error}, timeout=SHARED_FRAME_SECONDS)
            return
        if not self.share_frames:
            return
        try:
            parts = encode_frame(entry.frame)
        except pa.ArrowException as error:
            # A column mixing numbers and text: this worker keeps its frame, the others parse their own.
            log.warning("frame of generation %s stays per process: %s", generation, error)
            return
        for index, part in enumerate(parts):
            self.cache.set(f"{self.key(generation)}:{index}", part, timeout=SHARED_FRAME_SECONDS)
        manifest = {"parts": len(parts), "rows": len(entry.frame)}
        self.cache.set(self.key(generation), manifest, timeout=SHARED_FRAME_SECONDS)
        self._forget_older_than_newest(generation)

    def _forget_older_than_newest(self, generation: str) -> None:
        # Storing an old generation (a page still shows it) never pushes the live one out.
        known = sorted(
            {*(self.cache.get(f"{self.prefix}:frames") or []), generation}, key=generation_order, reverse=True
        )
        keep, drop = known[:GENERATIONS_SHARED], known[GENERATIONS_SHARED:]
        # Last writer wins if two workers store at once; SHARED_FRAME_SECONDS bounds any leftover.
        self.cache.set(f"{self.prefix}:frames", keep, timeout=SHARED_FRAME_SECONDS)
        for old in drop:
            manifest = self.cache.get(self.key(old))
            self.cache.delete(self.key(old))
            for index in range((manifest or {}).get("parts", 0)):
                self.cache.delete(f"{self.key(old)}:{index}")
