"""Polls within one VERSION_CACHE_SECONDS reuse this process's last check: no Redis round trip each."""

from __future__ import annotations

import redis as redis_client

from data_access import build_live_data
from testinfra import SAMPLE_CSV


def _commands(connection: redis_client.Redis) -> int:
    return int(connection.info("stats")["total_commands_processed"])


def test_checks_within_one_period_do_not_ask_redis(gcs_settings, gcs_client, bucket, redis_server):
    bucket.blob("data/data.csv").upload_from_string(SAMPLE_CSV)
    settings = gcs_settings.with_overrides(
        cache_type="RedisCache", cache_redis_url=redis_server.url, version_cache_seconds=60
    )
    live_data = build_live_data(settings, gcs_client)
    first = live_data.check_version()
    counter = redis_client.Redis.from_url(redis_server.url)
    before = _commands(counter)
    checks = [live_data.check_version() for _ in range(200)]
    assert _commands(counter) - before <= 1  # the first INFO itself
    assert {check.version.generation for check in checks} == {first.version.generation}


def test_publishing_process_forgets_its_check_at_once(gcs_settings, gcs_client, bucket, redis_server):
    bucket.blob("data/data.csv").upload_from_string(SAMPLE_CSV)
    settings = gcs_settings.with_overrides(
        cache_type="RedisCache", cache_redis_url=redis_server.url, version_cache_seconds=60
    )
    live_data = build_live_data(settings, gcs_client)
    old = live_data.check_version().version.generation
    new = live_data.source.write(SAMPLE_CSV + b"9,9,9\n", old, {"uploaded_by": "alice"})
    live_data.invalidate_version()
    assert live_data.check_version().version.generation == new.generation
