"""What each column of a table is for: time, category, measure, identifier or plain text.

Computed once per generation next to the cached frame (``LiveData.roles``); the chart's defaults,
controls and filters read them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from data_access.parsing import DISPLAY_CELL_CHARS, text_among_numbers

TIME = "time"
CATEGORY = "category"
MEASURE = "measure"
IDENTIFIER = "identifier"
TEXT = "text"

# A category may have this many distinct values at most (bars, colours and pickers stay usable).
MAX_CATEGORY_VALUES = 200
# Text columns with more distinct values than this share of rows are names, not categories.
MAX_CATEGORY_SHARE = 0.5
# Date-like text is recognised from this many non-empty values before the whole column is parsed.
DATE_SAMPLE_SIZE = 200
# A long table's series column has at most this many values (the chart draws the largest and "other").
MAX_SERIES_VALUES = 100
# Long shape: x values repeat (rows per distinct x at least this), and within one series they mostly
# do not (rows per (x, series) pair at most the other bound; more rows per pair are aggregated).
MIN_ROWS_PER_X = 1.5
MAX_ROWS_PER_PAIR = 2.0
# The long shape is first checked on this many leading rows (cheap refusal for most columns).
SERIES_SAMPLE_ROWS = 10_000
# Whole numbers in this range, each repeated (rows of many groups) in steps of a few years, are years
# when no date column exists and the name does not label things: an ordered x, never a measure to average.
YEAR_RANGE = (1800, 2100)
MAX_YEAR_STEP = 10
MIN_YEAR_VALUES = 3

_IDENTIFIER_NAME = re.compile(r"^(id|.*[_ .-]id|iso[_ .-].*|index|unnamed: ?\d+)$", re.IGNORECASE)
# Whole numbers under these names label things (store 2017, item no. 42): identifiers, never years or measures.
_NUMBER_LABEL_NAME = re.compile(r"(^|[_ .-])(no|nr|number|code|store|key)\.?$", re.IGNORECASE)
_YEAR_NAME = re.compile(r"(^|[_ .-])(year|yr|season)s?($|[_ .-])", re.IGNORECASE)
_DATE_TEXT = re.compile(
    r"^\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$"
    r"|^\d{4}/\d{1,2}/\d{1,2}$"
)


@dataclass(frozen=True)
class ColumnRoles:
    """The role of every column (in frame order), which columns are sorted, and category values."""

    roles: Mapping[str, str]
    sorted_columns: frozenset[str] = frozenset()
    #: For each category column, its values as text, most frequent first.
    category_values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    rows: int = 0
    numeric_columns: frozenset[str] = frozenset()
    #: Numeric or time columns with repeated values and few distinct ones (years, sizes): as x they group rows.
    discrete_columns: frozenset[str] = frozenset()
    #: First and last day of each time column (``YYYY-MM-DD``; years for year columns), for date pickers.
    time_spans: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: Long shape: for an x column (time or number), the category whose values are its series.
    series: Mapping[str, str] = field(default_factory=dict)
    #: Text columns that mostly hold numbers, each with its first cell that is not one (why it is no measure).
    mixed_text: Mapping[str, str] = field(default_factory=dict)

    def columns(self, role: str) -> list[str]:
        """The columns with ``role``, in frame order."""
        return [column for column, column_role in self.roles.items() if column_role == role]

    @property
    def time(self) -> list[str]:
        return self.columns(TIME)

    @property
    def category(self) -> list[str]:
        return self.columns(CATEGORY)

    @property
    def measure(self) -> list[str]:
        return self.columns(MEASURE)

    @property
    def identifier(self) -> list[str]:
        return self.columns(IDENTIFIER)

    @property
    def primary_time(self) -> str | None:
        """The time column date filters apply to: the first sorted one, else the first one."""
        times = self.time
        sorted_times = [column for column in times if column in self.sorted_columns]
        return (sorted_times or times or [None])[0]

    def is_sorted(self, column: str) -> bool:
        return column in self.sorted_columns

    def numeric(self) -> list[str]:
        """Columns a y axis can draw (numbers, not booleans), in frame order."""
        return [column for column in self.roles if column in self.numeric_columns]


#: What a column holds, judged by its type alone: the one rule tables, filters, previews and comparisons name it by.
BOOLEAN, INTEGER, NUMBER = "boolean", "integer", "number"


def value_kind(values: pd.Series) -> str:
    """BOOLEAN, INTEGER, NUMBER, TIME or TEXT (checked in that order: pandas counts booleans as numbers)."""
    if pd.api.types.is_bool_dtype(values):
        return BOOLEAN
    if pd.api.types.is_integer_dtype(values):
        return INTEGER
    if pd.api.types.is_numeric_dtype(values):
        return NUMBER
    if pd.api.types.is_datetime64_any_dtype(values):
        return TIME
    return TEXT


def is_date_text(values: pd.Series) -> bool:
    """Whether a text column holds dates like ``2018-01-01`` (checked on a sample)."""
    sample = values.dropna().head(DATE_SAMPLE_SIZE)
    if sample.empty or not (pd.api.types.is_string_dtype(sample) or sample.dtype == object):
        return False
    # A plain loop over the sample: Series.map keeps a categorical dtype, whose .all() raises.
    return all(isinstance(value, str) and _DATE_TEXT.match(value.strip()) for value in sample.tolist())


def parse_time_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with date-like text columns turned into datetimes, when every non-empty value parses."""
    converted = {}
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
            continue
        if not is_date_text(values):
            continue
        try:
            parsed = pd.to_datetime(values.str.strip(), format="ISO8601", errors="coerce")
        except (ValueError, OverflowError):  # e.g. dates with and without a time zone: stays text
            continue
        if parsed.isna().sum() == values.isna().sum():
            converted[column] = parsed
    # assign() shares the other columns' data (copy-on-write): no copy of the whole table.
    return frame.assign(**converted) if converted else frame


def detect_roles(frame: pd.DataFrame) -> ColumnRoles:
    """The role of each column of ``frame`` (run :func:`parse_time_columns` first)."""
    roles: dict[str, str] = {}
    sorted_columns: set[str] = set()
    category_values: dict[str, tuple[str, ...]] = {}
    numeric_columns: set[str] = set()
    discrete_columns: set[str] = set()
    time_spans: dict[str, tuple[str, str]] = {}
    mixed_text: dict[str, str] = {}
    dates = any(pd.api.types.is_datetime64_any_dtype(frame[column]) for column in frame.columns)
    for column in frame.columns:
        name = str(column)
        values = frame[column]
        role = _role_of(name, values, dates)
        roles[name] = role
        if role in (TEXT, CATEGORY):
            text_cells = text_among_numbers(values)
            if len(text_cells):
                mixed_text[name] = str(values.iloc[int(text_cells[0])])
        if _is_number(values):
            numeric_columns.add(name)
        if role == CATEGORY:
            counts = values.astype("string").value_counts(dropna=True)
            category_values[name] = tuple(str(value) for value in counts.index)
        if role == TIME and values.notna().any():
            time_spans[name] = (_day(values.min()), _day(values.max()))
        if _is_number(values) or pd.api.types.is_datetime64_any_dtype(values):
            if values.is_monotonic_increasing and not values.hasnans:
                sorted_columns.add(name)
            if _distinct_at_most(values, MAX_CATEGORY_VALUES) and not values.is_unique:
                discrete_columns.add(name)
    return ColumnRoles(
        roles,
        frozenset(sorted_columns),
        category_values,
        len(frame),
        frozenset(numeric_columns),
        frozenset(discrete_columns),
        time_spans,
        long_series(frame, roles, category_values, sorted_columns),
        mixed_text,
    )


def long_series(
    frame: pd.DataFrame,
    roles: Mapping[str, str],
    category_values: Mapping[str, tuple[str, ...]],
    sorted_columns: set[str] | frozenset[str] = frozenset(),
) -> dict[str, str]:
    """For each time or measure column that is the x of a long table, its series column (fewest rows per pair).

    A numeric x must also increase within each series: a step, not a petal length.
    """
    candidates = [
        column
        for column, values in category_values.items()
        if 2 <= len(values) <= MAX_SERIES_VALUES and not pd.api.types.is_bool_dtype(frame[column])
    ]
    series: dict[str, str] = {}
    codes: dict[str, tuple[np.ndarray, int]] = {}
    head = frame.head(SERIES_SAMPLE_ROWS)
    for x, role in roles.items():
        if role not in (TIME, MEASURE):
            continue
        numeric = role == MEASURE
        passing = [
            column for column in candidates if _rows_per_pair(_codes(head[x]), _codes(head[column]), head[x], numeric)
        ]
        if not passing:
            continue
        if x in sorted_columns and len(frame) < MIN_ROWS_PER_X * _distinct_sorted(frame[x]):
            continue  # a sorted x counts its distinct values in one pass: no hashing for wide tables
        x_codes = _codes(frame[x])
        if len(frame) < MIN_ROWS_PER_X * x_codes[1]:
            continue
        scores = []
        for column in passing:
            if column not in codes:  # each category column factorised once for all x columns
                codes[column] = _codes(frame[column])
            per_pair = _rows_per_pair(x_codes, codes[column], frame[x], numeric)
            if per_pair is not None:
                scores.append((per_pair, codes[column][1], column))
        if scores:
            series[x] = min(scores)[2]
    return series


def _distinct_sorted(values: pd.Series) -> int:
    """How many distinct values a sorted column without blanks holds."""
    array = values.to_numpy()
    return 1 + int(np.count_nonzero(array[1:] != array[:-1])) if len(array) else 0


def _codes(values: pd.Series) -> tuple[np.ndarray, int]:
    """Each value's code (-1 for blanks) and how many distinct values there are."""
    codes, uniques = pd.factorize(values)
    return codes, len(uniques)


def _rows_per_pair(
    x: tuple[np.ndarray, int], series: tuple[np.ndarray, int], x_values: pd.Series, numeric: bool
) -> float | None:
    """Rows per (x, series) pair when they are few enough for the long shape, else ``None``."""
    present = (x[0] >= 0) & (series[0] >= 0)
    rows = int(present.sum())
    if rows < 4:
        return None
    pair_codes = x[0][present].astype("int64") * series[1] + series[0][present]
    per_pair = rows / len(pd.unique(pair_codes))
    if per_pair > MAX_ROWS_PER_PAIR:
        return None
    if numeric and not bool((x_values[present].groupby(series[0][present]).diff().dropna() >= 0).all()):
        return None
    return per_pair


def _day(value: object) -> str:
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d")
    return f"{int(value):04d}-01-01"  # a year column


def _is_number(values: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)


def _role_of(name: str, values: pd.Series, dates: bool) -> str:
    """The column's role; ``dates`` when the table has a date column (then unnamed years are not time)."""
    if pd.api.types.is_datetime64_any_dtype(values):
        return TIME
    if pd.api.types.is_bool_dtype(values):
        return CATEGORY
    numeric = pd.api.types.is_numeric_dtype(values)
    if _IDENTIFIER_NAME.match(name) or (numeric and _NUMBER_LABEL_NAME.search(name)) or _distinct_at_most(values, 1):
        return IDENTIFIER
    if not numeric:
        limit = min(MAX_CATEGORY_VALUES, max(2, int(len(values) * MAX_CATEGORY_SHARE)))
        return CATEGORY if _distinct_at_most(values, limit) and _short_labels(values) else TEXT
    if pd.api.types.is_integer_dtype(values):
        if _YEAR_NAME.search(name) and values.min() >= 1000 and values.max() <= 3000:
            return TIME
        if not dates and _looks_like_years(values):
            return TIME
        if len(values) > 1 and values.is_monotonic_increasing and _steps_of_one(values):
            return IDENTIFIER  # 1, 2, 3, … row numbers: nothing to measure
    return MEASURE


def _looks_like_years(values: pd.Series) -> bool:
    """Repeated whole numbers within :data:`YEAR_RANGE` on a regular grid of a few years (1952, 1957, …)."""
    if len(values) < MIN_ROWS_PER_X * MIN_YEAR_VALUES or values.hasnans:
        return False
    low, high = YEAR_RANGE
    if values.min() < low or values.max() > high or not _distinct_at_most(values, MAX_CATEGORY_VALUES):
        return False
    years = np.sort(values.unique())  # hashing, not sorting all rows
    if len(years) < MIN_YEAR_VALUES or len(values) < MIN_ROWS_PER_X * len(years):
        return False
    step = int(np.diff(years).min())
    on_grid = bool(np.all((years - years[0]) % step == 0))
    # Most of the grid is present: a few missing years are gaps, not a different kind of number.
    return step <= MAX_YEAR_STEP and on_grid and len(years) * 2 > (years[-1] - years[0]) // step + 1


def _short_labels(values: pd.Series) -> bool:
    """Every distinct value fits on a label (category values go to pickers, axes and legends whole)."""
    return all(len(str(value)) <= DISPLAY_CELL_CHARS for value in values.dropna().unique())


def _steps_of_one(values: pd.Series) -> bool:
    """Consecutive integers (each value one more than the last), as row numbers are."""
    return int(values.iloc[-1]) - int(values.iloc[0]) == len(values) - 1 and values.is_unique


def _distinct_at_most(values: pd.Series, limit: int) -> bool:
    """``values.nunique() <= limit``, answered from a head sample first when that already says no."""
    head = values.head(10_000)
    if head.nunique(dropna=True) > limit:
        return False
    return values.nunique(dropna=True) <= limit
