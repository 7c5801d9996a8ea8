"""Pieces of the admin page: validation messages, the upload preview, the history table."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html

from components.figures import default_figure
from data_access import DataVersion
from data_access.parsing import shorten_text

PREVIEW_ROWS = 10


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


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
        html.Tr([html.Td(str(column)), html.Td(_type_name(frame[column])), html.Td(f"{frame[column].count():,}")])
        for column in frame.columns
    ]
    header = html.Thead(html.Tr([html.Th("Column"), html.Th("Type"), html.Th("Values")]))
    return dbc.Table([header, html.Tbody(rows)], size="sm", bordered=True, className="w-auto")


def _type_name(column: pd.Series) -> str:
    if pd.api.types.is_integer_dtype(column):
        return "whole number"
    if pd.api.types.is_numeric_dtype(column):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(column):
        return "date/time"
    return "text"


def _diff_line(diff: dict[str, Any], live: DataVersion | None) -> str:
    if live is None:
        return f"Nothing is live yet: all {_count(diff['added'], 'row')} are new."
    added = _count(diff["added"], "row")
    parts = [f"{added} added", f"{diff['removed']:,} removed", f"{diff['unchanged']:,} unchanged"]
    if diff["columns_added"]:
        parts.append("new columns: " + ", ".join(diff["columns_added"]))
    if diff["columns_removed"]:
        parts.append("columns dropped: " + ", ".join(diff["columns_removed"]))
    return f"Compared with live generation {live.generation}: " + "; ".join(parts) + "."


def _shape_line(frame: pd.DataFrame, uploaded_columns: list[str], filename: str) -> str:
    derived = [str(column) for column in frame.columns if str(column) not in uploaded_columns]
    extra = f" (+ derived: {', '.join(derived)})" if derived else ""
    shape = f"{_count(len(frame), 'row')} × {_count(len(uploaded_columns), 'column')}"
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
) -> html.Div:
    """Everything an admin should see before publishing."""
    figure = default_figure(frame, max_points)
    return html.Div(
        [
            dbc.Alert(_shape_line(frame, uploaded_columns, filename), color="success", id="admin-valid"),
            html.P(_diff_line(diff, live), id="admin-diff"),
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


def version_label(version: DataVersion) -> str:
    """ "v12" for versions published from the app; "—" for data written outside it."""
    number = version.metadata.get("version", "")
    return f"v{number}" if number.isdigit() else "—"


def describe_version(version: DataVersion | None) -> str:
    if version is None:
        return "Nothing is published yet."
    metadata = version.metadata
    who = metadata.get("uploaded_by") or "unknown (written outside this app)"
    rows = f", {int(metadata['rows']):,} rows" if metadata.get("rows", "").isdigit() else ""
    number = f" ({version_label(version)})" if metadata.get("version", "").isdigit() else ""
    updated = version.updated[:19].replace("T", " ")
    return f"Generation {version.generation}{number} · {updated} UTC · by {who}{rows}"


def history_table(versions: list[DataVersion], live_generation: str | None) -> dbc.Table | html.P:
    """Earlier versions with a restore button each (the live one is marked instead)."""
    if not versions:
        return html.P("No earlier versions are kept yet.", className="text-muted")
    header = html.Thead(
        html.Tr(
            [
                html.Th(name)
                for name in ("Version", "Generation", "When (UTC)", "Who", "Action", "File", "Rows", "Size", "Note", "")
            ]
        )
    )
    return dbc.Table([header, html.Tbody([_history_row(v, live_generation) for v in versions])], size="sm", hover=True)


def _history_row(version: DataVersion, live_generation: str | None) -> html.Tr:
    metadata = version.metadata
    action = metadata.get("action", "")
    if action == "restore":
        action = f"restore of {metadata.get('restored_from', '?')}"
    if version.generation == live_generation:
        control: Any = dbc.Badge("live", color="success")
    else:
        control = dbc.Button(
            "Restore",
            id={"type": "admin-restore", "generation": version.generation},
            size="sm",
            color="secondary",
            outline=True,
        )
    return html.Tr(
        [
            html.Td(version_label(version)),
            html.Td(version.generation),
            html.Td(version.updated[:19].replace("T", " ")),
            html.Td(metadata.get("uploaded_by", "—")),
            html.Td(action or "—"),
            html.Td(metadata.get("original_filename", "—")),
            html.Td(metadata.get("rows", "—")),
            html.Td(f"{version.size:,} B"),
            html.Td(metadata.get("description", ""), className="text-break"),
            html.Td(control),
        ]
    )
