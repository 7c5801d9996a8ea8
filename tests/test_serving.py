"""Security headers, compression and /readyz, through the real app (each header's removal fails a test)."""

from __future__ import annotations

import gzip

import brotli
import pytest

from serving import PLOTLY_STRICT_PATTERN, plain_answer_headers, vendored_file, vendored_url
from settings import Settings
from testinfra import RedisServer
from testinfra.dash_requests import poll, view_payload


@pytest.fixture()
def client(make_app, local_csv):
    settings = Settings.from_env({}, app_env="development", data_source="local", local_data_path=local_csv)
    return make_app(settings).server.test_client()


def _directives(policy: str) -> dict[str, list[str]]:
    parts = [part.split() for part in policy.split(";") if part.strip()]
    return {part[0]: part[1:] for part in parts}


def test_every_page_has_a_strict_script_policy(client):
    for path in ("/", "/login", "/no-such-page"):
        response = client.get(path)
        csp = _directives(response.headers["Content-Security-Policy"])
        assert csp["default-src"] == ["'self'"], path
        assert "'self'" in csp["script-src"]
        assert not [source for source in csp["script-src"] if "unsafe" in source]  # no unsafe-inline, no unsafe-eval
        assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'self'"]
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "camera=()" in response.headers["Permissions-Policy"]
        assert "geolocation=()" in response.headers["Permissions-Policy"]


def test_pages_may_reach_storage_only_as_configured(make_app, gcs_settings, client):
    gcs = make_app(gcs_settings).server.test_client()
    connect = _directives(gcs.get("/").headers["Content-Security-Policy"])["connect-src"]
    assert connect == ["'self'", gcs_settings.storage_emulator_host]  # browser uploads go straight to storage
    assert _directives(client.get("/").headers["Content-Security-Policy"])["connect-src"] == ["'self'"]


def test_dash_inline_scripts_are_allowed_by_hash(client):
    html = client.get("/").get_data(as_text=True)
    script_src = _directives(client.get("/").headers["Content-Security-Policy"])["script-src"]
    hashes = [source for source in script_src if source.startswith("'sha256-")]
    assert len(hashes) >= 2, script_src  # the renderer's start-up line and the clientside callbacks
    assert "new DashRenderer()" in html


def test_chart_may_be_framed_but_admin_and_login_may_not(client):
    chart = client.get("/")
    assert "frame-ancestors" not in chart.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in chart.headers
    for path in ("/login", "/admin"):
        response = client.get(path)
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], path
        assert response.headers["X-Frame-Options"] == "DENY", path
        assert response.headers["Cache-Control"] == "no-store", path


def test_hsts_only_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/").headers
    secure = client.get("/", base_url="https://localhost")
    max_age = secure.headers["Strict-Transport-Security"].split(";")[0]
    assert max_age.startswith("max-age=") and int(max_age.split("=")[1]) >= 365 * 24 * 3600


def test_callback_answers_carry_nosniff_without_a_page_policy(client):
    shown = poll(client).json["response"]["shown-version"]["data"]
    response = client.post("/_dash-update-component", json=view_payload(client, shown))
    assert response.status_code == 200
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in response.headers  # JSON for script, not a page: no work per poll


def test_answers_written_outside_flask_carry_the_apps_security_headers(client):
    """The worker's own 400/408/413 answers get what flask-talisman puts on the app's answers over HTTPS."""
    app_answer = client.get("/healthz", base_url="https://localhost").headers
    security = set(app_answer.keys()) - {"Content-Type", "Content-Length", "Vary", "Cache-Control"}
    plain = dict(plain_answer_headers())
    assert "Strict-Transport-Security" in security and security <= set(plain)
    assert {name: plain[name] for name in security - {"Content-Security-Policy"}} == {
        name: app_answer[name] for name in security - {"Content-Security-Policy"}
    }
    assert plain["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"  # a line of text


def test_plotly_strict_bundle_is_compressed(client):
    plotly_strict_file, plotly_strict_url = vendored_file(PLOTLY_STRICT_PATTERN), vendored_url(PLOTLY_STRICT_PATTERN)
    for encoding, decompress in (("br", brotli.decompress), ("gzip", gzip.decompress)):
        response = client.get(plotly_strict_url, headers={"Accept-Encoding": encoding})
        assert response.headers["Content-Encoding"] == encoding
        assert len(response.data) < plotly_strict_file.stat().st_size / 3
        assert decompress(response.data) == plotly_strict_file.read_bytes()
        again = client.get(plotly_strict_url, headers={"Accept-Encoding": encoding})
        assert again.data == response.data  # served from the per-worker cache of compressed static files


def test_index_and_dash_scripts_are_compressed(client):
    index = client.get("/", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert index.headers["Content-Encoding"] == "br"
    assert b"DashRenderer" in brotli.decompress(index.data)
    uncompressed = client.get("/")
    assert "Content-Encoding" not in uncompressed.headers


def test_readyz_ready(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "storage": "ok", "cache": "ok"}
    assert client.get("/healthz").status_code == 200


def test_readyz_reports_storage_failing_without_names(make_app, gcs_settings):
    settings = gcs_settings.with_overrides(gcs_bucket="secret-bucket-name-that-does-not-exist")
    client = make_app(settings).server.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "storage": "failing", "cache": "ok"}
    assert b"secret-bucket" not in response.data
    assert client.get("/healthz").status_code == 200  # liveness does not depend on storage


def test_readyz_reports_cache_failing_and_recovering(make_app, gcs_settings, bucket):
    bucket.blob("data/data.csv").upload_from_string(b"ID,first_num,second_num\n1,1,2\n")
    with RedisServer() as redis:
        settings = gcs_settings.with_overrides(cache_type="RedisCache", cache_redis_url=redis.url)
        app = make_app(settings)
        client = app.server.test_client()
        assert client.get("/readyz").status_code == 200
        redis.stop()
        response = client.get("/readyz")
        assert response.status_code == 503 and response.json["cache"] == "failing"
        assert redis.url.split("//")[1] not in response.get_data(as_text=True)


def test_favicon_is_served_and_kept_a_day(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200 and response.mimetype == "image/vnd.microsoft.icon"
    assert response.data[:4] == b"\x00\x00\x01\x00"  # the ICO header
    assert response.cache_control.public and response.cache_control.max_age == 24 * 3600
