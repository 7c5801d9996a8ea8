"""The chart's view (columns, chart type, aggregation, colour, filters) and its URL form.

A view travels in the query string, so a copied link opens the same view::

    ?x=date&y=GOOG,AAPL&kind=line&agg=mean&color=continent&from=2018-01-01&to=2018-06-30&f.day=Sat&f.day=Sun

plus ``y2=on|off`` (second y axis), ``changes=1`` ("What changed") and ``vs=<version>``. ``None``
fields take the data's defaults (:meth:`ViewState.resolve`); ``y=`` (empty) means the person cleared
it. Nothing here raises on bad input: unknown or stale parameters are dropped with a short notice.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import numpy as np
import pandas as pd

from data_access.roles import CATEGORY, ColumnRoles

KINDS = ("line", "bar", "scatter", "area")
AGGREGATIONS = ("sum", "mean", "median", "min", "max", "count")
SECOND_AXIS = ("on", "off")
FILTER_PREFIX = "f."
# Longer query strings are cut: a URL is not a place to smuggle megabytes into every callback.
MAX_QUERY_CHARS = 4_000
MAX_FILTER_VALUES = 50
#: ``vs``: a version's number (``v12``) or a storage generation (digits).
VERSION_TEXT = re.compile(r"v?[0-9]+")
MAX_VERSION_CHARS = 40
# The bundled sample keeps the seed's chart: add_num and multiply_num by ID, as bars.
SAMPLE_Y = ("add_num", "multiply_num")
SAMPLE_MAX_BARS = 2_000
DEFAULT_AGGREGATION = "mean"
MAX_DEFAULT_MEASURES = 6
#: Colour groups drawn as their own traces (the rest are pooled as "other"); a default colour has no more.
MAX_GROUPS = 8


@dataclass(frozen=True)
class ViewState:
    """One chart view; ``None`` fields take the data's defaults."""

    x: str | None = None
    y: tuple[str, ...] | None = None
    kind: str | None = None
    agg: str | None = None
    color: str | None = None
    date_from: str | None = None
    date_to: str | None = None
    filters: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    y2: str | None = None
    changes: bool = False
    vs: str | None = None

    # -- URL ---------------------------------------------------------------------------

    @classmethod
    def from_query(cls, search: str | None) -> tuple[ViewState, list[str]]:
        """Parse a query string (with or without ``?``); second item: notices about what was ignored."""
        text = search.lstrip("?") if isinstance(search, str) else ""
        notices: list[str] = []
        if len(text) > MAX_QUERY_CHARS:
            text = text[:MAX_QUERY_CHARS].rsplit("&", 1)[0]
            notices.append("The link was too long; its end was ignored.")
        values: dict[str, Any] = {}
        filters: dict[str, list[str]] = {}
        for key, value in parse_qsl(text, keep_blank_values=True):
            if key.startswith(FILTER_PREFIX) and len(key) > len(FILTER_PREFIX):
                column_values = filters.setdefault(key[len(FILTER_PREFIX) :], [])
                if value and value not in column_values and len(column_values) < MAX_FILTER_VALUES:
                    column_values.append(value)
            elif key in _PARSERS:
                parsed, notice = _PARSERS[key](value)
                if notice:
                    notices.append(notice)
                elif parsed is not None or key == "y":
                    values[_FIELD_OF.get(key, key)] = parsed
            else:
                notices.append(f"Ignored the unknown link parameter “{key}”.")
        filters_tuple = {column: tuple(chosen) for column, chosen in filters.items() if chosen}
        return cls(**values, filters=filters_tuple), notices

    def to_query(self) -> str:
        """The query string for this view (``?…``), or ``""`` when everything is default."""
        y = None if self.y is None else ",".join(self.y)
        named = {"x": self.x, "y": y, "kind": self.kind, "agg": self.agg, "color": self.color}
        named.update({"from": self.date_from, "to": self.date_to, "y2": self.y2})
        pairs = [(key, value) for key, value in named.items() if value is not None]
        for column, chosen in self.filters.items():
            pairs.extend((f"{FILTER_PREFIX}{column}", value) for value in chosen)
        if self.changes:
            pairs.append(("changes", "1"))
            if self.vs is not None:
                pairs.append(("vs", self.vs))
        if not pairs:
            return ""
        return "?" + urlencode(pairs, quote_via=quote, safe=",:")

    # -- dcc.Store --------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (for a ``dcc.Store``)."""
        return {
            **asdict(self),
            "y": list(self.y) if self.y is not None else None,  # lists, as the browser sends it back
            "filters": {column: list(values) for column, values in self.filters.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> ViewState:
        """The inverse of :meth:`to_dict`; anything malformed becomes the default."""
        if not isinstance(data, Mapping):
            return cls()
        # The store comes back from the browser: re-check it as if it were a link.
        view, _ = cls.from_query(cls._unchecked(data).to_query())
        return view

    @classmethod
    def _unchecked(cls, data: Mapping[str, Any]) -> ViewState:
        def text(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        y = data.get("y")
        filters = data.get("filters") if isinstance(data.get("filters"), Mapping) else {}
        return cls(
            **{name: text(name) for name in ("x", "kind", "agg", "color", "date_from", "date_to", "y2", "vs")},
            y=tuple(str(column) for column in y) if isinstance(y, list | tuple) else None,
            filters={
                str(column): tuple(str(value) for value in values)
                for column, values in filters.items()
                if isinstance(values, list | tuple)
            },
            changes=data.get("changes") is True,
        )

    # -- against the data -------------------------------------------------------------

    def resolve(self, roles: ColumnRoles) -> tuple[ViewState, list[str]]:
        """This view made valid for ``roles``: stale columns dropped (with notices), defaults filled in."""
        view, notices = self._fit(roles)
        return view._with_defaults(roles), notices

    def _fit(self, roles: ColumnRoles) -> tuple[ViewState, list[str]]:
        notices: list[str] = []
        columns = set(roles.roles)

        def stale(column: str, what: str) -> None:
            notices.append(f"Column “{column}” is not in this data {what}; showing the default.")

        x = self.x
        if x is not None and x not in columns:
            stale(x, "(x axis)")
            x = None
        y = self.y
        if y is not None:
            drawable = set(roles.numeric()) if self.agg != "count" else columns
            kept = tuple(column for column in y if column in drawable)
            for column in y:
                if column not in drawable:
                    notices.append(f"Column “{column}” cannot be drawn on the y axis here; it was left out.")
            y = kept if kept or not y else None
        color = self.color
        if color is not None and (roles.roles.get(color) != CATEGORY or color == x):
            stale(color, "as a colour")
            color = None
        filters = {}
        for column, chosen in self.filters.items():
            known = set(roles.category_values.get(column, ()))
            kept_values = tuple(value for value in chosen if value in known)
            if kept_values:
                filters[column] = kept_values
            else:
                notices.append(f"The filter on “{column}” matches nothing in this data; it was dropped.")
        date_from, date_to = self.date_from, self.date_to
        if (date_from or date_to) and roles.primary_time is None:
            notices.append("This data has no time column; the date range was dropped.")
            date_from = date_to = None
        fitted = replace(self, x=x, y=y, color=color, filters=filters, date_from=date_from, date_to=date_to)
        return fitted, notices

    def _with_defaults(self, roles: ColumnRoles) -> ViewState:
        default = default_view(roles)
        x = self.x if self.x is not None else default.x
        # A long table's series colour comes with its default x only: a chosen x without a colour means none.
        color = self.color if self.color is not None or self.x is not None else default.color
        y = self.y
        if y is None:
            y = default.y if x == default.x else _default_measures(roles, x)
        kind = self.kind or (default.kind if x == default.x else _default_kind(roles, x))
        agg = self.agg or (default.agg if x == default.x else None) or DEFAULT_AGGREGATION
        return replace(self, x=x, y=y, kind=kind, agg=agg, color=color)


def default_view(roles: ColumnRoles) -> ViewState:
    """The honest default chart for these columns: the sample's bars; counts of text; one line per series of a long
    table; lines over a time whose values repeat (years of many countries), coloured by a small
    category; lines over a sorted time; mean bars per category; else points (lines when x is sorted)."""
    columns = list(roles.roles)
    if set(SAMPLE_Y) <= set(columns):
        x = "ID" if "ID" in columns else columns[0]
        return ViewState(x=x, y=SAMPLE_Y, kind="bar" if roles.rows <= SAMPLE_MAX_BARS else "line")
    if roles.category and not roles.measure and not roles.mixed_text:
        return _count_view(roles)
    time = roles.primary_time
    long_time = next((column for column in roles.time if column in roles.series), None)
    if long_time is not None:
        return _long_view(roles, long_time)
    repeated_time = next((column for column in roles.time if column in roles.discrete_columns), None)
    if repeated_time is not None:
        return _per_time_view(roles, repeated_time)
    if time is not None and roles.is_sorted(time):
        return ViewState(x=time, y=_default_measures(roles, time), kind="line")
    long_number = next((column for column in roles.measure if column in roles.series), None)
    if long_number is not None:
        return _long_view(roles, long_number)
    if roles.category:
        x = min(roles.category, key=lambda column: len(roles.category_values.get(column, ())))
        return ViewState(x=x, y=_default_measures(roles, x), kind="bar", agg=DEFAULT_AGGREGATION)
    x = time or _first_sorted(roles) or (roles.measure or columns or [None])[0]
    return ViewState(x=x, y=_default_measures(roles, x), kind=_default_kind(roles, x))


def _count_view(roles: ColumnRoles) -> ViewState:
    """Text only (survey answers): bars of rows per value of the smallest category, coloured by the next if it fits."""
    x, *others = sorted(roles.category, key=lambda column: len(roles.category_values.get(column, ())))
    color = next((column for column in others if len(roles.category_values.get(column, ())) <= MAX_GROUPS), None)
    return ViewState(x=x, y=(x,), kind="bar", agg="count", color=color)


def _long_view(roles: ColumnRoles, x: str) -> ViewState:
    """One line per series of a long table over ``x``."""
    series = roles.series[x]
    return ViewState(x=x, y=_default_measures(roles, x), kind="line", agg=DEFAULT_AGGREGATION, color=series)


def _per_time_view(roles: ColumnRoles, x: str) -> ViewState:
    """Lines over a repeated time, rows sharing a time aggregated: a quantity is never averaged across times.

    Coloured by the smallest category (at most :data:`MAX_GROUPS` values), then one measure (the first)
    keeps the chart readable; the title says the others are a click away.
    """
    colours = [column for column in roles.category if 2 <= len(roles.category_values.get(column, ())) <= MAX_GROUPS]
    measures = _default_measures(roles, x)
    if not colours:
        return ViewState(x=x, y=measures, kind="line", agg=DEFAULT_AGGREGATION)
    color = min(colours, key=lambda column: len(roles.category_values[column]))
    return ViewState(x=x, y=measures[:1], kind="line", agg=DEFAULT_AGGREGATION, color=color)


def _default_measures(roles: ColumnRoles, x: str | None) -> tuple[str, ...]:
    return tuple(column for column in roles.measure if column != x)[:MAX_DEFAULT_MEASURES]


def _default_kind(roles: ColumnRoles, x: str | None) -> str:
    if x is not None and roles.roles.get(x) == CATEGORY:
        return "bar"
    return "line" if x is not None and roles.is_sorted(x) else "scatter"


def _first_sorted(roles: ColumnRoles) -> str | None:
    return next((column for column in roles.roles if roles.is_sorted(column)), None)


def filter_rows(frame: pd.DataFrame, view: ViewState, roles: ColumnRoles) -> pd.DataFrame:
    """The rows the view's filters select: ``from``/``to`` on the time column, ``f.<column>`` values.

    Without filters the frame itself comes back (no copy); a sorted time column is sliced by binary search.
    """
    result = frame
    time = roles.primary_time
    if time is not None and (view.date_from or view.date_to):
        result = _date_range(result, time, view.date_from, view.date_to, roles.is_sorted(time))
    for column, chosen in view.filters.items():
        if column not in result.columns:
            continue
        values = result[column]
        text = values if pd.api.types.is_string_dtype(values) else values.astype("string")
        result = result[text.isin(chosen).to_numpy()]
    return result


def _date_range(frame: pd.DataFrame, column: str, start: str | None, end: str | None, is_sorted: bool) -> pd.DataFrame:
    values = _comparable(frame[column])
    low = _bound(values, start)
    high = _bound(values, end)
    # A bare date as ``to`` includes that whole day: everything before the next midnight.
    end_is_day = high is not None and len(end.strip()) <= 10 and values.dtype.kind == "M"
    if end_is_day:
        high = high + np.timedelta64(1, "D")
    if is_sorted:
        first = 0 if low is None else int(np.searchsorted(values, low, side="left"))
        side = "left" if end_is_day else "right"
        last = len(values) if high is None else int(np.searchsorted(values, high, side=side))
        return frame.iloc[first:last]
    mask = np.ones(len(values), dtype=bool)
    if low is not None:
        mask &= values >= low
    if high is not None:
        mask &= (values < high) if end_is_day else (values <= high)
    return frame[mask]


def _comparable(values: pd.Series) -> np.ndarray:
    """The column as a plain numpy array (time zones as UTC), which compares with numpy scalars."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values.to_numpy()


def _bound(values: np.ndarray, text: str | None) -> Any:
    """A ``from``/``to`` value in the column's own type (a year for integer year columns)."""
    if not text:
        return None
    stamp = pd.Timestamp(text.strip())
    if values.dtype.kind != "M":
        return stamp.year
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return stamp.to_datetime64()  # numpy compares across resolutions (s, us, ns)


def _choice(key: str, allowed: tuple[str, ...]) -> Any:
    def parse(value: str) -> tuple[str | None, str | None]:
        if value in allowed:
            return value, None
        return None, f"Ignored {key}={value!r}: use one of {', '.join(allowed)}."

    return parse


def _parse_switch(value: str) -> tuple[bool | None, str | None]:
    if value in ("1", "0"):
        return value == "1", None
    return None, f"Ignored changes={value!r}: use changes=1 (or leave it out)."


def _parse_version(value: str) -> tuple[str | None, str | None]:
    version = value.strip()
    if not version:
        return None, None
    if len(version) > MAX_VERSION_CHARS or not VERSION_TEXT.fullmatch(version):
        return None, f"Ignored vs={value[:MAX_VERSION_CHARS]!r}: name a version like v12, or its generation."
    return version, None


def _parse_date(value: str) -> tuple[str | None, str | None]:
    if not value.strip():
        return None, None
    try:
        pd.Timestamp(value.strip())
    except (ValueError, TypeError, OverflowError):
        return None, f"Ignored the date {value!r}: write it like 2024-01-31."
    return value.strip(), None


_PARSERS = {
    "x": lambda value: (value.strip() or None, None),
    "y": lambda value: (tuple(column.strip() for column in value.split(",") if column.strip()), None),
    "kind": _choice("kind", KINDS),
    "agg": _choice("agg", AGGREGATIONS),
    "color": lambda value: (value.strip() or None, None),
    "from": _parse_date,
    "to": _parse_date,
    "y2": _choice("y2", SECOND_AXIS),
    "changes": _parse_switch,
    "vs": _parse_version,
}
_FIELD_OF = {"from": "date_from", "to": "date_to"}
