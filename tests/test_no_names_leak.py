"""Nothing an anonymous visitor receives names the bucket or the object, whatever state storage is in.

Every anonymous answer (pages, Dash's layout and dependencies, the live version document, the take-up GETs,
health and readiness, an unknown path) is scanned for the bucket's and the object's names:
with data, with storage down (a proxy that refuses connections), with no object yet, and
with a bucket that does not exist.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from data_access import make_storage_client
from testinfra import SAMPLE_CSV, FakeGCS, TcpProxy
from testinfra.dash_requests import chart_answer, shown_from

BLOB = "secret-folder/secret-object.csv"


@pytest.fixture()
def proxy(fake_gcs: FakeGCS) -> Iterator[TcpProxy]:
    with TcpProxy(fake_gcs.port) as running:
        yield running


def _app(make_app: Any, gcs_settings: Any, proxy: TcpProxy, **overrides: Any) -> Any:
    settings = gcs_settings.with_overrides(storage_emulator_host=proxy.url, gcs_blob=BLOB, **overrides)
    from app import create_app

    return create_app(settings, storage_client=make_storage_client(settings.gcp_project, proxy.url))


def _anonymous_answers(client: Any) -> list[tuple[str, bytes]]:
    """Every anonymous answer, as (what, status line + headers + body)."""
    answers = []

    def keep(what: str, response: Any) -> Any:
        headers = "\n".join(f"{name}: {value}" for name, value in response.headers)
        answers.append((what, f"{response.status}\n{headers}\n".encode() + response.get_data()))
        return response

    for path in ("/", "/_dash-layout", "/_dash-dependencies", "/readyz", "/healthz", "/no-such-page"):
        keep(path, client.get(path))
    document = keep("/live/version", client.get("/live/version")).get_json(silent=True) or {}
    keep("/live/version again", client.get("/live/version", headers={"If-None-Match": "x"}))
    shown = shown_from(document) if document.get("generation") else {"empty": True}
    if shown.get("token"):
        keep("chart", chart_answer(client, shown))
        grid = json.dumps({"startRow": 0, "endRow": 100})
        query = urlencode({"t": shown["token"], "grid": grid})
        keep("rows", client.get(f"/live/{quote(shown['generation'])}/rows?{query}"))
    return answers


def _names(bucket_name: str) -> list[bytes]:
    return [bucket_name.encode(), BLOB.encode(), b"secret-folder", b"gs://"]


def _leaks(answers: list[tuple[str, bytes]], bucket_name: str) -> list[str]:
    return [f"{what}: {name!r}" for what, body in answers for name in _names(bucket_name) if name in body]


def test_no_answer_names_the_bucket_with_data(bucket, gcs_settings, make_app, proxy):
    bucket.blob(BLOB).upload_from_string(SAMPLE_CSV)
    client = _app(make_app, gcs_settings, proxy).server.test_client()
    assert _leaks(_anonymous_answers(client), bucket.name) == []


def test_no_answer_names_the_bucket_while_storage_is_down(bucket, gcs_settings, make_app, proxy):
    bucket.blob(BLOB).upload_from_string(SAMPLE_CSV)
    client = _app(make_app, gcs_settings, proxy).server.test_client()
    proxy.set_down(True)
    answers = _anonymous_answers(client)
    assert any(b'"error"' in body for _what, body in answers)  # the outage is reported…
    assert _leaks(answers, bucket.name) == []  # …without the names


def test_no_answer_names_the_bucket_before_anything_is_published(bucket, gcs_settings, make_app, proxy):
    client = _app(make_app, gcs_settings, proxy).server.test_client()
    assert _leaks(_anonymous_answers(client), bucket.name) == []


def test_no_answer_names_a_bucket_that_does_not_exist(gcs_settings, make_app, proxy):
    client = _app(make_app, gcs_settings, proxy, gcs_bucket="misspelt-secret-bucket").server.test_client()
    answers = _anonymous_answers(client)
    assert any(b"GCS_BUCKET" in body for _what, body in answers)
    assert _leaks(answers, "misspelt-secret-bucket") == []
