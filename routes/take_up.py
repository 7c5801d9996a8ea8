"""``/live/<generation>/…``: what a chart page needs when it takes a generation up, as plain GETs.

Every dashboard that shows the same generation with the same view asks for the same thing, so
these answers are computed and serialized once per process per (generation, view) and kept
next to the frame (``LiveData.derived``), and they are immutable: ``Cache-Control: public,
immutable`` with an ``ETag`` lets the browser and any shared HTTP cache in front of the app
answer the burst after a publish too.

* ``GET /live/<generation>/chart?t=<token>&<view query>`` — the whole figure of the view, its
  trace signature (what a live update can keep), the grid's column definitions and a key of
  the controls' values. With ``x0``/``x1`` (the zoomed x range of a non-aggregated chart) the
  traces hold full detail for that range instead.
* ``GET /live/<generation>/rows?t=<token>&grid=<AG Grid request as JSON>&<view filters>`` — one
  block of the data table (sorted and filtered on the server), and the count line.

``t`` is the signed generation the poll handed out (the same token as the downloads'): the
chart draws nothing else, as before. A frame still being taken up — or storage failing while
it is — answers 202 ``{"loading": true}`` with ``Retry-After`` and ``no-store`` (never a 5xx:
nothing is wrong with the request or the server); the page says "Loading…" and asks again.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import brotli
import pandas as pd
from flask import Blueprint, Response, request
from plotly.io.json import to_json_plotly

from app_context import current_live_data, current_settings, current_table_query
from auth import unsign
from components.chart import control_values
from components.data_table import column_defs
from components.figures import chart_for, figure_from, view_figure
from data_access import DataUnavailable
from data_access.roles import ColumnRoles
from data_access.table_query import PageRequest, RowSelection, TableQueryError
from data_access.view_state import ViewState, filter_rows
from routes.downloads import GENERATION_TOKEN_PURPOSE

take_up = Blueprint("take_up", __name__)

#: Query parameters that are not part of the chart's view.
TOKEN_PARAMETER = "t"
RANGE_PARAMETERS = ("x0", "x1")
GRID_PARAMETER = "grid"
#: A grid request is a few hundred bytes; anything much longer is not one.
MAX_GRID_CHARS = 4_000
#: Seconds the page waits before asking again while a frame is being taken up.
RETRY_AFTER_SECONDS = 1
#: A generation never changes: its answers may be kept as long as caches like.
IMMUTABLE = "public, max-age=31536000, immutable"
#: Smaller answers travel as they are (as serving.py's COMPRESS_MIN_SIZE).
MIN_COMPRESSED_BYTES = 1024


class Answer:
    """A serialized JSON body, its entity tag and its compressed forms: made once, served many times."""

    def __init__(self, value: Any) -> None:
        self.body = to_json_plotly(value).encode("utf-8")
        self.etag = hashlib.blake2b(self.body, digest_size=12).hexdigest()
        self._encoded: dict[str, bytes] = {}

    def encoded(self, encoding: str) -> bytes:
        """The body compressed as ``encoding`` (``br`` or ``gzip``), compressed once."""
        if encoding not in self._encoded:
            # The levels serving.py gives flask-compress, which leaves an encoded answer alone.
            compress = (lambda body: brotli.compress(body, quality=5)) if encoding == "br" else gzip.compress
            self._encoded[encoding] = compress(self.body)
        return self._encoded[encoding]


def _json(status: int, value: Any, cache: str = "no-store", headers: dict[str, str] | None = None) -> Response:
    response = Response(json.dumps(value), status=status, mimetype="application/json", headers=headers or {})
    response.headers["Cache-Control"] = cache
    return response


def _serve(answer: Answer) -> Response:
    """``answer`` with its ETag; 304 when the browser or cache already holds it."""
    if answer.etag in request.if_none_match:
        response = Response(status=304)
    else:
        accepted = request.accept_encodings
        encoding = next((name for name in ("br", "gzip") if accepted[name]), None)
        if encoding is None or len(answer.body) < MIN_COMPRESSED_BYTES:
            response = Response(answer.body, mimetype="application/json")
        else:
            response = Response(answer.encoded(encoding), mimetype="application/json")
            response.headers["Content-Encoding"] = encoding
    response.vary.add("Accept-Encoding")
    response.set_etag(answer.etag)
    response.headers["Cache-Control"] = IMMUTABLE
    return response


def _view_query(excluded: tuple[str, ...]) -> str:
    """The request's view parameters only (``t``, ``x0``… left out), as a query string."""
    pairs = parse_qsl(request.query_string.decode("utf-8", "replace"), keep_blank_values=True)
    return urlencode([(key, value) for key, value in pairs if key not in excluded])


def _answered(generation: str, build: Callable[[pd.DataFrame, ColumnRoles], Response]) -> Response:
    """``build(frame, roles)`` for a signed generation; 403, 202 (loading: ask again) or 422 when it cannot be."""
    if unsign(request.args.get(TOKEN_PARAMETER), GENERATION_TOKEN_PURPOSE) != generation:
        return _json(403, {"error": "This generation was not handed out by this dashboard. Reload the page."})
    live_data = current_live_data()
    try:
        frame, roles = live_data.frame(generation), live_data.roles(generation)
    except DataUnavailable as error:
        if error.permanent:
            return _json(422, {"error": str(error)})
        # Still being taken up, or storage failed meanwhile: the page shows "Loading…" and asks again.
        return _json(202, {"loading": True}, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return build(frame, roles)


@take_up.get("/live/<generation>/chart")
def chart(generation: str) -> Response:
    """The view's figure for ``generation`` (see the module docstring)."""

    def build(frame: pd.DataFrame, roles: ColumnRoles) -> Response:
        view, _ = ViewState.from_query(_view_query((TOKEN_PARAMETER, *RANGE_PARAMETERS)))[0].resolve(roles)
        max_points = current_settings().max_chart_points
        live_data = current_live_data()
        try:
            answer = live_data.derived(
                generation,
                ("chart-answer", view.to_query(), max_points),
                lambda _: _chart_answer(frame, roles, view, generation),
            )
        except DataUnavailable:  # the version "What changed" compares with is still being read
            return _json(202, {"loading": True}, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        x_range = [request.args.get(name) for name in RANGE_PARAMETERS]
        if None in x_range or answer.aggregated_or_empty:
            return _serve(answer)
        return _serve(Answer(_zoomed(json.loads(answer.body), frame, roles, view, x_range)))

    return _answered(generation, build)


class ChartAnswer(Answer):
    """The chart answer, and whether a zoom could add detail to it."""

    def __init__(self, value: dict[str, Any], aggregated_or_empty: bool) -> None:
        super().__init__(value)
        self.aggregated_or_empty = aggregated_or_empty


def _chart_answer(frame: pd.DataFrame, roles: ColumnRoles, view: ViewState, generation: str) -> ChartAnswer:
    """The figure, its signature, the grid's columns and the controls' key for one view.

    With ``changes=1`` the compared version's traces follow the figure's own as ghosts; the
    signature then holds every trace's name (which names both versions), so a new version
    replaces the traces while the x axis, and so the zoom, stays.
    """
    from routes.changes import ghost_figure  # routes.changes builds on this module's answers

    max_points = current_settings().max_chart_points
    chart = chart_for(frame, roles, view, max_points) if view.y else None
    figure, signature = view_figure(frame, roles, view, max_points, chart)
    own_traces = len(figure["data"])
    if view.changes and chart is not None:
        figure = ghost_figure(figure, generation, view, max_points)
        signature = [signature, [trace["name"] for trace in figure["data"]]]
    controls = control_values(view, roles, roles.time_spans.get(roles.primary_time or ""))
    value = {
        "view": view.to_query(),
        "signature": signature,
        "aggregated": chart is None or chart.aggregated,
        "figure": figure,
        "columns": column_defs(frame),
        "controls": hashlib.blake2b(to_json_plotly(controls).encode(), digest_size=8).hexdigest(),
        "own_traces": own_traces,
    }
    return ChartAnswer(value, chart is None or chart.aggregated)


def _zoomed(
    value: dict[str, Any], frame: pd.DataFrame, roles: ColumnRoles, view: ViewState, x_range: list
) -> dict[str, Any]:
    """``value`` with each own trace's x/y (and the title) at full detail for the visible ``x_range``.

    Ghosts of a compared version ("What changed") keep their whole-range points.
    """
    zoomed = figure_from(chart_for(frame, roles, view, current_settings().max_chart_points, x_range), view)
    traces = value["figure"]["data"][: value["own_traces"]]
    if len(zoomed["data"]) == len(traces):
        for trace, detail in zip(traces, zoomed["data"], strict=True):
            trace["x"], trace["y"] = detail["x"], detail["y"]
        value["figure"]["layout"]["title"]["text"] = zoomed["layout"]["title"]["text"]
    return value


@take_up.get("/live/<generation>/rows")
def rows(generation: str) -> Response:
    """One block of the data table among the rows the chart's filters select."""

    def build(frame: pd.DataFrame, roles: ColumnRoles) -> Response:
        try:
            grid = json.loads(request.args.get(GRID_PARAMETER, "")[:MAX_GRID_CHARS])
            page_request = PageRequest.from_grid(grid, frame)
        except (ValueError, TypeError, TableQueryError) as error:
            return _json(400, {"error": f"This table request cannot be answered: {error}"})
        full_view = ViewState.from_query(_view_query((TOKEN_PARAMETER, GRID_PARAMETER)))[0].resolve(roles)[0]
        view = ViewState(date_from=full_view.date_from, date_to=full_view.date_to, filters=full_view.filters)
        selection = RowSelection(view.to_query(), lambda rows: filter_rows(rows, view, roles))

        def answer(_: pd.DataFrame) -> Answer:
            page = current_table_query().page(frame, generation, page_request, selection)
            return Answer(
                {"rowData": page.records, "rowCount": page.row_count, "count": count_text(page.row_count, len(frame))}
            )

        # The first block after a publish is the same for every page on the same filters: made once.
        key = ("rows", selection.key, json.dumps(grid, sort_keys=True))
        return _serve(current_live_data().derived(generation, key, answer))

    return _answered(generation, build)


def count_text(matching: int, total: int) -> str:
    """ "1,234 rows", or "56 of 1,234 rows" when filters select fewer."""
    noun = "row" if total == 1 else "rows"
    return f"{total:,} {noun}" if matching == total else f"{matching:,} of {total:,} {noun}"
