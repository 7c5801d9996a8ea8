"""The assembled app: health route, no CDN, local assets, gunicorn entry point."""

from __future__ import annotations

import contextlib
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import quote, urlencode

import pytest

from settings import Settings
from testinfra import Gunicorn
from testinfra.dash_requests import shown_from


def test_healthz_answers_ok(make_app, local_csv):
    client = make_app(
        Settings.from_env({}, app_env="development", data_source="local", local_data_path=local_csv)
    ).server.test_client()
    response = client.get("/healthz")
    assert response.status_code == 200 and response.data == b"OK"


def test_index_loads_css_and_js_from_this_server_only(make_app, local_csv):
    client = make_app(
        Settings.from_env({}, app_env="development", data_source="local", local_data_path=local_csv)
    ).server.test_client()
    html = client.get("/").get_data(as_text=True)
    urls = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert urls, "the index should reference scripts and styles"
    assert all(url.startswith("/") and not url.startswith("//") for url in urls), urls
    stylesheets = [url for url in urls if url.startswith("/vendor/bootstrap-")]
    css = client.get(stylesheets[0])
    assert css.status_code == 200 and b"Bootstrap" in css.data[:500]


@contextlib.contextmanager
def _gunicorn(env: dict[str, str], workers: int = 2) -> Iterator[str]:
    """gunicorn serving ``app:create_server()`` on 127.0.0.1 with ``env``; yields its base URL."""
    with Gunicorn(env, workers=workers) as server:
        yield server.url


def _post_json(url: str, body: dict) -> tuple[int, bytes]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.read()


@pytest.mark.integration
def test_gunicorn_serves_app_server_from_environment(local_csv):
    env = {
        "DATA_SOURCE": "local",
        "LOCAL_DATA_PATH": str(local_csv),
        # gunicorn means production: a strong secret and a configured admin are required.
        "SECRET_KEY": "a-test-secret-that-is-long-and-random-0123456789",
        "ADMIN_USERS": "alice:scrypt:131072:8:1$salt$0123abcd",
    }
    with _gunicorn(env) as base_url:
        with urllib.request.urlopen(f"{base_url}/", timeout=5) as response:
            scripts = re.findall(r'<script src="([^"]+)"', response.read().decode())
        assert scripts
        for _ in range(3):  # every worker serves Dash's own scripts (multi-worker cold start)
            for path in [*scripts, "/_dash-dependencies", "/_dash-layout"]:
                with urllib.request.urlopen(f"{base_url}{path}", timeout=5) as response:
                    assert response.status == 200, path


@pytest.mark.integration
def test_workers_in_development_share_one_key(local_csv):
    """Without SECRET_KEY (development), what one worker signs the other must accept."""
    env = {"APP_ENV": "development", "DATA_SOURCE": "local", "LOCAL_DATA_PATH": str(local_csv)}
    with _gunicorn(env) as base_url:
        with urllib.request.urlopen(f"{base_url}/live/version", timeout=5) as response:
            shown = shown_from(json.loads(response.read()))
        # Concurrent requests, so that both workers answer some of them.
        chart_url = f"{base_url}/live/{quote(shown['generation'])}/chart?{urlencode({'t': shown['token']})}"

        def get_status(_: int) -> int:
            try:
                with urllib.request.urlopen(chart_url, timeout=10) as response:
                    return response.status
            except urllib.error.HTTPError as error:
                return error.code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(get_status, range(32)))
        assert statuses == [200] * 32  # 403: a worker refused the other's signature


@pytest.mark.integration
def test_gunicorn_refuses_to_start_in_production_without_a_secret(local_csv):
    env = {"PATH": "/usr/bin:/bin", "DATA_SOURCE": "local", "LOCAL_DATA_PATH": str(local_csv)}
    with pytest.raises(RuntimeError, match="exited with") as refused, Gunicorn(env, workers=1):
        pass
    assert "live-dashboard: APP_ENV=production needs a strong SECRET_KEY" in str(refused.value)
