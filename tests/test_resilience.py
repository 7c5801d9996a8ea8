"""Outages of the parts around the app: the shared cache going away must not take dashboards down."""

from __future__ import annotations

import time

import pytest

from auth.passwords import hash_password
from settings import SettingsError
from testinfra import SAMPLE_CSV, RedisServer, free_port
from testinfra.dash_requests import poll

PASSWORD = "signing in needs the session store"


def test_unreachable_redis_url_stops_start_up_with_one_line(gcs_settings, make_app):
    settings = gcs_settings.with_overrides(
        cache_type="RedisCache", cache_redis_url=f"redis://127.0.0.1:{free_port()}/0"
    )
    with pytest.raises(SettingsError, match=r"CACHE_REDIS_URL .* is not reachable"):
        make_app(settings)


def test_dashboards_and_login_keep_working_when_redis_dies(bucket, gcs_settings, make_app):
    bucket.blob("data/data.csv").upload_from_string(SAMPLE_CSV)
    redis = RedisServer().start()
    try:
        app = make_app(gcs_settings.with_overrides(cache_type="RedisCache", cache_redis_url=redis.url))
        client = app.server.test_client()
        shown = poll(client).json["response"]["shown-version"]["data"]
    finally:
        redis.stop()

    time.sleep(gcs_settings.version_cache_seconds + 0.05)
    assert poll(client, shown=shown).status_code == 204  # still answers, from a process-local cache
    new_generation = bucket.blob("data/data.csv")
    new_generation.upload_from_string(SAMPLE_CSV + b"4,4,4\n")
    deadline = time.monotonic() + 10
    while (changed := poll(client, shown=shown)).status_code == 204 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert changed.status_code == 200  # the new generation is found once the local entry expires
    assert changed.json["response"]["shown-version"]["data"]["generation"] == str(new_generation.generation)
    login = client.post("/login", data={"username": "nobody", "password": "x"})
    assert login.status_code == 401  # the rate limiter fell back to memory instead of failing


def test_signing_in_while_redis_is_down_answers_503_not_500(bucket, gcs_settings, make_app):
    bucket.blob("data/data.csv").upload_from_string(SAMPLE_CSV)
    redis = RedisServer().start()
    try:
        admin = f"alice:{hash_password(PASSWORD)}"
        settings = gcs_settings.with_overrides(cache_type="RedisCache", cache_redis_url=redis.url, admin_users=admin)
        app = make_app(settings)
    finally:
        redis.stop()
    client = app.server.test_client()
    signing_in = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert signing_in.status_code == 503 and signing_in.headers["Retry-After"] == "5"
    assert client.get("/admin").status_code == 302  # no session was made


def test_redis_down_costs_one_storage_call_per_period_not_one_per_poll(bucket, fake_gcs, gcs_settings, make_app):
    bucket.blob("data/data.csv").upload_from_string(SAMPLE_CSV)
    redis = RedisServer().start()
    try:
        settings = gcs_settings.with_overrides(
            cache_type="RedisCache", cache_redis_url=redis.url, version_cache_seconds=60
        )
        client = make_app(settings).server.test_client()
        shown = poll(client).json["response"]["shown-version"]["data"]
    finally:
        redis.stop()
    before = fake_gcs.metadata_gets(bucket.name)
    statuses = [poll(client, shown=shown).status_code for _ in range(30)]
    assert statuses == [204] * 30
    # One check to fill the process-local stand-in; without it, 30 (one per poll).
    assert fake_gcs.metadata_gets(bucket.name) - before <= 1
