"""What changed between two versions of the table: rows added, removed and changed, and columns.

Keys and rows are hashed to 64 bits and values compared a column at a time, so memory stays near one
frame; :class:`Changes` keeps positions, and rows to show are built a block at a time.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from data_access.downloads import CSV_CHUNK_ROWS, csv_chunks
from data_access.roles import INTEGER, NUMBER, ColumnRoles, value_kind
from data_access.sources import DataVersion
from data_access.units import count

log = logging.getLogger(__name__)

DECLARED = "declared"
FOUND = "found"
WHOLE_ROWS = "rows"
ADDED, REMOVED, CHANGED = "added", "removed", "changed"
#: The column of a change row that says what happened to it.
CHANGE_COLUMN = "change"
ARROW = " → "
_MIX = np.uint64(0x100000001B3)  # FNV prime: order-dependent mixing of column hashes (wraps modulo 2**64)


@dataclass(frozen=True)
class ColumnChanges:
    """Columns only in the new version, only in the old one, and in both with another kind of value."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    retyped: tuple[str, ...] = ()

    def words(self) -> list[str]:
        """ "column added: a", "columns removed: b, c" (nothing when the columns are the same)."""
        return [
            f"{'column' if len(names) == 1 else 'columns'} {what}: {', '.join(names)}"
            for what, names in (("added", self.added), ("removed", self.removed), ("changed type", self.retyped))
            if names
        ]


@dataclass(frozen=True)
class Changes:
    """The difference between two frames, as positions into them (see :func:`compare`)."""

    key_kind: str  # DECLARED, FOUND or WHOLE_ROWS
    key_columns: tuple[str, ...]
    added: np.ndarray  # positions in the new frame
    removed: np.ndarray  # positions in the old frame
    changed_old: np.ndarray  # positions in the old frame of matched rows with a changed value
    changed_new: np.ndarray  # ... and the same rows' positions in the new frame
    #: Per compared column, which of the changed rows differ in it.
    changed_cells: dict[str, np.ndarray] = field(default_factory=dict)
    columns: ColumnChanges = ColumnChanges()
    #: Why a declared key was not used, when it was not.
    key_note: str = ""

    @property
    def changed_values(self) -> int:
        return int(sum(int(mask.sum()) for mask in self.changed_cells.values()))

    @property
    def row_count(self) -> int:
        """Rows :func:`change_rows` yields: added, then removed, then changed."""
        return len(self.added) + len(self.removed) + len(self.changed_new)

    def summary(self) -> str:
        """ "+1,204 rows · −3 rows · 57 changed values · column added: x" without the zeros, or "No differences"."""
        counts = (
            ("+", len(self.added), "row"),
            ("−", len(self.removed), "row"),
            ("", self.changed_values, "changed value"),
        )
        parts = [sign + count(number, what) for sign, number, what in counts if number]
        return " · ".join(parts + self.columns.words()) or "No differences"

    def matching(self) -> str:
        """How rows were matched, in words (the page says which)."""
        names = ", ".join(self.key_columns)
        if self.key_kind == DECLARED:
            text = f"Rows matched on {names} (CHANGES_KEY)."
        elif self.key_kind == FOUND:
            text = f"Rows matched on {names} (unique in both versions)."
        else:
            text = "Rows matched as whole rows (no unique key): an edited row shows as removed and added."
        return f"{self.key_note} {text}".strip()


# -- keys -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyChoice:
    """How rows are matched: the kind, the key columns, why a declared key was refused, the key's hashes."""

    kind: str
    columns: tuple[str, ...] = ()
    note: str = ""
    #: (old hashes, new hashes as an index whose hash table is built once); None for whole rows.
    hashes: tuple[np.ndarray, pd.Index] | None = None


def choose_key(old: pd.DataFrame, new: pd.DataFrame, declared: Sequence[str], roles: ColumnRoles | None) -> KeyChoice:
    """The declared key, else one the roles find, else whole rows (each key checked unique in both versions)."""
    note = ""
    if declared:
        missing = [column for column in declared if column not in old.columns or column not in new.columns]
        hashes = None if missing else _unique_key_hashes(old, new, tuple(declared))
        if hashes is not None:
            return KeyChoice(DECLARED, tuple(declared), "", hashes)
        note = (
            f"CHANGES_KEY column “{missing[0]}” is not in both versions."
            if missing
            else f"CHANGES_KEY ({', '.join(declared)}) repeats in these versions."
        )
    # Identifier columns, time columns, then a long table's (time or x, series) pairs.
    found = [] if roles is None else [(c,) for c in roles.identifier + roles.time] + list(roles.series.items())
    for candidate in found:
        if all(column in old.columns and column in new.columns for column in candidate):
            hashes = _unique_key_hashes(old, new, candidate)
            if hashes is not None:
                return KeyChoice(FOUND, candidate, note, hashes)
    return KeyChoice(WHOLE_ROWS, (), note)


def _unique_key_hashes(
    old: pd.DataFrame, new: pd.DataFrame, key: tuple[str, ...]
) -> tuple[np.ndarray, pd.Index] | None:
    """The key's hashes in both versions when it is complete and unique in both, else ``None``."""
    if any(frame[column].hasnans for frame in (old, new) for column in key):
        return None
    old_hashes, new_index = row_hashes(old, new, key), pd.Index(row_hashes(new, old, key))
    # is_unique builds the hash table the matching then looks old keys up in.
    return (old_hashes, new_index) if new_index.is_unique and pd.Index(old_hashes).is_unique else None


def row_hashes(frame: pd.DataFrame, other: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """One 64-bit hash per row of ``frame``'s ``columns``, each typed as in the comparison (:func:`_comparable`)."""
    combined = np.zeros(len(frame), dtype=np.uint64)
    for column in columns:
        values = _comparable(frame[column], other[column])
        combined *= _MIX
        combined ^= pd.util.hash_pandas_object(values, index=False).to_numpy()
    return combined


def _comparable(values: pd.Series, theirs: pd.Series) -> pd.Series:
    """``values`` in the type both sides of a comparison share: float64 numbers, else as they are, else text."""
    numbers = pd.api.types.is_numeric_dtype(values) and pd.api.types.is_numeric_dtype(theirs)
    if numbers and pd.api.types.is_bool_dtype(values) == pd.api.types.is_bool_dtype(theirs):
        return values.astype("float64")  # pandas hashes every NaN alike, and -0.0 as 0.0
    if values.dtype == theirs.dtype and not isinstance(values.dtype, pd.CategoricalDtype):
        return values
    return values.astype("string")


def _occurrence_hashes(hashes: np.ndarray) -> np.ndarray:
    """``hashes`` made unique: the k-th repeat of a row gets its own hash (repeats match one to one)."""
    order = np.argsort(hashes)  # which of two equal rows gets which number does not matter
    ordered = hashes[order]
    starts = np.ones(len(ordered), dtype=bool)
    starts[1:] = ordered[1:] != ordered[:-1]
    positions = np.arange(len(ordered))
    occurrence = np.empty(len(ordered), dtype=np.uint64)
    occurrence[order] = positions - np.maximum.accumulate(np.where(starts, positions, 0))
    return (hashes * _MIX) ^ pd.util.hash_array(occurrence)


# -- comparison -----------------------------------------------------------------------------------


def compare(
    old: pd.DataFrame, new: pd.DataFrame, declared_key: Sequence[str] = (), roles: ColumnRoles | None = None
) -> Changes:
    """What changed from ``old`` to ``new``; ``roles`` (of ``new``) suggest a key when none is declared."""
    columns = column_changes(old, new)
    choice = choose_key(old, new, declared_key, roles)
    shared = [column for column in new.columns if column in old.columns]
    new_at, kept = _match(old, new, choice, shared)
    matched_old = np.flatnonzero(new_at >= 0)
    matched_new = new_at[matched_old]
    # Rows matched whole are equal: no values to compare.
    compared = [] if choice.kind == WHOLE_ROWS else [column for column in shared if column not in choice.columns]
    differs = {column: _differs(old[column], new[column], matched_old, matched_new) for column in compared}
    any_change = np.zeros(len(matched_old), dtype=bool)
    for mask in differs.values():
        any_change |= mask
    return Changes(
        choice.kind,
        choice.columns,
        _small(np.flatnonzero(~kept)),
        _small(np.flatnonzero(new_at < 0)),
        _small(matched_old[any_change]),
        _small(matched_new[any_change]),
        {column: mask[any_change] for column, mask in differs.items() if mask.any()},
        columns,
        choice.note,
    )


def _match(old: pd.DataFrame, new: pd.DataFrame, choice: KeyChoice, shared: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each old row's position in new (or -1), and which new rows were matched (keys are unique: one to one)."""
    if choice.hashes is None:
        old_keys = _occurrence_hashes(row_hashes(old, new, shared))
        new_keys = pd.Index(_occurrence_hashes(row_hashes(new, old, shared)))
    else:
        old_keys, new_keys = choice.hashes
    new_at = new_keys.get_indexer(old_keys)
    kept = np.zeros(len(new), dtype=bool)
    kept[new_at[new_at >= 0]] = True
    return new_at, kept


def _small(positions: np.ndarray) -> np.ndarray:
    """Positions as int32 when they fit: half the bytes in the shared cache."""
    return positions.astype(np.int32) if len(positions) and positions.max() < 2**31 else positions.astype(np.int64)


def _differs(old: pd.Series, new: pd.Series, old_rows: np.ndarray, new_rows: np.ndarray) -> np.ndarray:
    """For each matched pair of rows, whether the value differs (two missing values are equal).

    Anything but numbers and times is compared as 64-bit hashes (comparing text was most of the time).
    """
    before, after = _comparable(old, new), _comparable(new, old)
    fixed_width = before.dtype == after.dtype and before.dtype.kind in "fiumM"
    if fixed_width and isinstance(before.dtype, np.dtype):
        if before.dtype.kind in "mM":
            before, after = before.to_numpy().view("i8"), after.to_numpy().view("i8")  # NaT is one value
            return before[old_rows] != after[new_rows]
        left, right = before.to_numpy()[old_rows], after.to_numpy()[new_rows]
        differs = left != right
        if before.dtype.kind == "f":
            differs &= ~(np.isnan(left) & np.isnan(right))
        return differs
    before_hashes = pd.util.hash_pandas_object(before, index=False).to_numpy()
    after_hashes = pd.util.hash_pandas_object(after, index=False).to_numpy()
    return before_hashes[old_rows] != after_hashes[new_rows]


def column_changes(old: pd.DataFrame, new: pd.DataFrame) -> ColumnChanges:
    """Columns added, removed, and kept with another kind of value (number, text, time, true/false)."""
    return ColumnChanges(
        added=tuple(str(column) for column in new.columns if column not in old.columns),
        removed=tuple(str(column) for column in old.columns if column not in new.columns),
        retyped=tuple(
            str(column) for column in new.columns if column in old.columns and _kind(old[column]) != _kind(new[column])
        ),
    )


def _kind(values: pd.Series) -> str:
    """What a comparison calls a column's type: whole and other numbers are both numbers."""
    kind = value_kind(values)
    return NUMBER if kind == INTEGER else kind


# -- rows to show ---------------------------------------------------------------------------------


def change_rows(old: pd.DataFrame, new: pd.DataFrame, changes: Changes, start: int, stop: int) -> pd.DataFrame:
    """Rows ``start:stop`` of the changes as text: a ``change`` column, then every column of both versions.

    Changed rows carry their new values with each changed cell written "old → new".
    """
    columns = list(dict.fromkeys([*map(str, new.columns), *map(str, old.columns)]))
    pieces = []
    offset = 0
    for kind, positions in ((ADDED, changes.added), (REMOVED, changes.removed), (CHANGED, changes.changed_new)):
        low, high = max(start - offset, 0), min(stop - offset, len(positions))
        if low < high:
            pieces.append(_piece(kind, old, new, changes, low, high, columns))
        offset += len(positions)
    if not pieces:
        return pd.DataFrame(columns=[CHANGE_COLUMN, *columns], dtype="string")
    return pd.concat(pieces, ignore_index=True)


def _piece(
    kind: str, old: pd.DataFrame, new: pd.DataFrame, changes: Changes, low: int, high: int, columns: list[str]
) -> pd.DataFrame:
    source = old if kind == REMOVED else new
    rows = {ADDED: changes.added, REMOVED: changes.removed, CHANGED: changes.changed_new}[kind][low:high]
    values = {CHANGE_COLUMN: pd.Series([kind] * len(rows), dtype="string")}
    for column in columns:
        in_source = column in source.columns
        values[column] = _text(source[column].iloc[rows]) if in_source else pd.Series([""] * len(rows), dtype="string")
    if kind == CHANGED:
        old_rows = changes.changed_old[low:high]
        for column, mask in changes.changed_cells.items():
            differs = mask[low:high]
            before = _text(old[column].iloc[old_rows])
            values[column] = values[column].where(~differs, before + ARROW + values[column])
    return pd.DataFrame(values)


def _text(values: pd.Series) -> pd.Series:
    return values.astype("string").fillna("").reset_index(drop=True)


# -- which versions -------------------------------------------------------------------------------


class NoComparison(LookupError):
    """There is nothing to compare with (the first version, or ``vs`` names no known version)."""


def compared_versions(
    history: Sequence[DataVersion], generation: str, vs: str | None
) -> tuple[DataVersion, DataVersion]:
    """(``vs``, else the version before ``generation`` in ``history``, newest first; ``generation``'s own version)."""
    generations = [version.generation for version in history]
    if generation not in generations:
        raise NoComparison("This version is not in the data's history: there is nothing to compare it with.")
    position = generations.index(generation)
    current = history[position]
    if vs:
        by_generation = [version for version in history if version.generation == vs]
        by_number = [version for version in history if version.metadata.get("version") == vs.removeprefix("v")]
        if not by_generation + by_number:
            raise NoComparison(f"There is no version “{vs}” in this data's history.")
        return (by_generation + by_number)[0], current
    if position + 1 >= len(history):
        raise NoComparison("This is the first version: there is nothing before it to compare with.")
    return history[position + 1], current


# -- once per deployment -------------------------------------------------------------------------


@dataclass(frozen=True)
class ComparisonFailed:
    """A pair that cannot be compared (a version is gone or unreadable): kept, so it is not tried again."""

    reason: str


class ComparisonStore:
    """Each (old, new) comparison computed once per deployment in the background (``load``: frame and roles)."""

    LOCK_SECONDS = 120
    KEEP_SECONDS = 24 * 3600
    LOCAL_ENTRIES = 4

    def __init__(
        self,
        cache: Any,
        prefix: str,
        load: Callable[[str], tuple[pd.DataFrame, ColumnRoles]],
        declared_key: Sequence[str] = (),
    ) -> None:
        self._cache = cache
        self._prefix = f"{prefix}:changes:{','.join(declared_key)}"
        self._load = load
        self._declared_key = tuple(declared_key)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="changes")
        self._running: dict[tuple[str, str], Future] = {}
        self._local: OrderedDict[tuple[str, str], Changes | ComparisonFailed] = OrderedDict()
        self._lock = threading.Lock()
        self._reads: OrderedDict[str, Future] = OrderedDict()

    def request(self, old: str, new: str, wait_seconds: float) -> Changes | ComparisonFailed | None:
        """The comparison (this process's, the shared cache's, else computed now); ``None`` while being computed."""
        pair = (old, new)
        with self._lock:
            if pair in self._local:
                self._local.move_to_end(pair)
                return self._local[pair]
        found = self._cache.get(self._key(pair))
        if found is not None:
            self._remember(pair, found)
            return found
        with self._lock:
            running = self._running.get(pair)
            if running is None:
                lock = self._cache.take_lock(self._key(pair) + ":lock", self.LOCK_SECONDS)
                if lock is None:
                    return None  # another worker computes it: its answer lands in the shared cache
                running = self._running[pair] = self._pool.submit(self._compute, pair, lock)
        try:
            return running.result(timeout=wait_seconds)
        except FutureTimeout:
            return None

    def warm(self, generation: str) -> bool:
        """Whether ``generation``'s frame was read here; else it is read in the background (a ghost never waits)."""
        with self._lock:
            reading = self._reads.get(generation)
            if reading is None:
                reading = self._reads[generation] = self._pool.submit(self._read, generation)
                while len(self._reads) > self.LOCAL_ENTRIES:
                    self._reads.popitem(last=False)
        return reading.done()

    def _read(self, generation: str) -> None:
        try:
            self._load(generation)
        except Exception as error:  # DataUnavailable: the request that asks next says why
            log.warning("reading %s for a comparison failed: %s", generation, error)

    def _compute(self, pair: tuple[str, str], lock: Any) -> Changes | ComparisonFailed | None:
        try:
            old_frame, _ = self._load(pair[0])
            new_frame, roles = self._load(pair[1])
            result: Changes | ComparisonFailed = compare(old_frame, new_frame, self._declared_key, roles)
        except Exception as error:  # DataUnavailable: kept only when retrying cannot help
            if not getattr(error, "permanent", False):
                log.warning("comparing %s with %s failed for now: %s", *pair, error)
                self._finish(pair, lock)
                return None
            result = ComparisonFailed(str(error))
        try:
            self._cache.set(self._key(pair), result, timeout=self.KEEP_SECONDS)
            self._remember(pair, result)
        finally:
            self._finish(pair, lock)
        return result

    def _finish(self, pair: tuple[str, str], lock: Any) -> None:
        self._cache.release_lock(lock)
        with self._lock:
            self._running.pop(pair, None)

    def _remember(self, pair: tuple[str, str], value: Changes | ComparisonFailed) -> None:
        with self._lock:
            self._local[pair] = value
            self._local.move_to_end(pair)
            while len(self._local) > self.LOCAL_ENTRIES:
                self._local.popitem(last=False)

    def _key(self, pair: tuple[str, str]) -> str:
        return f"{self._prefix}:{pair[0]}:{pair[1]}"


def changes_csv(old: pd.DataFrame, new: pd.DataFrame, changes: Changes) -> Iterator[bytes]:
    """The change rows as CSV (formulas neutralised as in the data downloads), a block at a time."""
    for start in range(0, max(changes.row_count, 1), CSV_CHUNK_ROWS):
        pieces = csv_chunks(change_rows(old, new, changes, start, start + CSV_CHUNK_ROWS))
        header = next(pieces)
        if start == 0:
            yield header  # one header row for the whole file
        yield from pieces
