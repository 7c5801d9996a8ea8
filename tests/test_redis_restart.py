"""Admin sessions survive a restart of a Redis that persists its data (``appendonly yes``, as on Memorystore
with AOF persistence), and signed-in admins are not bounced to the sign-in page by the restart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from auth.passwords import hash_password
from testinfra import SAMPLE_CSV, RedisServer

PASSWORD = "sessions outlive a redis restart"


@pytest.fixture()
def persistent_redis() -> Iterator[RedisServer]:
    with RedisServer(appendonly=True) as server:
        yield server


def test_a_signed_in_admin_stays_signed_in_across_a_redis_restart(bucket, gcs_settings, make_app, persistent_redis):
    bucket.blob("data/data.csv").upload_from_string(SAMPLE_CSV)
    settings = gcs_settings.with_overrides(
        cache_type="RedisCache", cache_redis_url=persistent_redis.url, admin_users=f"alice:{hash_password(PASSWORD)}"
    )
    client = make_app(settings).server.test_client()
    signed_in = client.post("/login", data={"username": "alice", "password": PASSWORD})
    assert signed_in.status_code == 302
    assert client.get("/admin").status_code == 200

    persistent_redis.restart()

    # The first request after the restart already finds the session (no bounce to /login).
    assert client.get("/admin").status_code == 200
    assert client.get("/admin").status_code == 200
