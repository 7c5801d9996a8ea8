"""Take-up GETs over a real uvicorn server (as ``asgi_worker.py`` serves them): kept answers come from the event loop.

The first request for a URL is Flask's; every later one with the same URL and encoding gets the
same bytes and headers without a thread. Anything Flask would refuse is still Flask's to answer.
"""

from __future__ import annotations

import asyncio
import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, urlencode

import pytest

from routes.take_up import KeptTakeUps
from testinfra import Uvicorn
from tests.conftest import series_settings

BROWSER_ENCODINGS = "gzip, deflate, br, zstd"
GRID = json.dumps({"startRow": 0, "endRow": 100, "sortModel": [], "filterModel": {}})


@pytest.fixture
def served(make_app, tmp_path):
    app = make_app(series_settings(tmp_path, 5_000))
    with Uvicorn(app) as server:
        yield app, server


def _get(server: Uvicorn, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, {name.lower(): value for name, value in response.getheaders()}, response.read()
    finally:
        connection.close()


def _shown(server: Uvicorn) -> dict:
    return json.loads(_get(server, "/live/version")[2])


def _url(generation: str, what: str, **params: str) -> str:
    return f"/live/{quote(generation)}/{what}?{urlencode(params)}"


def _own_headers(headers: dict[str, str]) -> dict[str, str]:
    """The answer's own headers: without those uvicorn adds to every answer."""
    return {name: value for name, value in headers.items() if name not in ("date", "server")}


@pytest.mark.integration
def test_a_kept_take_up_is_answered_on_the_event_loop_with_flasks_bytes_and_headers(served):
    app, server = served
    shown = _shown(server)
    flask = app.server.test_client()
    for what, params in (("chart", {}), ("rows", {"grid": GRID})):
        url = _url(shown["generation"], what, t=shown["token"], **params)
        for encoding in ("identity", BROWSER_ENCODINGS):
            asked = {"Accept-Encoding": encoding}
            first = _get(server, url, asked)
            before = server.take_ups_answered
            again = _get(server, url, asked)
            assert server.take_ups_answered == before + 1, (what, encoding)  # this one never crossed into Flask
            assert again[0] == first[0] == 200
            assert again[2] == first[2] and _own_headers(again[1]) == _own_headers(first[1])
            assert again[1]["x-content-type-options"] == "nosniff"
            assert "default-src" in again[1]["content-security-policy"]
            assert "immutable" in again[1]["cache-control"]
        by_flask = flask.get(url, headers={"Accept-Encoding": BROWSER_ENCODINGS})
        assert again[2] == by_flask.data and again[1]["content-encoding"] == by_flask.headers["Content-Encoding"]

        etag = again[1]["etag"]
        before = server.take_ups_answered
        status, headers, body = _get(server, url, {"Accept-Encoding": BROWSER_ENCODINGS, "If-None-Match": etag})
        assert (status, body, server.take_ups_answered) == (304, b"", before + 1)
        flask_304 = flask.get(url, headers={"Accept-Encoding": BROWSER_ENCODINGS, "If-None-Match": etag})
        assert flask_304.status_code == 304
        assert _own_headers(headers) == {name.lower(): value for name, value in flask_304.headers.items()}


@pytest.mark.integration
def test_forged_tokens_unknown_generations_and_zooms_are_still_flasks(served):
    app, server = served
    shown = _shown(server)
    flask = app.server.test_client()
    kept_url = _url(shown["generation"], "chart", t=shown["token"])
    _get(server, kept_url)
    before = server.take_ups_answered
    assert _get(server, kept_url)[0] == 200 and server.take_ups_answered == before + 1

    unknown = "1" + shown["generation"]
    refused = [
        _url(shown["generation"], "chart", t="forged"),
        _url(shown["generation"], "chart", t=shown["token"] + "x"),
        _url(unknown, "chart", t=shown["token"]),
        _url(shown["generation"], "rows", t="forged", grid=GRID),
    ]
    for url in refused * 2:  # asked twice: a refusal is never kept
        status, _, body = _get(server, url)
        by_flask = flask.get(url)
        assert (status, body) == (by_flask.status_code, by_flask.data) and status == 403, url
    zoomed = _url(shown["generation"], "chart", t=shown["token"], x0="2024-01-01 01:00:00", x1="2024-01-01 02:00:00")
    for _ in range(2):
        assert _get(server, zoomed)[0] == 200
    assert server.take_ups_answered == before + 1  # none of these came from the event loop


@pytest.mark.integration
def test_requests_arriving_while_the_first_is_answered_wait_for_it_instead_of_crossing(served):
    _, server = served
    shown = _shown(server)
    url = _url(shown["generation"], "chart", t=shown["token"], kind="scatter")  # a view nobody asked for yet
    before = server.take_ups_answered
    with ThreadPoolExecutor(max_workers=16) as pool:
        answers = list(pool.map(lambda _: _get(server, url), range(16)))
    assert {status for status, _, _ in answers} == {200} and len({body for _, _, body in answers}) == 1
    assert server.take_ups_answered == before + 15  # one crossed into Flask; the rest waited for its answer


def test_kept_answers_stay_within_their_byte_bound():
    """The oldest kept answers go first once the bound is reached (a stand-in app answering immutable 200s)."""

    async def immutable(scope, receive, send):
        headers = [(b"cache-control", b"public, immutable"), (b"etag", b'"' + scope["path"].encode() + b'"')]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"x" * 1000})

    async def ask(kept: KeptTakeUps, path: str) -> None:
        scope = {"type": "http", "method": "GET", "path": path, "query_string": b"t=token", "headers": []}

        async def send(message):
            pass

        await kept(scope, None, send)

    async def run() -> list[int]:
        kept = KeptTakeUps(immutable, max_bytes=3_500)
        paths = [f"/live/{generation}/chart" for generation in range(1, 5)]
        for path in paths:
            await ask(kept, path)  # each crosses once and is kept
        answered_here = []
        for path in reversed(paths):
            before = kept.answered
            await ask(kept, path)
            answered_here.append(kept.answered - before)
        return answered_here

    # Three answers fit: the fourth pushed the first out, which crosses again.
    assert asyncio.run(run()) == [1, 1, 1, 0]
