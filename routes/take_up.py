"""``/live/<generation>/chart`` and ``/live/<generation>/rows``: what a chart page takes a generation up with.

Each answer is built once per process and immutable (``ETag``), so HTTP caches absorb the burst after a publish;
``t`` is the signed generation; while a frame is being taken up: 202 ``{"loading": true}`` with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
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
from routes.live import etag_matches, if_none_match, send_answer
from serving import BROTLI_QUALITY, GZIP_LEVEL, MIN_COMPRESSED_BYTES

take_up = Blueprint("take_up", __name__)

#: The paths of the two routes below (werkzeug's ``<generation>`` is any text without a slash).
TAKE_UP_PATH = re.compile(r"(/d/[^/]+)?/live/[^/]+/(chart|rows)")
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
            if encoding == "br":
                self._encoded[encoding] = brotli.compress(self.body, quality=BROTLI_QUALITY)
            else:
                self._encoded[encoding] = gzip.compress(self.body, compresslevel=GZIP_LEVEL)
        return self._encoded[encoding]


def _json(status: int, value: Any, headers: dict[str, str] | None = None) -> Response:
    headers = {"Cache-Control": "no-store", **(headers or {})}
    return Response(json.dumps(value), status=status, mimetype="application/json", headers=headers)


def _serve(answer: Answer) -> Response:
    """``answer`` with its ETag; 304 when the browser or cache already holds it."""
    encoding = next((name for name in ("br", "gzip") if request.accept_encodings[name]), None)
    if etag_matches(request.headers.get("If-None-Match"), answer.etag):
        response = Response(status=304)
    elif encoding is None or len(answer.body) < MIN_COMPRESSED_BYTES:
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

    With ``changes=1`` the signature names the ghost traces too, so a new version replaces them, not the zoom.
    """
    from routes.changes import ghost_figure  # routes.changes builds on this module's answers

    max_points = current_settings().max_chart_points
    chart = chart_for(frame, roles, view, max_points) if view.y else None
    figure, signature = view_figure(frame, roles, view, max_points, chart)
    own_traces = len(figure["data"])
    if view.changes and chart is not None:
        figure = ghost_figure(figure, generation, view, max_points)
        signature = [signature, [trace["name"] for trace in figure["data"]]]
    controls = control_values(view, roles)
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
    """``value`` with each own trace's x/y (and the title) at full detail for ``x_range``; ghosts stay whole."""
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
        except (ValueError, TypeError, RecursionError, TableQueryError) as error:  # RecursionError: nested too deep
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


# -- on the event loop (asgi_worker.py) -----------------------------------------------------------

#: Request headers a take-up answer depends on besides its URL (HTTPS answers carry HSTS).
KEPT_ANSWER_VARY = (b"accept-encoding", b"x-forwarded-proto")
#: Bytes of answers one process keeps on its event loop (least recently used go first).
KEPT_ANSWERS_BYTES = 64 * 1024 * 1024
#: Headers a 304 leaves out of its 200 (as werkzeug's 304 does): it has no body.
BODY_HEADERS = (b"content-type", b"content-length", b"content-encoding")


@dataclass
class KeptAnswer:
    """A whole 200 answer as Flask sent it: its headers (talisman's and compression's included) and body."""

    headers: list[tuple[bytes, bytes]]
    body: bytes

    @property
    def etag(self) -> str:
        """The answer's entity tag, quotes included (``""`` when it has none)."""
        return next((value.decode("latin-1") for name, value in self.headers if name == b"etag"), "")

    @property
    def size(self) -> int:
        """Bytes it holds, headers included (what counts against the bound)."""
        return len(self.body) + sum(len(name) + len(value) for name, value in self.headers)

    def not_modified_headers(self) -> list[tuple[bytes, bytes]]:
        """The headers of the 304 for this answer: all of the 200's but those about its body."""
        return [(name, value) for name, value in self.headers if name not in BODY_HEADERS]


def kept_answer_key(scope: dict[str, Any]) -> tuple | None:
    """What a take-up GET's answer is kept under (path, query with its signed token, varied headers); ``None``: not."""
    if scope["type"] != "http" or scope["method"] != "GET" or not TAKE_UP_PATH.fullmatch(scope["path"]):
        return None
    query: bytes = scope["query_string"]
    if {pair.partition(b"=")[0].decode("latin-1") for pair in query.split(b"&")} & set(RANGE_PARAMETERS):
        return None
    headers = scope["headers"]
    varies = tuple(b", ".join(value for name, value in headers if name == wanted) for wanted in KEPT_ANSWER_VARY)
    return scope["path"], query, varies


class KeptTakeUps:
    """ASGI: a take-up GET Flask answered before (immutable 200) is replayed, or 304, on the event loop.

    Requests arriving while Flask answers the first wait for its answer; anything else (202, 4xx, zooms) is Flask's.
    """

    def __init__(self, app: Any, max_bytes: int = KEPT_ANSWERS_BYTES) -> None:
        self._app = app
        self._max_bytes = max_bytes
        self._kept: OrderedDict[tuple, KeptAnswer] = OrderedDict()
        self._kept_bytes = 0
        self._asked: dict[tuple, asyncio.Event] = {}
        self.answered = 0  # answers given here (tests and benchmarks read it)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        key = kept_answer_key(scope)
        if key is None:
            await self._app(scope, receive, send)
            return
        kept = self._kept.get(key)
        if kept is None and key in self._asked:  # being answered by Flask right now: wait for that answer
            await self._asked[key].wait()
            kept = self._kept.get(key)
            if kept is None:  # not one to keep (202 while loading): Flask answers this one too
                await self._app(scope, receive, send)
                return
        if kept is not None:
            self._kept.move_to_end(key)
            await self._replay(kept, scope, send)
            return
        self._asked[key] = asyncio.Event()
        try:
            await self._app(scope, receive, self._keeping(key, send))
        finally:
            self._asked.pop(key).set()

    async def _replay(self, kept: KeptAnswer, scope: dict[str, Any], send: Any) -> None:
        self.answered += 1
        if etag_matches(if_none_match(scope), kept.etag):
            await send_answer(send, 304, kept.not_modified_headers(), b"")
        else:
            await send_answer(send, 200, kept.headers, kept.body)

    def _keeping(self, key: tuple, send: Any) -> Any:
        """``send``, noting an immutable 200 answer to keep under ``key``."""
        kept_headers: list[tuple[bytes, bytes]] | None = None
        pieces: list[bytes] = []

        async def send_and_keep(message: dict[str, Any]) -> None:
            nonlocal kept_headers
            if message["type"] == "http.response.start":
                headers = [(name.lower(), value) for name, value in message.get("headers", [])]
                if message["status"] == 200 and b"immutable" in dict(headers).get(b"cache-control", b""):
                    kept_headers = headers
            elif message["type"] == "http.response.body" and kept_headers is not None:
                pieces.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self._keep(key, KeptAnswer(kept_headers, b"".join(pieces)))
            await send(message)

        return send_and_keep

    def _keep(self, key: tuple, answer: KeptAnswer) -> None:
        if answer.size > self._max_bytes:
            return
        replaced = self._kept.pop(key, None)
        self._kept_bytes -= replaced.size if replaced else 0
        self._kept[key] = answer
        self._kept_bytes += answer.size
        while self._kept_bytes > self._max_bytes:
            _, dropped = self._kept.popitem(last=False)
            self._kept_bytes -= dropped.size
