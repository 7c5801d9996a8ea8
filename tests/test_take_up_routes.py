"""``GET /live/<generation>/chart``: one answer per (generation, view), cacheable, signed, and zoom detail."""

from __future__ import annotations

import gzip
import importlib
from urllib.parse import quote, urlencode

import brotli

from testinfra.dash_requests import chart_answer, poll
from tests.conftest import series_settings


def _client(make_app, tmp_path, rows: int = 50_000):
    client = make_app(series_settings(tmp_path, rows)).server.test_client()
    return client, poll(client).json["response"]["shown-version"]["data"]


def test_chart_answer_is_immutable_with_an_etag_and_made_once_per_view(make_app, tmp_path, monkeypatch):
    client, shown = _client(make_app, tmp_path)
    take_up = importlib.import_module("routes.take_up")  # the module (the package exports its blueprint)

    built = []
    original = take_up._chart_answer
    monkeypatch.setattr(take_up, "_chart_answer", lambda *args: built.append(1) or original(*args))
    first = chart_answer(client, shown)
    assert first.status_code == 200
    assert "immutable" in first.headers["Cache-Control"] and "public" in first.headers["Cache-Control"]
    etag = first.headers["ETag"]
    again = chart_answer(client, shown)
    assert again.data == first.data and again.headers["ETag"] == etag
    assert len(built) == 1  # the second dashboard got the serialized answer of the first
    revalidated = client.get(again.request.full_path, headers={"If-None-Match": etag})
    assert revalidated.status_code == 304
    # If-None-Match compares weakly (RFC 9110), as the event loop's replay and /live/version do.
    assert client.get(again.request.full_path, headers={"If-None-Match": f"W/{etag}"}).status_code == 304

    other_view = chart_answer(client, shown, "?kind=scatter")
    assert other_view.json["view"] != first.json["view"] and len(built) == 2


def test_forged_tokens_are_refused_and_zoom_gets_detail(make_app, tmp_path):
    client, shown = _client(make_app, tmp_path)
    assert chart_answer(client, {**shown, "token": "forged"}).status_code == 403
    assert chart_answer(client, {**shown, "generation": "123"}).status_code == 403

    zoomed = chart_answer(client, shown, x0="2024-01-10 00:00:00", x1="2024-01-10 06:00:00").json
    assert "showing 363 of 363 points in view" in zoomed["figure"]["layout"]["title"]["text"]
    whole = chart_answer(client, shown).json
    assert zoomed["signature"] == whole["signature"]  # the page may patch the data in place
    garbage = chart_answer(client, shown, x0="soon", x1="{}")
    assert garbage.status_code == 200  # unreadable bounds: the whole range


def test_compressed_once_as_the_browser_asks(make_app, tmp_path):
    client, shown = _client(make_app, tmp_path)
    plain = chart_answer(client, shown)
    for encoding, decompress in (("br", brotli.decompress), ("gzip", gzip.decompress)):
        path = plain.request.full_path
        encoded = client.get(path, headers={"Accept-Encoding": encoding})
        assert encoded.headers["Content-Encoding"] == encoding and "Accept-Encoding" in encoded.headers["Vary"]
        assert decompress(encoded.data) == plain.data and encoded.headers["ETag"] == plain.headers["ETag"]


def test_a_table_request_or_a_json_body_nested_too_deep_is_a_400_never_a_500(make_app, tmp_path):
    client, shown = _client(make_app, tmp_path, rows=100)
    query = urlencode({"t": shown["token"], "grid": "[" * 1_500})  # within the length cap, past the parser's depth
    answer = client.get(f"/live/{quote(shown['generation'])}/rows?{query}")
    assert answer.status_code == 400 and "cannot be answered" in answer.json["error"]
    for path in ("/live/notify", "/admin/upload/start", "/admin/upload/cancel"):
        posted = client.post(path, data="[" * 5_000, content_type="application/json")
        assert posted.status_code == 400, path
        assert posted.get_data(as_text=True).startswith("Malformed request: nested deeper than")
