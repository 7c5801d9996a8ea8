"""Pages of rows for the data table, answered on the server from the cached frame.

The grid (AG Grid's infinite row model) asks for rows ``start``–``end`` with a sort and a filter
model. Filters are vectorised masks; a first sorted page is found in linear time, deeper pages use
a stable sort order kept per process (ties in frame order both ways, so pages fit together).
Columns travel as ``c0``, ``c1``… (AG Grid reads dots in a field as nested paths).
"""

from __future__ import annotations

import json
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data_access.parsing import shorten_text

#: First pages up to this row are sorted by partitioning instead of a full sort.
PARTITION_LIMIT = 10_000
#: Largest page one request may ask for (the grid asks for 100 rows at a time).
MAX_PAGE_ROWS = 1_000
#: Selections, sort orders and query results kept per process, each.
KEPT = 3
MISSING = object()
# First sorted pages: sample size for the threshold, and candidates kept per row asked for.
SAMPLE_SIZE = 65_536
CANDIDATE_FACTOR = 4

TEXT_TESTS: dict[str, Callable[[pd.Series, str], pd.Series]] = {
    "contains": lambda values, term: values.str.contains(term, case=False, regex=False),
    "notContains": lambda values, term: ~values.str.contains(term, case=False, regex=False),
    "equals": lambda values, term: values.str.lower() == term.lower(),
    "notEqual": lambda values, term: values.str.lower() != term.lower(),
    "startsWith": lambda values, term: values.str.lower().str.startswith(term.lower()),
    "endsWith": lambda values, term: values.str.lower().str.endswith(term.lower()),
}
COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "equals": lambda values, bound: values == bound,
    "notEqual": lambda values, bound: values != bound,
    "lessThan": lambda values, bound: values < bound,
    "lessThanOrEqual": lambda values, bound: values <= bound,
    "greaterThan": lambda values, bound: values > bound,
    "greaterThanOrEqual": lambda values, bound: values >= bound,
}


class TableQueryError(ValueError):
    """The grid's request cannot be answered as asked (unknown column, filter or bounds)."""


def column_field(index: int) -> str:
    """The grid field name of the frame's ``index``-th column."""
    return f"c{index}"


def column_for_field(frame: pd.DataFrame, grid_field: object) -> str:
    """The frame column behind a grid field name; :class:`TableQueryError` when there is none."""
    match = re.fullmatch(r"c(\d{1,6})", str(grid_field))
    if match is None or int(match.group(1)) >= len(frame.columns):
        raise TableQueryError(f"unknown column {grid_field!r}")
    return frame.columns[int(match.group(1))]


@dataclass(frozen=True)
class PageRequest:
    """One request of the grid, checked: rows ``start``–``end``, one sort column, filters."""

    start: int
    end: int
    sort_column: str | None = None
    descending: bool = False
    filters: tuple[tuple[str, dict[str, Any]], ...] = ()

    @classmethod
    def from_grid(cls, request: object, frame: pd.DataFrame) -> PageRequest:
        """Check and translate AG Grid's ``getRowsRequest`` for ``frame``."""
        if not isinstance(request, dict):
            raise TableQueryError("the request is not an object")
        start, end = request.get("startRow"), request.get("endRow")
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end):
            raise TableQueryError("startRow and endRow must be whole numbers, start first")
        end = min(end, start + MAX_PAGE_ROWS)
        sort_model = request.get("sortModel") or []
        sort_column, descending = None, False
        if isinstance(sort_model, list) and sort_model:
            first = sort_model[0] if isinstance(sort_model[0], dict) else {}
            sort_column = column_for_field(frame, first.get("colId"))
            descending = first.get("sort") == "desc"
        filter_model = request.get("filterModel") or {}
        if not isinstance(filter_model, dict):
            raise TableQueryError("filterModel must be an object")
        filters = tuple((column_for_field(frame, key), spec) for key, spec in sorted(filter_model.items()))
        return cls(start, end, sort_column, descending, filters)


@dataclass(frozen=True)
class TablePage:
    """Rows ``start``–``end`` of the query as JSON-ready records, and how many rows match."""

    records: list[dict[str, Any]]
    row_count: int


@dataclass(frozen=True)
class RowSelection:
    """The rows the chart's filters select: ``select(frame)`` keeps them; ``key`` names the filters."""

    key: str
    select: Callable[[pd.DataFrame], pd.DataFrame]


@dataclass
class TableQuery:
    """Answers page requests, keeping (least recently used dropped) selections, sort orders and
    whole queries' ordered rows, so the next block of a scrolled table costs only its own rows."""

    kept: int = KEPT
    _selections: OrderedDict[tuple, np.ndarray | None] = field(default_factory=OrderedDict)
    _orders: OrderedDict[tuple, np.ndarray] = field(default_factory=OrderedDict)
    _results: OrderedDict[tuple, np.ndarray | None] = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def page(
        self, frame: pd.DataFrame, generation: str, request: PageRequest, selection: RowSelection | None = None
    ) -> TablePage:
        """The rows of ``request`` among those ``selection`` keeps (``None``: every row of ``frame``)."""
        filters = json.dumps(request.filters, sort_keys=True, default=str)
        query_key = (generation, selection.key if selection else "", filters, request.sort_column, request.descending)
        result = self._get(self._results, query_key, MISSING)
        if result is MISSING:
            positions = self._filtered(frame, generation, request, selection)
            if self._partition_instead(generation, request):
                # A first sorted page: partitioning is linear, a full sort is not worth it yet.
                count = len(frame) if positions is None else len(positions)
                chosen = first_sorted(frame[request.sort_column], positions, request.end, request.descending)
                return TablePage(records(frame.iloc[chosen[request.start :]]), count)
            result = self._sorted(frame, generation, request, positions)
            self._put(self._results, query_key, result)
        count = len(frame) if result is None else len(result)
        start, end = min(request.start, count), min(request.end, count)
        chosen = np.arange(start, end) if result is None else result[start:end]
        return TablePage(records(frame.iloc[chosen]), count)

    def _filtered(
        self, frame: pd.DataFrame, generation: str, request: PageRequest, selection: RowSelection | None
    ) -> np.ndarray | None:
        positions = self._selected(frame, generation, selection) if selection else None
        if not request.filters:
            return positions
        mask = np.ones(len(frame), dtype=bool)
        for column, spec in request.filters:
            mask &= filter_mask(frame[column], spec)
        return _compact(np.flatnonzero(mask)) if positions is None else positions[mask[positions]]

    def _selected(self, frame: pd.DataFrame, generation: str, selection: RowSelection) -> np.ndarray | None:
        key = (generation, selection.key)
        positions = self._get(self._selections, key, MISSING)
        if positions is MISSING:
            subset = selection.select(frame)
            positions = None if len(subset) == len(frame) else _compact(frame.index.get_indexer(subset.index))
            self._put(self._selections, key, positions)
        return positions

    def _partition_instead(self, generation: str, request: PageRequest) -> bool:
        column = request.sort_column
        return (
            column is not None
            and request.end <= PARTITION_LIMIT
            and self._get(self._orders, (generation, column, request.descending), None) is None
        )

    def _sorted(
        self, frame: pd.DataFrame, generation: str, request: PageRequest, positions: np.ndarray | None
    ) -> np.ndarray | None:
        column = request.sort_column
        if column is None:
            return positions
        key = (generation, column, request.descending)
        order = self._get(self._orders, key, None)
        if order is None:
            # Stable both ways: ties keep frame order, as on the first pages (see :func:`smallest`).
            order = _compact(np.argsort(sort_keys(frame[column], request.descending), kind="stable"))
            self._put(self._orders, key, order)
        if positions is None:
            return order
        keep = np.zeros(len(frame), dtype=bool)
        keep[positions] = True
        return order[keep[order]]

    def _get(self, store: OrderedDict, key: tuple, default: Any) -> Any:
        """``store[key]`` (now the most recently used), or ``default``."""
        with self._lock:
            if key not in store:
                return default
            store.move_to_end(key)
            return store[key]

    def _put(self, store: OrderedDict, key: tuple, value: Any) -> None:
        with self._lock:
            store[key] = value
            while len(store) > self.kept:
                store.popitem(last=False)


def _compact(positions: np.ndarray) -> np.ndarray:
    # A frame held in memory has far fewer than 2**31 rows: 4-byte positions halve numpy's default.
    return positions.astype(np.int32)


def first_sorted(values: pd.Series, positions: np.ndarray | None, end: int, descending: bool) -> np.ndarray:
    """Positions of the first ``end`` rows (among ``positions``) in sorted order, blanks last."""
    subset = values if positions is None else values.iloc[positions]
    if _is_text(values):
        nearest = smallest_text(pa.array(subset.astype("str"), from_pandas=True), end, descending)
    else:
        nearest = smallest(sort_keys(subset, descending), end)
    return nearest if positions is None else positions[nearest]


def _is_text(values: pd.Series) -> bool:
    # Booleans count as numeric in pandas.
    return not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values))


def smallest_text(values: pa.Array, count: int, descending: bool) -> np.ndarray:
    """:func:`smallest` for text (compared as Unicode code points, like the full sort), the same way, in Arrow."""
    direction = "descending" if descending else "ascending"
    valid = np.flatnonzero(values.is_valid())
    candidates = valid
    if count < len(valid):
        sample = pc.drop_null(values.take(np.arange(0, len(values), max(1, len(values) // SAMPLE_SIZE))))
        if len(sample):
            ranked = sample.take(pc.sort_indices(sample, sort_keys=[("", direction)]))
            share = min(1.0, CANDIDATE_FACTOR * count / len(values) + 1 / len(sample))
            threshold = ranked[min(len(ranked) - 1, int(share * len(ranked)))]
            within = pc.greater_equal if descending else pc.less_equal
            below = np.flatnonzero(within(values, threshold).fill_null(False))
            candidates = below if len(below) >= count else valid
    order = pc.sort_indices(values.take(candidates), sort_keys=[("", direction)]).to_numpy()
    chosen = candidates[order][:count]
    if len(chosen) < count:  # fewer values than rows asked for: then the blanks, in frame order
        chosen = np.concatenate([chosen, np.flatnonzero(~values.is_valid().to_numpy(zero_copy_only=False))])
    return chosen[:count]


def smallest(keys: np.ndarray, count: int) -> np.ndarray:
    """Positions of the ``count`` smallest ``keys`` in order, ties in frame order, NaN last, in linear time.

    Exactly the start of a stable full sort (pages agree with deeper ones): a threshold from a sample
    keeps a few times ``count`` candidates, and only those are sorted.
    """
    if count >= len(keys):
        return np.argsort(keys, kind="stable")
    sample = keys[:: max(1, len(keys) // SAMPLE_SIZE)]
    candidates = np.arange(len(keys))
    if not np.isnan(sample).all():
        share = min(1.0, CANDIDATE_FACTOR * count / len(keys) + 1 / len(sample))
        below = np.flatnonzero(keys <= np.nanquantile(sample, share))
        candidates = below if len(below) >= count else candidates
    values = keys[candidates]
    kth = np.partition(values, count - 1)[count - 1]
    if np.isnan(kth):  # fewer than ``count`` values: all of them, then blanks in frame order
        less = candidates[~np.isnan(values)]
        ties = np.flatnonzero(np.isnan(keys))[: count - len(less)]
    else:
        less = candidates[values < kth]
        ties = candidates[values == kth][: count - len(less)]
    return np.concatenate([less[np.argsort(keys[less], kind="stable")], ties])


def sort_keys(values: pd.Series, descending: bool = False) -> np.ndarray:
    """Float keys that sort like ``values`` (blanks are NaN, which numpy puts last either way)."""
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
        keys = values.to_numpy(dtype="float64", na_value=np.nan)
    elif pd.api.types.is_datetime64_any_dtype(values):
        keys = values.to_numpy(dtype="datetime64[ns]").view("int64").astype("float64")
        keys[values.isna().to_numpy()] = np.nan
    else:
        codes, _ = pd.factorize(values.astype("str"), sort=True, use_na_sentinel=True)
        keys = codes.astype("float64")
        keys[codes < 0] = np.nan
    return -keys if descending else keys


def filter_mask(values: pd.Series, spec: object) -> np.ndarray:
    """Rows of ``values`` that pass one column's AG Grid filter (simple or combined)."""
    if not isinstance(spec, dict):
        raise TableQueryError("a column filter must be an object")
    conditions = spec.get("conditions")
    if isinstance(conditions, list) and conditions:
        masks = [filter_mask(values, condition) for condition in conditions]
        combine = np.logical_or if spec.get("operator") == "OR" else np.logical_and
        return combine.reduce(masks)
    test = spec.get("type")
    if test == "blank":
        return values.isna().to_numpy()
    if test == "notBlank":
        return values.notna().to_numpy()
    kind = spec.get("filterType")
    if kind == "number":
        return _number_mask(values, test, spec)
    if kind == "date":
        return _date_mask(values, test, spec)
    if kind == "text":
        if test not in TEXT_TESTS or not isinstance(spec.get("filter"), str):
            raise TableQueryError(f"unsupported text filter {test!r}")
        text = values.astype("str")
        return TEXT_TESTS[test](text, spec["filter"]).fillna(False).to_numpy(dtype=bool)
    raise TableQueryError(f"unsupported filter type {kind!r}")


def _number_mask(values: pd.Series, test: object, spec: dict[str, Any]) -> np.ndarray:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    bound, upper = spec.get("filter"), spec.get("filterTo")
    if not isinstance(bound, (int, float)) or isinstance(bound, bool):
        raise TableQueryError("a number filter needs a number")
    if test == "inRange":
        if not isinstance(upper, (int, float)) or isinstance(upper, bool):
            raise TableQueryError("a number range needs two numbers")
        return (numbers >= bound) & (numbers <= upper)
    if test not in COMPARISONS:
        raise TableQueryError(f"unsupported number filter {test!r}")
    return np.asarray(COMPARISONS[test](numbers, bound), dtype=bool)


def _date_mask(values: pd.Series, test: object, spec: dict[str, Any]) -> np.ndarray:
    moments = pd.to_datetime(values, errors="coerce")
    try:
        bound = pd.Timestamp(spec.get("dateFrom"))
        upper = pd.Timestamp(spec.get("dateTo")) if test == "inRange" else None
    except (TypeError, ValueError):
        raise TableQueryError("a date filter needs dates like 2024-01-31") from None
    if pd.isna(bound) or (test == "inRange" and pd.isna(upper)):
        raise TableQueryError("a date filter needs dates like 2024-01-31")
    if getattr(moments.dt, "tz", None) is not None:
        bound = bound.tz_localize(moments.dt.tz) if bound.tzinfo is None else bound
        upper = upper.tz_localize(moments.dt.tz) if upper is not None and upper.tzinfo is None else upper
    if test == "inRange":
        return ((moments >= bound) & (moments <= upper)).to_numpy(dtype=bool)
    if test not in COMPARISONS:
        raise TableQueryError(f"unsupported date filter {test!r}")
    return np.asarray(COMPARISONS[test](moments, bound).fillna(False), dtype=bool)


def records(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """``rows`` as grid records keyed ``c0``, ``c1``…: dates as people write them, blanks as null, text shortened."""
    renamed = rows.set_axis([column_field(index) for index in range(len(rows.columns))], axis=1)
    for name in renamed.columns:
        values = renamed[name]
        shortened = shorten_text(values)
        if shortened is not values:
            renamed[name] = shortened
        if pd.api.types.is_datetime64_any_dtype(values):
            at_midnight = bool((values.dropna() == values.dropna().dt.normalize()).all())
            renamed[name] = values.dt.strftime("%Y-%m-%d" if at_midnight else "%Y-%m-%d %H:%M:%S")
    return json.loads(renamed.to_json(orient="records"))
