"""Pieces of the admin page: validation messages, the upload preview, the history table."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html

from components.figures import default_figure
from components.versions import version_text
from data_access import DataVersion
from data_access.parsing import shorten_text
from data_access.roles import BOOLEAN, INTEGER, NUMBER, TEXT, TIME, value_kind
from data_access.units import count, file_size
from data_access.versions import SEPARATOR, version_label, version_number

PREVIEW_ROWS = 10


def problems_alert(problems: list[str]) -> dbc.Alert:
    """The reasons a file was rejected, one per line."""
    return dbc.Alert(
        [html.Strong("This file was not published:"), html.Ul([html.Li(problem) for problem in problems])],
        color="danger",
        id="admin-problems",
    )


def notice(message: Any, color: str) -> dbc.Alert:
    return dbc.Alert(message, color=color, dismissable=True)


def _column_types(frame: pd.DataFrame) -> dbc.Table:
    rows = [
        html.Tr([html.Td(str(column)), html.Td(TYPE_NAMES[value_kind(values)]), html.Td(f"{values.count():,}")])
        for column, values in frame.items()
    ]
    header = html.Thead(html.Tr([html.Th("Column"), html.Th("Type"), html.Th("Values")]))
    return dbc.Table([header, html.Tbody(rows)], size="sm", bordered=True, className="w-auto")


#: How the preview names each kind of column.
TYPE_NAMES = {BOOLEAN: "true/false", INTEGER: "whole number", NUMBER: "number", TIME: "date/time", TEXT: "text"}


def _diff_line(diff: dict[str, Any], live: DataVersion | None, zone: tzinfo) -> Any:
    if live is None:
        return f"Nothing is live yet: all {count(diff['added'], 'row')} are new."
    added = count(diff["added"], "row")
    parts = [f"{added} added", f"{count(diff['removed'])} removed", f"{count(diff['unchanged'])} unchanged"]
    if diff["columns_added"]:
        parts.append("new columns: " + ", ".join(diff["columns_added"]))
    if diff["columns_removed"]:
        parts.append("columns dropped: " + ", ".join(diff["columns_removed"]))
    return ["Compared with the live version (", version_text(live, zone), "): ", "; ".join(parts), "."]


def _shape_line(frame: pd.DataFrame, uploaded_columns: list[str], filename: str) -> str:
    derived = [str(column) for column in frame.columns if str(column) not in uploaded_columns]
    extra = f" (+ derived: {', '.join(derived)})" if derived else ""
    shape = f"{count(len(frame), 'row')} × {count(len(uploaded_columns), 'column')}"
    return f"{filename}: {shape}{extra} — ready to publish."


def _first_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The first rows as text, floats to 12 significant digits (76562344.60949999 shows as 76562344.6095)."""
    head = frame.head(PREVIEW_ROWS).copy()
    for name in head.columns:
        head[name] = shorten_text(head[name])
    for name in head.select_dtypes("float").columns:
        head[name] = head[name].map(lambda value: "" if pd.isna(value) else f"{value:.12g}")
    return head


def upload_preview(
    frame: pd.DataFrame,
    uploaded_columns: list[str],
    filename: str,
    diff: dict[str, Any],
    live: DataVersion | None,
    max_points: int,
    zone: tzinfo,
    warnings: list[str] | None = None,
) -> html.Div:
    """Everything an admin should see before publishing (``warnings``: worth knowing, not blocking)."""
    figure = default_figure(frame, max_points)
    return html.Div(
        [
            dbc.Alert(_shape_line(frame, uploaded_columns, filename), color="success", id="admin-valid"),
            *([warnings_alert(warnings)] if warnings else []),
            html.P(_diff_line(diff, live, zone), id="admin-diff"),
            dbc.Row(
                [
                    dbc.Col([html.H3("Columns", className="h6"), _column_types(frame)], md=4),
                    dbc.Col(
                        [
                            html.H3(f"First {min(PREVIEW_ROWS, len(frame))} rows", className="h6"),
                            dbc.Table.from_dataframe(_first_rows(frame), size="sm", striped=True),
                        ],
                        md=8,
                        className="overflow-auto",
                    ),
                ]
            ),
            html.H3("The chart as it will look", className="h6"),
            dcc.Graph(figure=figure, config={"displaylogo": False}, style={"height": "40vh"}),
        ]
    )


def warnings_alert(warnings: list[str]) -> dbc.Alert:
    """What an admin should know about a file that can be published, one point per line."""
    return dbc.Alert(
        [
            html.Strong("Check before publishing:"),
            html.Ul([html.Li(warning) for warning in warnings], className="mb-0"),
        ],
        color="warning",
        id="admin-warnings",
    )


def describe_version(version: DataVersion | None, zone: tzinfo) -> Any:
    """The live version: "v7 · stocks.csv · 14:07 · alice · 3,000,000 rows · 12.3 MB" (generation in the tooltip)."""
    if version is None:
        return "Nothing is published yet."
    rows = version.metadata.get("rows", "")
    extra = [count(int(rows), "row")] if rows.isdigit() else []
    return [version_text(version, zone, id="admin-live-label"), SEPARATOR.join(["", *extra, file_size(version.size)])]


def history_table(versions: list[DataVersion], live_generation: str | None, zone: tzinfo) -> dbc.Table | html.P:
    """Earlier versions with a restore button each (the live one is marked instead); blocks of lines on a phone."""
    if not versions:
        return html.P("No earlier versions are kept yet.", className="text-muted")
    header = html.Thead(html.Tr([html.Th(name) for name in ("Version", "Action", "Rows", "Size", "Note", "")]))
    numbers = {version.generation: version_number(version) for version in versions}
    body = html.Tbody([_history_row(version, live_generation, zone, numbers) for version in versions])
    return dbc.Table([header, body], size="sm", hover=True, className="history-table")


def _action(version: DataVersion, numbers: dict[str, str]) -> str:
    """ "published", "restored v3", or "—" (data written outside the app)."""
    metadata = version.metadata
    action = metadata.get("action", "")
    if action == "restore":
        old = metadata.get("restored_from", "")
        number = numbers.get(old) or (f"v{metadata['restored_version']}" if metadata.get("restored_version") else "")
        return f"restored {number}" if number else "restored an earlier version"
    return "published" if action == "publish" else action or "—"  # the label already says "written outside"


def _history_row(version: DataVersion, live_generation: str | None, zone: tzinfo, numbers: dict[str, str]) -> html.Tr:
    metadata = version.metadata
    if version.generation == live_generation:
        control: Any = dbc.Badge("live", color="success")
    else:
        control = dbc.Button(
            "Restore",
            id={"type": "admin-restore", "generation": version.generation},
            size="sm",
            color="secondary",
            outline=True,
            title=f"Restore {version_label(version, zone)}",
        )
    rows = metadata.get("rows", "")
    return html.Tr(
        [
            html.Td(version_text(version, zone), className="history-version"),
            html.Td(_action(version, numbers)),
            html.Td(count(int(rows)) if rows.isdigit() else "—", className="text-nowrap", **{"data-label": "Rows"}),
            html.Td(file_size(version.size), className="text-nowrap", **{"data-label": "Size"}),
            html.Td(metadata.get("description", ""), className="text-break history-note"),
            html.Td(control, className="history-control"),
        ],
        className="history-live" if version.generation == live_generation else None,
    )
