"""The one place that turns (frame, column roles, view) into what the chart draws, statelessly.

:func:`view_figure` makes a whole figure and its :func:`signature` (while it is unchanged,
``assets/take_up.js`` patches the traces' data in place: live updates and zooms). Bars over a category
aggregate all filtered rows; other charts draw at most ``max_points`` points (MinMaxLTTB on sorted x,
a density-preserving sample otherwise). Figures are plain dicts; long numbers travel as typed arrays.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from data_access.downsampling import as_numbers, density_sample, minmax_lttb, visible_bounds
from data_access.parsing import shorten_text
from data_access.roles import CATEGORY, ColumnRoles, detect_roles, parse_time_columns
from data_access.view_state import MAX_GROUPS, ViewState, filter_rows

# Above this many points per trace plain SVG gets sluggish; WebGL draws them.
WEBGL_THRESHOLD = 5_000
# More bars than this are unreadable; such traces are drawn as lines (the title says so).
MAX_BARS = 2_000
TYPED_ARRAY_THRESHOLD = 1_000
MIN_POINTS_PER_TRACE = 1_000
OTHER_GROUP = "other"
# Measures whose peaks differ by more than this factor never share an axis (see :func:`axis_plan`)…
SECOND_AXIS_RATIO = 100.0
# …and once they are split, each axis holds measures within this factor of each other.
SHARED_AXIS_RATIO = 10.0
# Axis titles longer than this are shortened (the full names are in the legend and the hover).
MAX_AXIS_TITLE_CHARS = 48
# An integer x spanning at most this many steps gets a tick at every integer (never "1,931.2").
MAX_INTEGER_TICKS = 12
# Small multiples: the gap above each panel (its name sits there), as a share of the plot's height.
PANEL_GAP = 0.06
# plotly.js's default colours, named so that one series keeps its colour in every panel.
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
# "What changed": the version before drawn faint and dashed behind the current one.
GHOST_OPACITY = 0.45
GHOST_COLOUR = "#7f7f7f"
PICK_A_COLUMN = "Pick a column for the y axis to draw a chart."
# The title starts this far below the chart's top edge (under the toolbar's row, measured in Chromium);
# the plot's top margin holds it and one title line, and grows by a line's height for each further line.
TITLE_TOP = 40
TOP_MARGIN = 58
TITLE_LINE_HEIGHT = 17


@dataclass
class Series:
    """One trace's data: what is drawn (``x``, ``y``), how many rows stand behind it, its colour group."""

    name: str
    column: str
    x: np.ndarray
    y: np.ndarray
    total: int
    group: str | None = None


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
    #: What the table holds that is not drawn, in words ("6 of 23 measures…").
    left_out: list[str] = field(default_factory=list)


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
        chart = _aggregated(rows, roles, view, len(frame))
    else:
        chart = _sampled(rows, roles, view, max_points, x_range, len(frame))
    chart.left_out = _left_out(rows, roles, view)
    return chart


def _group_labels(rows: pd.DataFrame, view: ViewState) -> tuple[pd.Series | None, list[str]]:
    """Each row's colour group as text (small groups pooled as "other"), and the groups in legend order.

    The largest groups by rows, ties by the first measure's total: one row per country and year gives every
    country the same count, and the 8 largest must not be the first 8 alphabetically.
    """
    if view.color is None:
        return None, []
    measure = view.y[0] if view.y else None
    labels = rows[view.color].astype("string").fillna("(blank)")
    counts = labels.value_counts()
    largest = [str(value) for value in counts.index[:MAX_GROUPS]]
    if len(counts) > MAX_GROUPS and measure is not None and rows[measure].dtype.kind in "iuf":
        sizes = pd.DataFrame({"rows": counts, "total": rows[measure].abs().groupby(labels).sum()})
        ranked = sizes.sort_values(["rows", "total"], ascending=False, kind="stable")
        largest = [str(value) for value in ranked.index[:MAX_GROUPS]]
    if len(counts) > MAX_GROUPS:
        labels = labels.where(labels.isin(largest), OTHER_GROUP)
        largest.append(OTHER_GROUP)
    return labels, largest


def _aggregated(rows: pd.DataFrame, roles: ColumnRoles, view: ViewState, all_rows: int) -> Chart:
    labels, groups = _group_labels(rows, view)
    # Renamed: a key named like a y column would take that column out of the table (counts of x by x).
    keys: list[Any] = [rows[view.x].rename("__x")] + ([] if labels is None else [labels.rename("__group")])
    table = rows[list(view.y)].groupby(keys, observed=True, sort=True, dropna=False).agg(view.agg)
    category = roles.roles.get(view.x) == CATEGORY
    series = []
    for column in view.y:
        for group in groups or [None]:
            values = table[column] if group is None else table[column].xs(group, level="__group", drop_level=True)
            x = _x_values(values.index.to_series()) if category else values.index.to_numpy()
            y = values.to_numpy(dtype="float64")
            series.append(Series(_trace_name(view, column, group), column, x, y, len(rows), group))
    return Chart(
        series,
        kind=view.kind,
        aggregated=True,
        x_title=view.x,
        x_type="category" if category else _axis_type(rows, view.x),
        rows=len(rows),
        all_rows=all_rows,
        note=f"{view.agg} per {view.x}{f' and {view.color}' if view.color else ''}",
    )


def _trace_name(view: ViewState, column: str, group: str | None) -> str:
    """The column, the colour group, or both when there are several y columns."""
    if group is None:
        return column
    return group if len(view.y or ()) == 1 else f"{column} · {group}"


def _sampled(
    rows: pd.DataFrame, roles: ColumnRoles, view: ViewState, max_points: int, x_range: list | None, all_rows: int
) -> Chart:
    labels, groups = _group_labels(rows, view)
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
        group_sorted = is_sorted
        if in_group is not None:
            columns = {column: values[in_group] for column, values in columns.items()}
            if view.kind != "scatter":
                x_group, columns, group_sorted = _one_series(x_group, columns, view.agg, is_sorted)
        for column, picked_x, picked_y, total in _pick(x_group, columns, group_sorted, view.kind, budget, low, high):
            series.append(Series(_trace_name(view, column, group), column, picked_x, picked_y, total, group))
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


def _one_series(
    x: np.ndarray, columns: dict[str, np.ndarray], agg: str, is_sorted: bool
) -> tuple[np.ndarray, dict[str, np.ndarray], bool]:
    """One colour group's rows as a line: in x order, rows sharing an x aggregated with ``agg`` (no zig-zag).

    Third item: whether x is now sorted (then downsampling and zoom use a binary search).
    """
    if x.dtype.kind not in "iufM":
        return x, columns, is_sorted
    known = ~np.isnat(x) if x.dtype.kind == "M" else ~np.isnan(x) if x.dtype.kind == "f" else None
    if known is not None and not known.all():
        x, columns = x[known], {column: values[known] for column, values in columns.items()}
    if len(x) > 1 and not (x[1:] >= x[:-1]).all():
        order = np.argsort(x, kind="stable")
        x, columns = x[order], {column: values[order] for column, values in columns.items()}
    numeric = all(values.dtype.kind in "iufb" for values in columns.values())
    if numeric and len(x) > 1 and (x[1:] == x[:-1]).any():
        table = pd.DataFrame(columns).groupby(x, sort=False).agg(agg)
        x, columns = table.index.to_numpy(), {column: table[column].to_numpy() for column in columns}
    return x, columns, True


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
        return shorten_text(values.astype("string").fillna("(blank)")).to_numpy(dtype=object)
    return values.to_numpy()


def _axis_type(rows: pd.DataFrame, column: str) -> str:
    return "date" if pd.api.types.is_datetime64_any_dtype(rows[column]) else "-"


def _range_numbers(x_range: list | None, x: np.ndarray) -> tuple[float | None, float | None]:
    """The visible x range from plotly (numbers, or date strings on a date axis) in ``as_numbers`` units."""
    if not isinstance(x_range, list | tuple) or len(x_range) != 2 or x.dtype.kind not in "iufM":
        return None, None
    try:
        if x.dtype.kind == "M":
            stamps = pd.DatetimeIndex(list(x_range)).as_unit(np.datetime_data(x.dtype)[0])
            bounds = None if stamps.hasnans else stamps.asi8  # an empty bound is no bound
        else:
            bounds = np.array(x_range, dtype="float64")
            bounds = None if np.isnan(bounds).any() else bounds
    except (TypeError, ValueError, OverflowError):
        return None, None
    if bounds is None:
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
    fits_int32 = values.dtype.kind in "iu" and values.min() >= -(2**31) and values.max() < 2**31
    encoded, dtype = (values.astype("<i4"), "i4") if fits_int32 else (values.astype("<f8"), "f8")
    return {"dtype": dtype, "bdata": base64.b64encode(encoded.tobytes()).decode("ascii")}


@dataclass(frozen=True)
class AxisPlan:
    """Which y axis each measure is drawn on (0 = the first), and whether axes are stacked panels."""

    axes: dict[str, int]
    #: Small multiples: one panel per measure, stacked over one shared x axis.
    panels: bool = False

    @property
    def count(self) -> int:
        return max(self.axes.values(), default=0) + 1


def _peaks(chart: Chart) -> dict[str, float]:
    """Each drawn measure's largest absolute value, over all its colour groups."""
    peaks: dict[str, float] = {}
    for series in chart.series:
        if series.y.dtype.kind not in "iuf":
            continue
        finite = np.abs(series.y[np.isfinite(series.y)]) if series.y.dtype.kind == "f" else np.abs(series.y)
        if len(finite):
            peaks[series.column] = max(peaks.get(series.column, 0.0), float(finite.max()))
    return peaks


def scale_groups(peaks: dict[str, float], ratio: float = SECOND_AXIS_RATIO) -> list[list[str]]:
    """The measures (positive peaks) in the fewest groups, smallest first, each within ``ratio`` of its smallest."""
    groups: list[list[str]] = []
    for column in sorted((column for column in peaks if peaks[column] > 0), key=peaks.__getitem__):
        if not groups or peaks[column] > ratio * peaks[groups[-1][0]]:
            groups.append([])
        groups[-1].append(column)
    return groups


def _best_two(peaks: dict[str, float]) -> set[str]:
    """The larger side of the split by size that keeps both sides' spreads (largest / smallest) lowest."""
    ordered = sorted((column for column in peaks if peaks[column] > 0), key=peaks.__getitem__)

    def spread(side: list[str]) -> float:
        return peaks[side[-1]] / peaks[side[0]]

    cut = min(range(1, len(ordered)), key=lambda at: max(spread(ordered[:at]), spread(ordered[at:])))
    return set(ordered[cut:])


def axis_plan(chart: Chart, view: ViewState) -> AxisPlan:
    """Where each measure is drawn, so that none is flat beside another 100× larger.

    Peaks within ``SECOND_AXIS_RATIO``: one axis. Else groups within ``SHARED_AXIS_RATIO``: two
    groups get two axes, more get one panel per measure. ``y2=off``: one axis; ``y2=on``: never panels.
    """
    columns = list(dict.fromkeys(series.column for series in chart.series))
    single = AxisPlan(dict.fromkeys(columns, 0))
    if view.y2 == "off" or len(columns) < 2:
        return single
    peaks = _peaks(chart)
    if len(scale_groups(peaks, SECOND_AXIS_RATIO)) < 2:
        return single
    if len(scale_groups(peaks, SHARED_AXIS_RATIO)) == 2 or view.y2 == "on":
        larger = _best_two(peaks)
        return AxisPlan({column: int(column in larger) for column in columns})
    return AxisPlan({column: index for index, column in enumerate(columns)}, panels=True)


def _axis_id(index: int, layout_key: bool = False) -> str:
    """Plotly's name of the index-th y axis: ``y``, ``y2``… (``yaxis``, ``yaxis2``… in the layout)."""
    suffix = "" if index == 0 else str(index + 1)
    return f"yaxis{suffix}" if layout_key else f"y{suffix}"


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


def _value_title(chart: Chart, view: ViewState, columns: list[str]) -> str:
    """``mean of a, b`` for aggregates, ``a, b`` otherwise (in full: the axis shortens it)."""
    names = ", ".join(columns)
    return f"{view.agg} of {names}" if chart.aggregated else names


def shorten(text: str, limit: int = MAX_AXIS_TITLE_CHARS) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis (a rotated axis title must fit the plot)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _plural(name: str) -> str:
    if name.endswith("s"):
        return name
    if name.endswith("y") and len(name) > 1 and name[-2].lower() not in "aeiou":
        return name[:-1] + "ies"
    return name + "s"


def _left_out(rows: pd.DataFrame, roles: ColumnRoles, view: ViewState) -> list[str]:
    """What the table holds that the chart does not draw (measures, colour groups), in words."""
    notes = []
    measures = len([column for column in roles.measure if column != view.x])
    drawn = len(view.y or ())
    if 0 < drawn < measures:
        notes.append(f"{drawn} of {measures} measures — choose in Chart options")
    groups = int(rows[view.color].nunique(dropna=False)) if view.color in rows.columns else 0
    if groups > MAX_GROUPS:
        notes.append(f"{MAX_GROUPS} of {groups:,} {_plural(view.color)} + {OTHER_GROUP}")
    return notes


def _subtitle(chart: Chart) -> str:
    """The title: counts on the first line, each thing left out on a line of its own (a phone is narrow)."""
    parts = [f"{chart.all_rows:,} row" if chart.all_rows == 1 else f"{chart.all_rows:,} rows"]
    if chart.rows != chart.all_rows:
        parts.append(f"{chart.rows:,} selected by the filters")
    if chart.note:
        parts.append(chart.note)
    in_view = " in view" if chart.zoomed else ""
    drawn, total = sum(len(series.y) for series in chart.series), sum(series.total for series in chart.series)
    if not chart.aggregated and (drawn < total or chart.zoomed):
        parts.append(f"showing {drawn:,} of {total:,} points{in_view}")
    return "<br>".join([" · ".join(parts), *chart.left_out])


def _title_lines(chart: Chart) -> int:
    # Fixed for a view (zooms and live updates change numbers, not lines): the top margin stays right.
    return 1 + len(chart.left_out)


def _x_ticks(chart: Chart) -> dict[str, Any]:
    """Whole-number ticks for an x of whole numbers (years, counts): never "1,931.2"."""
    if chart.x_type != "-":
        return {}
    values = [series.x for series in chart.series if len(series.x)]
    if not values or any(x.dtype.kind not in "iuf" for x in values):
        return {}
    finite = np.concatenate([x[np.isfinite(x)] if x.dtype.kind == "f" else x for x in values])
    if not len(finite) or not np.all(np.mod(finite, 1) == 0):
        return {}
    low, high = float(finite.min()), float(finite.max())
    ticks: dict[str, Any] = {"tickformat": "d"}
    if high - low <= MAX_INTEGER_TICKS:
        ticks.update(tickmode="linear", tick0=low, dtick=1)
    return ticks


def _hover(chart: Chart, view: ViewState, series: Series) -> str:
    """The full names (axis titles may be shortened) and the values under the pointer."""
    x_title = html.escape(chart.x_title)
    y_title = html.escape(_value_title(chart, view, [series.column]))
    return f"{x_title}: %{{x}}<br>{y_title}: %{{y}}<extra>{html.escape(series.group or '')}</extra>"


def signature(chart: Chart, view: ViewState) -> list[Any]:
    """What a patch cannot change: each trace's name, type and axis, the x axis type and the title's lines."""
    plan = axis_plan(chart, view)
    traces = [[series.name, _trace_style(chart), plan.axes.get(series.column, 0)] for series in chart.series]
    return [chart.x_type, traces, plan.panels, _title_lines(chart)]


def figure_from(chart: Chart, view: ViewState) -> dict[str, Any]:
    """A whole plotly figure (dict) for ``chart``."""
    plan = axis_plan(chart, view)
    groups = list(dict.fromkeys(series.group for series in chart.series))
    traces = []
    legend_seen: set[str] = set()
    for index, series in enumerate(chart.series):
        group = series.group
        trace = {**_trace_style(chart), "name": series.name, "x": _encode(series.x), "y": _encode(series.y)}
        trace["hovertemplate"] = _hover(chart, view, series)
        axis = plan.axes.get(series.column, 0)
        if axis:
            trace["yaxis"] = _axis_id(axis)
        if plan.panels:
            # One colour and one legend entry per group across the panels; the panel names the measure.
            key = group if group is not None else series.column
            colour = COLOURS[(groups.index(group) if group is not None else axis) % len(COLOURS)]
            trace.update(name=key, legendgroup=key, showlegend=group is not None and key not in legend_seen)
            trace["line" if chart.kind != "bar" else "marker"] = {"color": colour}
            legend_seen.add(key)
        elif chart.kind == "bar":
            trace["offsetgroup"] = str(index)  # bars on two axes side by side, not on top of each other
        traces.append(trace)
    layout: dict[str, Any] = {
        # A new view starts unzoomed; the same view keeps the user's zoom across live updates.
        "uirevision": view.to_query() or "default-view",
        # Under the toolbar's row, its lines downwards to the plot area (a long subtitle never runs under
        # the toolbar; plotly places a title anchored at its bottom by its first line only).
        "title": {
            "text": _subtitle(chart),
            "font": {"size": 13},
            "x": 0,
            "xref": "paper",
            "y": 1,
            "yref": "container",
            "yanchor": "top",
            "pad": {"t": TITLE_TOP},
        },
        "xaxis": {
            "title": {"text": shorten(chart.x_title)},
            "type": chart.x_type,
            "automargin": True,
            **_x_ticks(chart),
        },
        "barmode": "group",
        # Under the plot: the toolbar sits top right and must not cover the legend.
        "legend": {"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0, "xanchor": "left"},
        # Full trace names in the hover (plotly cuts them at 15 characters by default).
        "hoverlabel": {"namelength": -1},
        # Room above the plot for the toolbar's row and every title line.
        "margin": {"l": 60, "r": 20, "t": TOP_MARGIN + TITLE_LINE_HEIGHT * (_title_lines(chart) - 1), "b": 40},
        "template": "plotly_white",
    }
    columns_on = [[column for column, on in plan.axes.items() if on == axis] for axis in range(plan.count)]
    if plan.panels:
        layout.update(_panels(chart, view, columns_on))
        layout["xaxis"]["anchor"] = _axis_id(plan.count - 1)  # under the bottom panel
    else:
        layout["yaxis"] = {"title": {"text": shorten(_value_title(chart, view, columns_on[0]))}, "automargin": True}
        if plan.count > 1:
            layout["yaxis2"] = {
                "title": {"text": shorten(_value_title(chart, view, columns_on[1]))},
                "overlaying": "y",
                "side": "right",
                "tickmode": "auto",  # its own round numbers, not ticks aligned to the left axis's grid
                "showgrid": False,
                "automargin": True,
            }
    return {"data": traces, "layout": layout}


def _panels(chart: Chart, view: ViewState, columns_on: list[list[str]]) -> dict[str, Any]:
    """Layout for small multiples: one y axis per panel, top to bottom, each named just above it."""
    count = len(columns_on)
    # Each panel's name sits in the gap above it (the top one's too: the chart's subtitle is higher still).
    height = (1 - PANEL_GAP * count) / count
    layout: dict[str, Any] = {"annotations": [], "showlegend": bool(view.color)}
    for index, columns in enumerate(columns_on):
        top = 1 - PANEL_GAP - index * (height + PANEL_GAP)
        layout[_axis_id(index, layout_key=True)] = {
            "domain": [max(0.0, top - height), top],
            "anchor": "x",
            "automargin": True,
            "nticks": 3,
        }
        layout["annotations"].append(
            {
                "text": html.escape(shorten(_value_title(chart, view, columns), 2 * MAX_AXIS_TITLE_CHARS)),
                "showarrow": False,
                "xref": "paper",
                "x": 0,
                "xanchor": "left",
                "yref": "paper",
                "y": top,
                "yanchor": "bottom",
                "font": {"size": 12},
            }
        )
    return layout


def view_figure(
    frame: pd.DataFrame, roles: ColumnRoles, view: ViewState, max_points: int, chart: Chart | None = None
) -> tuple[Any, list]:
    """The whole figure for a resolved view, and its :func:`signature` (``chart``: already computed)."""
    if not view.y:
        return message_figure(no_y_message(roles)), []
    chart = chart or chart_for(frame, roles, view, max_points)
    return figure_from(chart, view), signature(chart, view)


def no_y_message(roles: ColumnRoles) -> str:
    """Why nothing is drawn without a y column: a column that is nearly numbers says which cell is not one."""
    if roles.numeric() or not roles.mixed_text:
        return PICK_A_COLUMN
    column, cell = (html.escape(shorten(text, 40)) for text in next(iter(roles.mixed_text.items())))
    return f"No column for the y axis: “{column}”<br>holds text such as “{cell}” among its numbers."


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


def with_ghosts(figure: dict[str, Any], before: dict[str, Any], label: str, before_label: str) -> dict[str, Any]:
    """``figure`` with ``before``'s traces added after its own as muted, dashed ghosts ("What changed").

    Legend entries name their version; a ghost takes its trace's colour; the figure's own traces
    keep their indexes, so a zoom's patch still finds them.
    """
    traces = figure["data"]
    colours = {}
    for index, trace in enumerate(traces):
        style_key = "marker" if trace.get("type") == "bar" else "line"
        colour = trace.get(style_key, {}).get("color", COLOURS[index % len(COLOURS)])
        colours[trace["name"]] = colour
        trace[style_key] = {**trace.get(style_key, {}), "color": colour}
    ghosts = [_ghost(trace, colours.get(trace["name"], GHOST_COLOUR), before_label) for trace in before["data"]]
    for trace in traces:
        trace["name"] = f"{trace['name']} · {label}"
        if "legendgroup" in trace:
            trace["legendgroup"] = f"{trace['legendgroup']} · {label}"
    return {**figure, "data": traces + ghosts, "layout": {**figure["layout"], "showlegend": True}}


def _ghost(trace: dict[str, Any], colour: str, label: str) -> dict[str, Any]:
    ghost = {key: value for key, value in trace.items() if key not in ("fill", "offsetgroup", "line", "marker")}
    ghost.update(name=f"{trace['name']} · {label}", opacity=GHOST_OPACITY)
    if "legendgroup" in trace:
        ghost["legendgroup"] = f"{trace['legendgroup']} · {label}"
    if trace.get("type") == "bar":
        ghost["marker"] = {"color": colour, "pattern": {"shape": "/"}}
        ghost["offsetgroup"] = f"ghost-{trace.get('offsetgroup', '')}"
    else:
        ghost["line"] = {"color": colour, "dash": "dash"}
    return ghost
