"""The chart: picking sensible defaults, building the figure, and patching only its data.

Figures are plain dicts (no plotly validation on the hot path). A live update
sends a :class:`dash.Patch` that replaces only the traces' ``x``/``y``: with a
constant ``uirevision`` that keeps a user's zoom and legend choices, where a
whole new figure resets the zoom in Dash 4.4.
"""

from __future__ import annotations

import math
from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from _plotly_utils.utils import to_typed_array_spec
from dash import Patch, dcc, html

CHART_KINDS = {"bar": "Bars", "line": "Lines", "scatter": "Points"}
SAMPLE_Y = ["add_num", "multiply_num"]
# Above this many points plain SVG traces get sluggish; switch to WebGL.
WEBGL_THRESHOLD = 5_000
# Bars stop being readable long before that; larger sample tables default to lines.
MAX_DEFAULT_BARS = 2_000
# Numeric columns longer than this travel as base64 typed arrays (about a third smaller).
TYPED_ARRAY_THRESHOLD = 1_000
UIREVISION = "keep-user-view"


def numeric_columns(frame: pd.DataFrame) -> list[str]:
    return [str(column) for column in frame.columns if pd.api.types.is_numeric_dtype(frame[column])]


def default_choices(frame: pd.DataFrame) -> dict[str, Any]:
    """The seed's bars (add_num, multiply_num by ID) for the sample; first sensible columns otherwise."""
    columns = [str(column) for column in frame.columns]
    if set(SAMPLE_Y) <= set(columns):
        x_column = "ID" if "ID" in columns else columns[0]
        return {"x": x_column, "y": list(SAMPLE_Y), "kind": "bar" if len(frame) <= MAX_DEFAULT_BARS else "line"}
    x_column = columns[0] if columns else None
    y_columns = [column for column in numeric_columns(frame) if column != x_column][:2]
    return {"x": x_column, "y": y_columns, "kind": "bar" if len(frame) <= 200 else "line"}


def fit_choices(choices: dict[str, Any] | None, frame: pd.DataFrame) -> dict[str, Any]:
    """``choices`` with anything that no longer fits the data replaced by a default."""
    defaults = default_choices(frame)
    if not choices:
        return defaults
    columns = {str(column) for column in frame.columns}
    numeric = set(numeric_columns(frame))
    x_column = choices.get("x") if choices.get("x") in columns else defaults["x"]
    y_columns = [column for column in (choices.get("y") or []) if column in numeric]
    kind = choices.get("kind") if choices.get("kind") in CHART_KINDS else defaults["kind"]
    return {"x": x_column, "y": y_columns or defaults["y"], "kind": kind}


def _thin(frame: pd.DataFrame, max_points: int) -> tuple[pd.DataFrame, int]:
    """Every n-th row so at most ``max_points`` are drawn; returns the frame and n."""
    step = max(1, math.ceil(len(frame) / max_points))
    return (frame.iloc[::step] if step > 1 else frame), step


def drawn_as(choices: dict[str, Any], rows: int, max_points: int) -> str:
    """How the traces are really drawn: too many bars for a browser become lines.

    A live update may only patch data when this stays the same (the trace type is not patched).
    """
    points = min(rows, max_points)
    kind = "line" if choices["kind"] == "bar" and points > MAX_DEFAULT_BARS else choices["kind"]
    return f"{kind}-webgl" if kind != "bar" and points > WEBGL_THRESHOLD else kind


def _trace_type(drawn: str) -> dict[str, Any]:
    kind, _, renderer = drawn.partition("-")
    if kind == "bar":
        return {"type": "bar"}
    mode = "lines" if kind == "line" else "markers"
    return {"type": "scattergl" if renderer == "webgl" else "scatter", "mode": mode}


def _column_values(frame: pd.DataFrame, column: str) -> Any:
    values = frame[column]
    if len(values) > TYPED_ARRAY_THRESHOLD and pd.api.types.is_numeric_dtype(values) and not values.hasnans:
        return to_typed_array_spec(values.to_numpy())  # plotly.js decodes {"dtype", "bdata"}
    # tolist() turns numpy scalars into JSON-friendly Python values in one vectorised step.
    return values.tolist()


def _subtitle(total_rows: int, step: int, choices: dict[str, Any], drawn: str) -> str:
    parts = [f"{total_rows:,} row" if total_rows == 1 else f"{total_rows:,} rows"]
    if step > 1:
        parts.append(f"showing every {step:,}th row")
    if choices["kind"] == "bar" and not drawn.startswith("bar"):
        parts.append("drawn as lines: too many rows for bars")
    return " · ".join(parts)


def build_figure(frame: pd.DataFrame, choices: dict[str, Any], max_points: int) -> dict[str, Any]:
    """A complete figure for ``choices`` (which must be valid for ``frame``)."""
    shown, step = _thin(frame, max_points)
    drawn = drawn_as(choices, len(frame), max_points)
    x_values = _column_values(shown, choices["x"])
    traces = [
        {**_trace_type(drawn), "name": column, "x": x_values, "y": _column_values(shown, column)}
        for column in choices["y"]
    ]
    return {
        "data": traces,
        "layout": {
            "uirevision": UIREVISION,
            "title": {"text": _subtitle(len(frame), step, choices, drawn), "font": {"size": 13}, "x": 0.01},
            "xaxis": {"title": {"text": choices["x"]}},
            "yaxis": {"title": {"text": ", ".join(choices["y"])}},
            "barmode": "group",
            "legend": {"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 0.5, "xanchor": "center"},
            "margin": {"l": 60, "r": 20, "t": 50, "b": 50},
            "template": "plotly_white",
        },
    }


def data_patch(frame: pd.DataFrame, choices: dict[str, Any], max_points: int) -> Patch:
    """Replace only the traces' data (same traces as :func:`build_figure` made for ``choices``)."""
    shown, step = _thin(frame, max_points)
    x_values = _column_values(shown, choices["x"])
    patch = Patch()
    for index, column in enumerate(choices["y"]):
        patch["data"][index]["x"] = x_values
        patch["data"][index]["y"] = _column_values(shown, column)
    patch["layout"]["title"]["text"] = _subtitle(len(frame), step, choices, drawn_as(choices, len(frame), max_points))
    return patch


def message_figure(message: str) -> dict[str, Any]:
    """An empty chart that says why there is nothing to show."""
    return {
        "data": [],
        "layout": {
            "uirevision": UIREVISION,
            "xaxis": {"visible": False},
            "yaxis": {"visible": False},
            "annotations": [{"text": message, "showarrow": False, "font": {"size": 16}}],
            "template": "plotly_white",
        },
    }


def chart_controls() -> dbc.Row:
    """Dropdowns for x column, y columns and chart type; options are filled from the data."""
    return dbc.Row(
        [
            dbc.Col([dbc.Label("X axis", html_for="chart-x"), dcc.Dropdown(id="chart-x", clearable=False)], md=3),
            dbc.Col([dbc.Label("Y axis", html_for="chart-y"), dcc.Dropdown(id="chart-y", multi=True)], md=6),
            dbc.Col(
                [
                    dbc.Label("Chart type", html_for="chart-kind"),
                    dcc.Dropdown(
                        id="chart-kind",
                        options=[{"label": label, "value": kind} for kind, label in CHART_KINDS.items()],
                        clearable=False,
                    ),
                ],
                md=3,
            ),
        ],
        className="g-3 mb-2",
    )


def graph() -> html.Div:
    """The graph itself, with a loading state only on the first load."""
    return html.Div(
        dcc.Graph(
            id="chart-graph",
            figure=message_figure("Loading data…"),
            config={"displaylogo": False},
            style={"height": "60vh"},
        ),
        className="border rounded bg-white",
    )
