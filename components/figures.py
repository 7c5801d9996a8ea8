"""The one place that turns (frame, column roles, view) into what the chart draws.

Three answers, all computed from the shared frame and the request alone (stateless, so any
worker answers any request):

* :func:`view_figure`: a whole figure, when the view changes;
* :func:`signature`: what a live update must keep; the page (``assets/take_up.js``) patches the
  traces' data in place when it is unchanged, and never the x axis or legend either way;
* :func:`zoom_patch`: the traces' data re-resolved for the visible x range.

Rows: the view's filters first; bars over a category x aggregate **all** those rows; other
charts draw at most ``max_points`` points per chart (shared by its traces, at least
``MIN_POINTS_PER_TRACE`` each), chosen by MinMaxLTTB on sorted x or a density-preserving
sample on unsorted x, and the title says "showing N of M points".

Figures are plain dicts (no plotly validation on the hot path); long numeric arrays travel as
base64 typed arrays (``{"dtype": "f8", "bdata": …}``), datetimes as epoch milliseconds on a
date axis.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from dash import Patch

from data_access.downsampling import as_numbers, density_sample, minmax_lttb, visible_bounds
from data_access.roles import CATEGORY, ColumnRoles, detect_roles, parse_time_columns
from data_access.view_state import ViewState, filter_rows

# Above this many points per trace plain SVG gets sluggish; WebGL draws them.
WEBGL_THRESHOLD = 5_000
# More bars than this are unreadable; such traces are drawn as lines (the title says so).
MAX_BARS = 2_000
TYPED_ARRAY_THRESHOLD = 1_000
MIN_POINTS_PER_TRACE = 1_000
# Colour groups: the largest ones get their own trace, the rest are pooled as "other".
MAX_GROUPS = 8
OTHER_GROUP = "other"
# Series whose sizes differ by this factor or more get a second y axis (unless y2=off).
SECOND_AXIS_RATIO = 100.0
PICK_A_COLUMN = "Pick a column for the y axis to draw a chart."


@dataclass
class Series:
    """One trace's data: what is drawn (``x``, ``y``) and how many rows stand behind it."""

    name: str
    column: str
    x: np.ndarray
    y: np.ndarray
    total: int


@dataclass
class Chart:
    """Everything a figure or a patch needs, for one view of one frame."""

    series: list[Series]
    kind: str  # as drawn: bars with too many points become lines
    aggregated: bool
    x_title: str
    x_type: str  # plotly axis type: "date", "category" or "-" (let plotly decide)
    rows: int  # rows the filters selected
    all_rows: int
    note: str = ""
    zoomed: bool = False
    #: Points each trace may draw; fixed for a view, so a zoom patch never needs another trace type.
    budget: int = 0

    @property
    def drawn(self) -> int:
        return sum(len(series.y) for series in self.series)

    @property
    def total(self) -> int:
        return sum(series.total for series in self.series)


def is_aggregated(view: ViewState, roles: ColumnRoles) -> bool:
    """A category x (or bars and lines over a time or number with few distinct values) aggregates rows."""
    if view.x is None:
        return False
    return roles.roles.get(view.x) == CATEGORY or (view.x in roles.discrete_columns and view.kind != "scatter")


def chart_for(
    frame: pd.DataFrame, roles: ColumnRoles, view: ViewState, max_points: int, x_range: list | None = None
) -> Chart:
    """The traces for a resolved ``view`` (see :meth:`ViewState.resolve`), within ``x_range`` if given."""
    rows = filter_rows(frame, view, roles)
    if is_aggregated(view, roles):
        return _aggregated(rows, roles, view, len(frame))
    return _sampled(rows, roles, view, max_points, x_range, len(frame))


def _group_labels(rows: pd.DataFrame, color: str | None) -> tuple[pd.Series | None, list[str]]:
    """Each row's colour group as text (small groups pooled as "other"), and the groups in legend order."""
    if color is None:
        return None, []
    labels = rows[color].astype("string").fillna("(blank)")
    counts = labels.value_counts()
    largest = [str(value) for value in counts.index[:MAX_GROUPS]]
    if len(counts) > MAX_GROUPS:
        labels = labels.where(labels.isin(largest), OTHER_GROUP)
        largest.append(OTHER_GROUP)
    return labels, largest


def _aggregated(rows: pd.DataFrame, roles: ColumnRoles, view: ViewState, all_rows: int) -> Chart:
    labels, groups = _group_labels(rows, view.color)
    keys: list[Any] = [rows[view.x]] if labels is None else [rows[view.x], labels.rename("__group")]
    table = rows[list(view.y)].groupby(keys, observed=True, sort=True, dropna=False).agg(view.agg)
    category = roles.roles.get(view.x) == CATEGORY
    series = []
    for column in view.y:
        for group in groups or [None]:
            values = table[column] if group is None else table[column].xs(group, level="__group", drop_level=True)
            x = _x_values(values.index.to_series()) if category else values.index.to_numpy()
            y = values.to_numpy(dtype="float64")
            series.append(Series(_trace_name(view, column, group), column, x, y, len(rows)))
    return Chart(
        series,
        kind=view.kind,
        aggregated=True,
        x_title=view.x,
        x_type="category" if category else _axis_type(rows, view.x),
        rows=len(rows),
        all_rows=all_rows,
        note=f"{view.agg} per {view.x} over all {len(rows):,} rows",
    )


def _trace_name(view: ViewState, column: str, group: str | None) -> str:
    """The column, the colour group, or both when there are several y columns."""
    if group is None:
        return column
    return group if len(view.y or ()) == 1 else f"{column} · {group}"


def _sampled(
    rows: pd.DataFrame, roles: ColumnRoles, view: ViewState, max_points: int, x_range: list | None, all_rows: int
) -> Chart:
    labels, groups = _group_labels(rows, view.color)
    traces = len(view.y) * max(1, len(groups))
    budget = min(max_points, max(MIN_POINTS_PER_TRACE, max_points // traces))
    x_all = _x_values(rows[view.x])
    is_sorted = roles.is_sorted(view.x)
    low, high = _range_numbers(x_range, x_all)
    series = []
    for group in groups or [None]:
        in_group = None if group is None else (labels == group).to_numpy()
        x_group = x_all if in_group is None else x_all[in_group]
        columns = {column: rows[column].to_numpy() for column in view.y}
        if in_group is not None:
            columns = {column: values[in_group] for column, values in columns.items()}
        for column, picked_x, picked_y, total in _pick(x_group, columns, is_sorted, view.kind, budget, low, high):
            series.append(Series(_trace_name(view, column, group), column, picked_x, picked_y, total))
    # Decided on the selected rows, not the zoomed slice: a zoom patch cannot change trace types.
    kind = "line" if view.kind == "bar" and len(rows) > MAX_BARS else view.kind
    return Chart(
        series,
        kind=kind,
        aggregated=False,
        x_title=view.x,
        x_type="category" if roles.roles.get(view.x) == CATEGORY else _axis_type(rows, view.x),
        rows=len(rows),
        all_rows=all_rows,
        note="drawn as lines: too many rows for bars" if kind != view.kind else "",
        zoomed=low is not None or high is not None,
        budget=budget,
    )


def _pick(
    x: np.ndarray,
    columns: dict[str, np.ndarray],
    is_sorted: bool,
    kind: str,
    budget: int,
    low: float | None,
    high: float | None,
) -> list[tuple[str, np.ndarray, np.ndarray, int]]:
    """Per y column: the x and y to draw and how many rows were in range."""
    if is_sorted:
        start, stop = visible_bounds(x, low, high)
        x_visible = x[start:stop]
        picked = []
        for column, values in columns.items():
            index = minmax_lttb(x_visible, values[start:stop], budget)
            picked.append((column, x_visible[index], values[start:stop][index], stop - start))
        return picked
    visible = np.arange(len(x))
    if low is not None or high is not None:
        numbers = as_numbers(x) if x.dtype.kind in "iufbM" else None
        if numbers is not None:
            visible = np.flatnonzero(
                (numbers >= (low if low is not None else -np.inf)) & (numbers <= (high if high is not None else np.inf))
            )
    index = visible[density_sample(len(visible), budget, [values[visible] for values in columns.values()])]
    if kind in ("line", "area") and x.dtype.kind in "iufM":
        index = index[np.argsort(x[index], kind="stable")]  # lines over unsorted x: draw in x order
    return [(column, x[index], values[index], len(visible)) for column, values in columns.items()]


def _x_values(values: pd.Series) -> np.ndarray:
    """A column as a numpy array; time zones become UTC (plotly has no time zones)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_convert("UTC").dt.tz_localize(None)
    if pd.api.types.is_bool_dtype(values) or not (
        pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values)
    ):
        return values.astype("string").fillna("(blank)").to_numpy(dtype=object)
    return values.to_numpy()


def _axis_type(rows: pd.DataFrame, column: str) -> str:
    return "date" if pd.api.types.is_datetime64_any_dtype(rows[column]) else "-"


def _range_numbers(x_range: list | None, x: np.ndarray) -> tuple[float | None, float | None]:
    """The visible x range from plotly (numbers, or date strings on a date axis) in ``as_numbers`` units."""
    if not isinstance(x_range, list | tuple) or len(x_range) != 2:
        return None, None
    try:
        if x.dtype.kind == "M":
            unit = np.datetime_data(x.dtype)[0]
            bounds = [
                pd.Timestamp(value).to_datetime64().astype(f"datetime64[{unit}]").view("int64") for value in x_range
            ]
        elif x.dtype.kind in "iuf":
            bounds = [float(value) for value in x_range]
        else:
            return None, None
    except (TypeError, ValueError, OverflowError):
        return None, None
    low, high = sorted(bounds)
    return low, high


# -- figure dicts and patches ----------------------------------------------------------


def _encode(values: np.ndarray) -> Any:
    """Values for plotly: long numbers as base64 typed arrays, datetimes as epoch milliseconds."""
    if values.dtype.kind == "M":
        values = values.astype("datetime64[ms]").view("int64").astype("float64")
    if values.dtype.kind not in "iuf":
        return values.tolist()
    if len(values) <= TYPED_ARRAY_THRESHOLD:
        return [None if isinstance(value, float) and math.isnan(value) else value for value in values.tolist()]
    if (
        values.dtype.kind in "iu"
        and len(values)
        and np.iinfo(np.int32).min <= values.min()
        and (values.max() <= np.iinfo(np.int32).max)
    ):
        encoded, dtype = values.astype("<i4"), "i4"
    else:
        encoded, dtype = values.astype("<f8"), "f8"
    return {"dtype": dtype, "bdata": base64.b64encode(encoded.tobytes()).decode("ascii")}


def _second_axis(chart: Chart, view: ViewState) -> set[str]:
    """The y columns drawn on a second axis: those above the widest gap of sizes, if it spans 100×."""
    if view.y2 == "off" or len(view.y or ()) < 2:
        return set()
    sizes: dict[str, float] = {}
    for series in chart.series:
        finite = np.abs(series.y[np.isfinite(series.y)]) if series.y.dtype.kind == "f" else np.abs(series.y)
        if len(finite):
            sizes[series.column] = max(sizes.get(series.column, 0.0), float(finite.max()))
    ordered = sorted((size, column) for column, size in sizes.items() if size > 0)
    if len(ordered) < 2:
        return set()
    gaps = [(ordered[i + 1][0] / ordered[i][0], i) for i in range(len(ordered) - 1)]
    ratio, at = max(gaps)
    return {column for _, column in ordered[at + 1 :]} if ratio >= SECOND_AXIS_RATIO else set()


def _trace_style(chart: Chart) -> dict[str, Any]:
    if chart.kind == "bar":
        return {"type": "bar"}
    # The most points a trace of this view can ever get (a zoom never changes it): SVG up to the threshold.
    webgl = min(chart.rows, chart.budget) > WEBGL_THRESHOLD and not chart.aggregated
    style: dict[str, Any] = {"type": "scattergl" if webgl else "scatter"}
    style["mode"] = "markers" if chart.kind == "scatter" else "lines"
    if chart.kind == "area":
        style["fill"] = "tozeroy"  # each series to zero: never an implied stacked sum
    return style


def _value_title(chart: Chart, view: ViewState, column: str) -> str:
    return f"{view.agg} of {column}" if chart.aggregated else column


def _subtitle(chart: Chart) -> str:
    parts = [f"{chart.all_rows:,} row" if chart.all_rows == 1 else f"{chart.all_rows:,} rows"]
    if chart.rows != chart.all_rows:
        parts.append(f"{chart.rows:,} selected by the filters")
    if chart.note:
        parts.append(chart.note)
    in_view = " in view" if chart.zoomed else ""
    if not chart.aggregated and (chart.drawn < chart.total or chart.zoomed):
        parts.append(f"showing {chart.drawn:,} of {chart.total:,} points{in_view}")
    return " · ".join(parts)


def signature(chart: Chart, view: ViewState) -> list[Any]:
    """What a patch cannot change: each trace's name, type and axis, and the x axis type."""
    on_second = _second_axis(chart, view)
    traces = [[series.name, _trace_style(chart), series.column in on_second] for series in chart.series]
    return [chart.x_type, traces]


def figure_from(chart: Chart, view: ViewState) -> dict[str, Any]:
    """A whole plotly figure (dict) for ``chart``."""
    on_second = _second_axis(chart, view)
    traces = []
    for index, series in enumerate(chart.series):
        trace = {**_trace_style(chart), "name": series.name, "x": _encode(series.x), "y": _encode(series.y)}
        if series.column in on_second:
            trace["yaxis"] = "y2"
        if chart.kind == "bar":
            trace["offsetgroup"] = str(index)  # bars on two axes side by side, not on top of each other
        traces.append(trace)
    first_axis = [column for column in dict.fromkeys(s.column for s in chart.series) if column not in on_second]
    layout: dict[str, Any] = {
        # A new view starts unzoomed; the same view keeps the user's zoom across live updates.
        "uirevision": view.to_query() or "default-view",
        # Just above the plot area, under the toolbar's row (a long subtitle never runs under the toolbar).
        "title": {
            "text": _subtitle(chart),
            "font": {"size": 13},
            "x": 0,
            "xref": "paper",
            "y": 1,
            "yref": "paper",
            "yanchor": "bottom",
            "pad": {"b": 6},
        },
        "xaxis": {"title": {"text": chart.x_title}, "type": chart.x_type, "automargin": True},
        "yaxis": {"title": {"text": ", ".join(_value_title(chart, view, c) for c in first_axis)}, "automargin": True},
        "barmode": "group",
        # Under the plot: the toolbar sits top right and must not cover the legend.
        "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0, "xanchor": "left"},
        "margin": {"l": 60, "r": 20, "t": 56, "b": 40},
        "template": "plotly_white",
    }
    if on_second:
        second = [column for column in dict.fromkeys(s.column for s in chart.series) if column in on_second]
        layout["yaxis2"] = {
            "title": {"text": ", ".join(_value_title(chart, view, c) for c in second)},
            "overlaying": "y",
            "side": "right",
            "showgrid": False,
            "automargin": True,
        }
    return {"data": traces, "layout": layout}


def data_patch(chart: Chart) -> Patch:
    """Replace only the traces' x/y and the title (zoom, legend and axes stay as the user left them)."""
    patch = Patch()
    for index, series in enumerate(chart.series):
        patch["data"][index]["x"] = _encode(series.x)
        patch["data"][index]["y"] = _encode(series.y)
    patch["layout"]["title"]["text"] = _subtitle(chart)
    return patch


def view_figure(
    frame: pd.DataFrame, roles: ColumnRoles, view: ViewState, max_points: int, chart: Chart | None = None
) -> tuple[Any, list]:
    """The whole figure for a resolved view, and its :func:`signature` (``chart``: already computed)."""
    if not view.y:
        return message_figure(PICK_A_COLUMN), []
    chart = chart or chart_for(frame, roles, view, max_points)
    return figure_from(chart, view), signature(chart, view)


def zoom_patch(
    frame: pd.DataFrame, roles: ColumnRoles, view: ViewState, max_points: int, x_range: list | None
) -> Patch | None:
    """The traces re-resolved for the visible ``x_range`` (None: the whole range); None for aggregates."""
    if not view.y or is_aggregated(view, roles):
        return None
    return data_patch(chart_for(frame, roles, view, max_points, x_range))


def default_figure(frame: pd.DataFrame, max_points: int) -> dict[str, Any]:
    """The chart a table gets with no choices made (the admin preview: "as it will look")."""
    frame = parse_time_columns(frame)
    roles = detect_roles(frame)
    view, _ = ViewState().resolve(roles)
    return view_figure(frame, roles, view, max_points)[0]


def message_figure(message: str) -> dict[str, Any]:
    """An empty chart that says why there is nothing to show."""
    return {
        "data": [],
        "layout": {
            "uirevision": "message",
            "xaxis": {"visible": False},
            "yaxis": {"visible": False},
            "annotations": [{"text": message, "showarrow": False, "font": {"size": 16}}],
            "template": "plotly_white",
        },
    }
