"""The chart's controls and graph: layout pieces, and the mapping between controls and a view.

Controls are plain Dash components; :func:`control_values` fills them from a resolved
:class:`ViewState` and the column roles, :func:`view_from_controls` reads a view back. The
figures themselves are made in :mod:`components.figures`.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, dcc, html

from components.figures import is_aggregated, message_figure
from data_access.roles import ColumnRoles
from data_access.view_state import AGGREGATIONS, ViewState

KIND_LABELS = {"line": "Lines", "bar": "Bars", "scatter": "Points", "area": "Area"}
AGGREGATION_LABELS = {
    "sum": "Sum",
    "mean": "Mean",
    "median": "Median",
    "min": "Minimum",
    "max": "Maximum",
    "count": "Count",
}
# Plotly's links to its cloud are off: an internal dashboard must not offer to upload its data.
GRAPH_CONFIG = {
    "displaylogo": False,
    "showLink": False,
    "showSendToCloud": False,
    "showEditInChartStudio": False,
    # Box and lasso selection do nothing on this page: fewer buttons keep the toolbar short on a phone.
    "modeBarButtonsToRemove": ["select2d", "lasso2d"],
}

# Each control's value, in the order the view callback receives them.
CONTROL_INPUTS = {
    "x": Input("chart-x", "value"),
    "y": Input("chart-y", "value"),
    "kind": Input("chart-kind", "value"),
    "agg": Input("chart-agg", "value"),
    "color": Input("chart-color", "value"),
    "date_from": Input("chart-dates", "start_date"),
    "date_to": Input("chart-dates", "end_date"),
    "filter_column": Input("chart-filter-column", "value"),
    "filter_values": Input("chart-filter-values", "value"),
    "second_axis": Input("chart-y2", "value"),
    "changes": Input("chart-changes", "value"),
}
CONTROL_IDS = {dependency.component_id for dependency in CONTROL_INPUTS.values()}
# What the view callback sets: the controls' values (same names) and their choices.
CONTROL_OUTPUTS = {
    **{name: Output(dep.component_id, dep.component_property) for name, dep in CONTROL_INPUTS.items()},
    "x_options": Output("chart-x", "options"),
    "y_options": Output("chart-y", "options"),
    "color_options": Output("chart-color", "options"),
    "filter_column_options": Output("chart-filter-column", "options"),
    "filter_value_options": Output("chart-filter-values", "options"),
    "agg_disabled": Output("chart-agg", "disabled"),
    "dates_hidden": Output("chart-dates-group", "hidden"),
    "dates_min": Output("chart-dates", "min_date_allowed"),
    "dates_max": Output("chart-dates", "max_date_allowed"),
}


def control_values(view: ViewState, roles: ColumnRoles, picked_filter: Any = None) -> dict[str, Any]:
    """Every :data:`CONTROL_OUTPUTS` value for a resolved ``view`` (``picked_filter``: a filter column just chosen)."""
    time_span = roles.time_spans.get(roles.primary_time or "")
    picked = picked_filter if isinstance(picked_filter, str) and picked_filter in roles.category_values else None
    filter_column = picked or next(iter(view.filters), None)
    picker_column = filter_column or (roles.category[0] if roles.category else None)
    return {
        "x": view.x,
        "y": list(view.y or ()),
        "kind": view.kind,
        "agg": view.agg,
        "color": view.color,
        "date_from": _day(view.date_from),
        "date_to": _day(view.date_to),
        "filter_column": filter_column,
        "filter_values": list(view.filters.get(filter_column, ())) if filter_column else [],
        "second_axis": view.y2 != "off",
        "changes": view.changes,
        "x_options": list(roles.roles),
        "y_options": list(roles.roles) if view.agg == "count" else roles.numeric(),
        "color_options": [column for column in roles.category if column != view.x],
        "filter_column_options": roles.category,
        "filter_value_options": list(roles.category_values.get(picker_column, ()))[:500] if picker_column else [],
        "agg_disabled": not is_aggregated(view, roles),
        "dates_hidden": time_span is None,
        "dates_min": time_span[0] if time_span else None,
        "dates_max": time_span[1] if time_span else None,
    }


def view_from_controls(values: dict[str, Any], current: ViewState) -> ViewState:
    """The view the controls show (filters on other columns, set by a link, are kept)."""
    filter_column, filter_values = values.get("filter_column"), values.get("filter_values")
    filters = {column: chosen for column, chosen in current.filters.items() if column != filter_column}
    if isinstance(filter_column, str) and isinstance(filter_values, list) and filter_values:
        filters[filter_column] = tuple(str(value) for value in filter_values)
    chosen = ViewState(
        x=values.get("x"),
        y=tuple(values.get("y") or ()),
        kind=values.get("kind"),
        agg=values.get("agg"),
        color=values.get("color"),
        date_from=_day(values.get("date_from")),
        date_to=_day(values.get("date_to")),
        filters=filters,
        y2=None if values.get("second_axis", True) else "off",
        changes=values.get("changes") is True,
        vs=current.vs,  # set by a link only
    )
    # Control values come from the browser: checked the same way as a link.
    return ViewState.from_dict(chosen.to_dict())


def _day(value: str | None) -> str | None:
    """A date picker's ``YYYY-MM-DD`` for a ``from``/``to`` value (a year such as 1990 included)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return pd.Timestamp(value).strftime("%Y-%m-%d")
    except (ValueError, OverflowError):
        return None


def _labelled(label: str, control: Any, width: int) -> dbc.Col:
    return dbc.Col([dbc.Label(label, html_for=control.id, className="small mb-0"), control], xs=12, md=width)


def chart_controls() -> html.Div:
    """The controls in a collapsible panel (open on wide screens, a button away on a phone)."""
    kinds = [{"label": label, "value": kind} for kind, label in KIND_LABELS.items()]
    aggregations = [{"label": AGGREGATION_LABELS[name], "value": name} for name in AGGREGATIONS]
    rows = [
        dbc.Row(
            [
                _labelled("X axis", dcc.Dropdown(id="chart-x", clearable=False), 3),
                _labelled("Y axis", dcc.Dropdown(id="chart-y", multi=True, placeholder="Pick a column"), 5),
                _labelled("Chart type", dcc.Dropdown(id="chart-kind", options=kinds, clearable=False), 2),
                _labelled("Aggregation", dcc.Dropdown(id="chart-agg", options=aggregations, clearable=False), 2),
            ],
            className="g-2 mb-1",
        ),
        dbc.Row(
            [
                _labelled("Colour by", dcc.Dropdown(id="chart-color", placeholder="None"), 3),
                dbc.Col(
                    [
                        dbc.Label("Dates", html_for="chart-dates", className="small mb-0 d-block"),
                        dcc.DatePickerRange(id="chart-dates", clearable=True, display_format="YYYY-MM-DD"),
                    ],
                    id="chart-dates-group",
                    xs=12,
                    md=3,
                ),
                _labelled("Filter column", dcc.Dropdown(id="chart-filter-column", placeholder="None"), 2),
                _labelled("Values", dcc.Dropdown(id="chart-filter-values", multi=True, placeholder="All"), 2),
                dbc.Col(
                    dbc.Switch(
                        id="chart-y2",
                        label="Separate scales 100× apart (second axis or panels)",
                        value=True,
                        className="small mt-md-4",
                    ),
                    xs=12,
                    md=2,
                ),
            ],
            className="g-2 mb-2",
        ),
    ]
    return html.Div(
        [
            dbc.Button(
                "Chart options",
                id="chart-options-toggle",
                size="sm",
                color="secondary",
                outline=True,
                className="mb-2 d-md-none",
            ),
            dbc.Collapse(rows, id="chart-options", is_open=False, className="chart-options"),
            # Outside the collapsed options: on a phone too, "what changed?" is one tap away.
            dbc.Switch(id="chart-changes", label="What changed", value=False, className="small mb-1"),
            html.Div(id="chart-notice", className="text-muted small mb-1", role="status"),
        ]
    )


def graph() -> html.Div:
    """The graph itself, with a loading state only on the first load."""
    return html.Div(
        dcc.Graph(
            id="chart-graph",
            figure=message_figure("Loading data…"),
            config=GRAPH_CONFIG,
            className="chart-graph",
        ),
        className="border rounded bg-white",
    )
