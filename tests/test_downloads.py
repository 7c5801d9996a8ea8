"""``/download/data.csv`` and ``/download/data.parquet`` over HTTP, against a real emulator bucket."""

from __future__ import annotations

import csv
import io
import time
from urllib.parse import urlencode

import pandas as pd
from itsdangerous import URLSafeSerializer

from testinfra.dash_requests import poll

CSV = (
    b"day,city,sales,note\n"
    b"2024-01-01,Oslo,3,=1+2\n"
    b"2024-01-02,Lima,-4,plain\n"
    b"2024-01-03,Oslo,5,@cmd\n"
    b"2024-01-04,Rome,6,-7\n"
)


def _publish(bucket, content: bytes, metadata: dict | None = None) -> str:
    blob = bucket.blob("data/data.csv")
    blob.metadata = metadata
    blob.upload_from_string(content, content_type="text/csv")
    return str(blob.generation)


def _shown(client) -> dict:
    return poll(client).json["response"]["shown-version"]["data"]


def _download(client, file_format: str, token: str, **filters: str):
    return client.get(f"/download/data.{file_format}?" + urlencode({"token": token, **filters}))


def test_csv_download_is_the_shown_generation_with_formulas_neutralised(bucket, gcs_settings, make_app):
    _publish(bucket, CSV, {"version": "12", "uploaded_by": "alice"})
    client = make_app(gcs_settings).server.test_client()
    response = _download(client, "csv", _shown(client)["token"])

    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="data-v12.csv"'
    assert response.is_streamed
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True), newline="")))
    assert rows == [
        ["day", "city", "sales", "note"],
        ["2024-01-01", "Oslo", "3", "'=1+2"],
        ["2024-01-02", "Lima", "-4", "plain"],
        ["2024-01-03", "Oslo", "5", "'@cmd"],
        ["2024-01-04", "Rome", "6", "-7"],
    ]


def test_parquet_download_holds_the_same_table(bucket, gcs_settings, make_app):
    _publish(bucket, CSV)
    app = make_app(gcs_settings)
    client = app.server.test_client()
    shown = _shown(client)
    response = _download(client, "parquet", shown["token"])

    assert response.status_code == 200
    assert response.headers["Content-Disposition"].endswith('.parquet"')
    downloaded = pd.read_parquet(io.BytesIO(response.get_data()))
    expected = app.server.extensions["live_data"].frame(shown["generation"])
    pd.testing.assert_frame_equal(downloaded, expected)


def test_filters_of_the_page_select_the_rows(bucket, gcs_settings, make_app):
    _publish(bucket, CSV, {"version": "3"})
    client = make_app(gcs_settings).server.test_client()
    token = _shown(client)["token"]

    response = _download(client, "csv", token, **{"f.city": "Oslo", "to": "2024-01-02"})
    assert response.status_code == 200
    assert response.headers["Content-Disposition"] == 'attachment; filename="data-v3-filtered.csv"'
    frame = pd.read_csv(io.BytesIO(response.get_data()))
    assert frame["day"].tolist() == ["2024-01-01"]


def test_forged_unsigned_and_bare_tokens_are_refused(bucket, gcs_settings, make_app):
    generation = _publish(bucket, CSV)
    client = make_app(gcs_settings).server.test_client()
    _shown(client)
    forged = URLSafeSerializer("not the app's key", salt="shown-generation").dumps(generation)

    for token in (forged, generation, "", "x" * 50):
        response = _download(client, "csv", token)
        assert response.status_code == 403, token
        assert b"not issued by this dashboard" in response.data
    assert client.get("/download/data.csv").status_code == 403
    assert client.get(f"/download/data.csv?generation={generation}").status_code == 403
    assert client.get("/download/data.xlsx?token=x").status_code == 404


def test_a_replaced_or_rolled_back_version_cannot_be_downloaded_with_its_old_token(bucket, gcs_settings, make_app):
    _publish(bucket, CSV)
    client = make_app(gcs_settings).server.test_client()
    old_token = _shown(client)["token"]
    assert _download(client, "csv", old_token).status_code == 200

    _publish(bucket, CSV.replace(b"Oslo", b"Bergen"))  # e.g. the admin rolled the old one back
    time.sleep(gcs_settings.version_cache_seconds + 0.05)
    refused = _download(client, "csv", old_token)
    assert refused.status_code == 410
    assert b"no longer the live one" in refused.data
