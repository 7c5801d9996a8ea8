"""Two instances, one Redis: a real redis-server, fake-gcs-server and TWO gunicorn processes
(two "instances", two workers each, gunicorn.conf.py's worker class), as deployed on App Engine behind one Memorystore.

Storage calls are counted at the emulator. Shown: one version check per
``VERSION_CACHE_SECONDS`` for the whole deployment, one download per generation for the
whole deployment (parsed frames are shared through Redis), sign-out and the login limit
shared; Redis stopped mid-test -> no 5xx, polls served, storage calls bounded by a
process-local cache; Redis back -> shared again.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from auth.passwords import hash_password
from testinfra import SAMPLE_CSV, FakeGCS, Gunicorn, RedisServer, gcs_env
from testinfra.dash_requests import shown_from

BLOB = "data/data.csv"
VERSION_CACHE_SECONDS = 1.0
PASSWORD = "two instances share one redis"
WORKERS_PER_INSTANCE = 2
# Frames are kept in the shared cache (data_access.live_data): one download per generation for
# the whole deployment. Were big frames kept per process, this would be per instance (or worker).
DOWNLOADS_PER_GENERATION = 1
CLIENT_THREADS = 8


@pytest.fixture(scope="module")
def deployment(fake_gcs: FakeGCS, gcs_client: Any) -> Iterator[dict[str, Any]]:
    bucket = gcs_client.create_bucket(f"two-instances-{secrets.token_hex(4)}")
    bucket.blob(BLOB).upload_from_string(SAMPLE_CSV)
    redis = RedisServer().start()
    env = gcs_env(
        fake_gcs.url,
        bucket.name,
        CACHE_TYPE="RedisCache",
        CACHE_REDIS_URL=redis.url,
        VERSION_CACHE_SECONDS=str(VERSION_CACHE_SECONDS),
        ADMIN_USERS=f"alice:{hash_password(PASSWORD)}",
        LOGIN_RATE_LIMIT="100 per minute",
        LOGIN_ACCOUNT_RATE_LIMIT="3 per minute",  # per account and address: counts the sign-in below too
    )  # one SECRET_KEY and one admin list for both instances, as one deployment has
    instances = [Gunicorn(env, workers=WORKERS_PER_INSTANCE) for _ in range(2)]
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:  # both boot at once
            list(pool.map(lambda instance: instance.start(), instances))
        yield {"bucket": bucket, "redis": redis, "urls": [instance.url for instance in instances]}
    finally:
        for instance in instances:
            instance.stop()
        redis.stop()


def _poll(url: str, shown: dict | None) -> tuple[int, dict | None]:
    """A page's check of /live/version: 200 and the new shown version when it changed, else 204."""
    response = requests.get(f"{url}/live/version", timeout=20)
    if response.status_code != 200:
        return response.status_code, None
    document = response.json()
    assert document["status"] == "live", document  # else the status changed: say which
    if shown and shown.get("generation") == document["generation"]:
        return 204, None
    return 200, shown_from(document)


def _poll_both(urls: list[str], shown: dict | None, seconds: float) -> list[int]:
    """Poll both instances from several clients for ``seconds``; every status answered."""
    statuses: list[int] = []
    ends = time.monotonic() + seconds
    targets = itertools.cycle(urls)

    def client(_: int) -> None:
        while time.monotonic() < ends:
            statuses.append(_poll(next(targets), shown)[0])

    with ThreadPoolExecutor(max_workers=CLIENT_THREADS) as pool:
        list(pool.map(client, range(CLIENT_THREADS)))
    return statuses


def _counted(fake_gcs: FakeGCS, bucket: str, action: Callable[[], Any]) -> tuple[Any, int, float]:
    """``action()``'s result, the metadata GETs storage saw meanwhile, and how long it took."""
    before, started = fake_gcs.metadata_gets(bucket), time.monotonic()
    result = action()
    return result, fake_gcs.metadata_gets(bucket) - before, time.monotonic() - started


def _per_period_bound(seconds: float, caches: int = 1) -> int:
    """At most one check per period per cache, +1 per cache for a period cut by the window's edges."""
    return caches * (int(seconds / VERSION_CACHE_SECONDS) + 2)


def _login(url: str, password: str = PASSWORD) -> requests.Response:
    return requests.post(
        f"{url}/login", data={"username": "alice", "password": password}, allow_redirects=False, timeout=30
    )


def _admin_status(url: str, cookie: str) -> int:
    # The cookie is __Host- and Secure (production): sent by hand over this plain-HTTP test.
    return requests.get(f"{url}/admin", headers={"Cookie": cookie}, allow_redirects=False, timeout=10).status_code


def _session_cookie(response: requests.Response) -> str:
    cookies = response.raw.headers.getlist("Set-Cookie")
    return next(cookie for cookie in cookies if "live_dashboard_session=" in cookie).split(";", 1)[0]


def test_two_instances_share_one_redis(deployment, fake_gcs):
    bucket, redis, urls = deployment["bucket"], deployment["redis"], deployment["urls"]
    status, shown = _poll(urls[0], None)
    assert status == 200

    # 1. Version checks: one per period for the whole deployment (4 workers, 2 instances).
    statuses, checks, took = _counted(fake_gcs, bucket.name, lambda: _poll_both(urls, shown, 2))
    assert set(statuses) == {204} and len(statuses) > 4 * _per_period_bound(took)
    assert checks <= _per_period_bound(took), (checks, took)

    # 2. A new generation: downloaded once for the deployment, seen by both instances.
    blob = bucket.blob(BLOB)
    blob.upload_from_string(SAMPLE_CSV + b"4,4,4\n")
    downloads_before = fake_gcs.downloads(bucket.name)
    deadline = time.monotonic() + 10
    seen: dict[str, dict] = {}
    while len(seen) < 2 and time.monotonic() < deadline:
        for url in urls:
            code, new = _poll(url, shown)
            if code == 200 and new["generation"] == str(blob.generation):
                seen[url] = new
    assert len(seen) == 2
    _poll_both(urls, None, 1)  # every worker asks for the new generation's frame
    assert fake_gcs.downloads(bucket.name) - downloads_before == DOWNLOADS_PER_GENERATION
    shown = seen[urls[0]]

    # 3. Sign-out on one instance ends the session on the other; the login limit is shared.
    cookie = _session_cookie(_login(urls[0]))
    assert _admin_status(urls[1], cookie) == 200
    requests.post(f"{urls[1]}/logout", headers={"Cookie": cookie}, allow_redirects=False, timeout=10)
    assert _admin_status(urls[0], cookie) == 302
    failures = [_login(urls[0], "wrong").status_code, _login(urls[1], "wrong").status_code]
    assert failures == [401, 401]
    assert _login(urls[0]).status_code == 429  # the account is limited for this address on every instance

    # 4. Redis stops: no 5xx, polls answered, version checks bounded per worker (not one per poll).
    redis.stop()
    statuses, checks, took = _counted(fake_gcs, bucket.name, lambda: _poll_both(urls, shown, 2))
    workers = 2 * WORKERS_PER_INSTANCE
    assert statuses and all(status in (200, 204) for status in statuses), sorted(set(statuses))
    assert checks <= _per_period_bound(took, caches=workers) < len(statuses), (checks, len(statuses))

    # 5. Redis is back: shared again (one check per period for everyone, sessions across instances).
    redis.start()
    deadline = time.monotonic() + 20
    while True:
        _, checks, took = _counted(fake_gcs, bucket.name, lambda: _poll_both(urls, shown, 2))
        if checks <= _per_period_bound(took) or time.monotonic() > deadline:
            break
    assert checks <= _per_period_bound(took), (checks, took)
    cookie = _session_cookie(_login(urls[1]))
    assert _admin_status(urls[0], cookie) == 200
    print(json.dumps({"checks_last_window": checks, "window_seconds": round(took, 1)}))
