""" "What changed" (``?changes=1``, ``&vs=<version>``) as plain GETs: ``/live/<generation>/changes`` and
``/download/changes.csv``; :func:`ghost_figure` draws the compared version behind the chart.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from flask import Blueprint, Response, current_app, request

from app_context import current_live_data, current_settings
from auth import unsign
from components.changes import changed_cell_rules
from components.figures import chart_for, figure_from, with_ghosts
from data_access import DataUnavailable, DataVersion, StorageError
from data_access.changes import (
    CHANGE_COLUMN,
    CHANGED,
    ComparisonFailed,
    ComparisonStore,
    NoComparison,
    change_rows,
    changes_csv,
    compared_versions,
)
from data_access.downloads import download_name, version_label
from data_access.frame_store import generation_order
from data_access.roles import CATEGORY
from data_access.table_query import column_field
from data_access.versions import compared_labels
from data_access.view_state import ViewState
from routes.downloads import GENERATION_TOKEN_PURPOSE, UNREADABLE_NOW, attachment, live_token_version, refuse
from routes.take_up import RETRY_AFTER_SECONDS, TOKEN_PARAMETER, Answer, _json, _serve

changes_routes = Blueprint("changes", __name__)

#: Versions looked through for ``vs`` and for the version before (newest first).
HISTORY_LIMIT = 100
#: Longest a request waits for a comparison before answering "computing…" (a worker is never held for seconds).
WAIT_SECONDS = 0.5
#: Changed rows the page's table gets (the download has them all).
MAX_ROWS_SHOWN = 1_000
_store_lock = threading.Lock()


def current_comparisons() -> ComparisonStore:
    """The comparison store of the current request's data (made on first use, with ``CHANGES_KEY``)."""
    live_data = current_live_data()
    location = f"live-data:{live_data.source.location}"
    stores = current_app.extensions.setdefault("comparisons", {})
    with _store_lock:
        if location not in stores:

            def load(generation: str) -> tuple[Any, Any]:
                return live_data.frame(generation), live_data.roles(generation)

            keys = current_settings().changes_key_columns
            stores[location] = ComparisonStore(live_data.cache, location, load, keys)
    return stores[location]


def versions_compared(generation: str, vs: str | None) -> tuple[DataVersion, DataVersion]:
    """(the compared version, ``generation``'s own version), looked up once per process; else :class:`NoComparison`."""
    live_data = current_live_data()

    def lookup(_frame: Any) -> tuple[DataVersion, DataVersion] | NoComparison:
        try:
            return compared_versions(known_versions(generation), generation, vs)
        except NoComparison as missing:
            return missing

    found = live_data.derived(generation, ("versions-compared", vs), lookup)
    if isinstance(found, NoComparison):
        raise found
    return found


def known_versions(generation: str) -> list[DataVersion]:
    """Versions newest first: storage's history, and those this deployment saw ``generation`` replace."""
    live_data = current_live_data()
    try:
        versions = {version.generation: version for version in live_data.source.history(HISTORY_LIMIT)}
    except StorageError as error:
        raise DataUnavailable(str(error)) from error
    newer = generation
    while len(versions) < HISTORY_LIMIT:
        replaced = live_data.replaced_version(newer)
        if replaced is None or replaced.generation in versions:
            break
        versions[replaced.generation] = replaced
        newer = replaced.generation
    return sorted(versions.values(), key=lambda version: generation_order(version.generation), reverse=True)


def ghost_figure(figure: dict[str, Any], generation: str, view: ViewState, max_points: int) -> dict[str, Any]:
    """``figure`` with the compared version drawn as ghosts (:class:`DataUnavailable` while it is read)."""
    try:
        before, current = versions_compared(generation, view.vs)
    except NoComparison:
        return figure
    live_data = current_live_data()
    if live_data.local_frames.get(before.generation) is None and not current_comparisons().warm(before.generation):
        # Being read in the background (seconds for a big table); the page asks again meanwhile.
        raise DataUnavailable(f"version {before.generation} is being read")
    try:
        frame, roles = live_data.frame(before.generation), live_data.roles(before.generation)
    except DataUnavailable as error:
        if error.permanent:
            return figure  # that version is gone or unreadable: the summary says so
        raise
    drawable = set(roles.roles) if view.agg == "count" else set(roles.numeric())
    drawn = tuple(column for column in view.y or () if column in drawable)
    same_x = roles.roles.get(view.x or "") == live_data.roles(generation).roles.get(view.x or "")
    if not (drawn and same_x) or (view.color and roles.roles.get(view.color) != CATEGORY):
        return figure  # the version before lacks the chart's columns (or has them as other kinds): no ghost
    before_chart = chart_for(frame, roles, replace(view, y=drawn), max_points)
    before_figure = figure_from(before_chart, view)
    return with_ghosts(figure, before_figure, *compared_labels(current, before))


def _changes_json(generation: str, vs: str | None) -> Response:
    try:
        before, current = versions_compared(generation, vs)
    except NoComparison as missing:
        status = 404 if vs else 200
        return _json(status, {"nothing": True, "summary": str(missing)} if status == 200 else {"error": str(missing)})
    result = current_comparisons().request(before.generation, generation, WAIT_SECONDS)
    if result is None:
        return _json(202, {"computing": True}, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    if isinstance(result, ComparisonFailed):
        return _json(422, {"error": f"These versions cannot be compared: {result.reason}"})
    live_data = current_live_data()
    old, new = live_data.frame(before.generation), live_data.frame(generation)

    def answer(_frame: Any) -> Answer:
        rows = change_rows(old, new, result, 0, MAX_ROWS_SHOWN)
        label, before_label = compared_labels(current, before)
        return Answer(
            {
                "summary": result.summary(),
                "matching": result.matching(),
                "label": label,
                "before": before_label,
                "before_generation": before.generation,
                "total": result.row_count,
                "columns": _table_columns(list(rows.columns)),
                "rows": _table_rows(rows, result.changed_cells),
            }
        )

    return _serve(live_data.derived(generation, ("changes-answer", before.generation), answer))


def _table_columns(names: list[str]) -> list[dict[str, Any]]:
    """Grid columns: what happened to the row, then each data column (fields c0, c1…: names may hold dots)."""
    return [{"field": CHANGE_COLUMN, "headerName": "Change", "width": 110}] + [
        {
            "field": column_field(index),
            "headerName": name,
            "headerTooltip": name,
            "cellClassRules": changed_cell_rules(column_field(index)),
        }
        for index, name in enumerate(names[1:])
    ]


def _table_rows(rows: Any, changed_cells: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows as grid records; a changed row lists its changed fields (``changed_cells``) for highlighting."""
    fields = {name: column_field(index) for index, name in enumerate(rows.columns[1:])}
    first_changed = len(rows) - int((rows[CHANGE_COLUMN] == CHANGED).sum())  # changed rows come last, in order
    return [
        {
            CHANGE_COLUMN: change,
            **dict(zip(fields.values(), values, strict=True)),
            "changed_cells": {
                fields[column]: True
                for column, mask in changed_cells.items()
                if change == CHANGED and column in fields and mask[position - first_changed]
            },
        }
        for position, (change, *values) in enumerate(rows.itertuples(index=False, name=None))
    ]


@changes_routes.get("/live/<generation>/changes")
def live_changes(generation: str) -> Response:
    """What ``generation`` changed against the version before (or ``vs``)."""
    if unsign(request.args.get(TOKEN_PARAMETER), GENERATION_TOKEN_PURPOSE) != generation:
        return _json(403, {"error": "This generation was not handed out by this dashboard. Reload the page."})
    view, _ = ViewState.from_query(request.query_string.decode("utf-8", "replace"))
    try:
        return _changes_json(generation, view.vs)
    except DataUnavailable as error:
        if error.permanent:
            return _json(422, {"error": str(error)})
        return _json(202, {"loading": True}, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


@changes_routes.get("/download/changes.csv")
def download_changes() -> Response:
    """Every changed row of the live version against the version before (or ``vs``), as CSV."""
    live_data = current_live_data()
    version = live_token_version(live_data)
    if isinstance(version, Response):
        return version
    generation = version.generation
    view, _ = ViewState.from_query(request.query_string.decode("utf-8", "replace"))
    try:
        before, current = versions_compared(generation, view.vs)
        result = current_comparisons().request(before.generation, generation, WAIT_SECONDS)
        if result is None:
            return refuse(409, "What changed is still being computed; try again in a moment.")
        if isinstance(result, ComparisonFailed):
            return refuse(422, f"These versions cannot be compared: {result.reason}")
        old, new = live_data.frame(before.generation), live_data.frame(generation)
    except NoComparison as missing:
        return refuse(404, str(missing))
    except DataUnavailable:
        return refuse(503, UNREADABLE_NOW)
    label = "-vs-".join(version_label(each.metadata, each.updated) for each in (current, before))
    name = download_name(live_data.source.name, label, "csv").replace(".csv", "-changes.csv")
    return attachment(changes_csv(old, new, result), "text/csv; charset=utf-8", name)
