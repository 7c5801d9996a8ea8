"""Frames as Arrow in the shared cache (real Redis, real emulator) and the per-process LRU."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
import redis

import data_access.frame_store as frame_store
from data_access import CACHE_KEY_PREFIX, LiveData, build_live_data
from data_access.frame_store import REPLACED_FRAME_SECONDS, SHARED_FRAME_SECONDS, LocalFrames, frame_bytes
from data_access.live_data import DataUnavailable
from testinfra import SAMPLE_CSV

KEY_PREFIX = CACHE_KEY_PREFIX


def _redis_settings(gcs_settings, redis_server, **overrides):
    return gcs_settings.with_overrides(cache_type="RedisCache", cache_redis_url=redis_server.url, **overrides)


def _worker(settings, gcs_client) -> LiveData:
    return build_live_data(settings, gcs_client)


def _publish(bucket, content: bytes) -> str:
    blob = bucket.blob("data/data.csv")
    blob.upload_from_string(content)
    return str(blob.generation)


def _frame_keys(redis_client: redis.Redis, generation: str) -> list[bytes]:
    return sorted(redis_client.keys(f"{KEY_PREFIX}*:frame:{generation}*"))


def _numbers_csv(rows: int, offset: int = 0) -> bytes:
    lines = [f"{number},{number + offset},{number % 7}" for number in range(rows)]
    return ("ID,first_num,second_num\n" + "\n".join(lines) + "\n").encode()


def test_frame_travels_between_workers_as_arrow_parts_no_larger_than_a_part(
    bucket, gcs_settings, gcs_client, fake_gcs, redis_server, monkeypatch
):
    """A frame bigger than one part is cut up; another worker reassembles it without a download."""
    monkeypatch.setattr(frame_store, "PART_BYTES", 4096)
    settings = _redis_settings(gcs_settings, redis_server)
    generation = _publish(bucket, _numbers_csv(2_000))
    first, second = _worker(settings, gcs_client), _worker(settings, gcs_client)
    downloads_before = fake_gcs.downloads(bucket.name)

    taken_up = first.frame(generation)
    shared = second.frame(generation)

    assert fake_gcs.downloads(bucket.name) - downloads_before == 1
    pd.testing.assert_frame_equal(shared, taken_up)
    client = redis.Redis.from_url(redis_server.url)
    parts = [key for key in _frame_keys(client, generation) if not key.decode().endswith(generation)]
    assert len(parts) > 2
    for key in parts:
        value = client.get(key)
        assert len(value) < 4096 + 1024  # a part, plus cachelib's pickle framing
        assert b"\xff\xff\xff\xff" in value[:64]  # an Arrow IPC stream, not a pickled DataFrame
        assert 0 < client.ttl(key) <= SHARED_FRAME_SECONDS


def test_only_the_live_generation_stays_in_redis(bucket, gcs_settings, gcs_client, redis_server):
    settings = _redis_settings(gcs_settings, redis_server)
    worker = _worker(settings, gcs_client)
    client = redis.Redis.from_url(redis_server.url)
    generations = []
    for number in range(4):
        generations.append(_publish(bucket, _numbers_csv(50, offset=number)))
        worker.frame(generations[-1])

    assert [bool(_frame_keys(client, generation)) for generation in generations] == [False, False, False, True]
    assert worker.local_frames.generations() == generations[:1:-1]  # the worker keeps the one before too


def test_an_old_generation_asked_for_late_does_not_push_the_live_one_out(
    bucket, gcs_settings, gcs_client, redis_server
):
    settings = _redis_settings(gcs_settings, redis_server)
    worker = _worker(settings, gcs_client)
    client = redis.Redis.from_url(redis_server.url)
    oldest, previous, live = (_publish(bucket, _numbers_csv(20, offset=number)) for number in range(3))
    worker.frame(previous)
    worker.frame(live)

    assert list(_worker(settings, gcs_client).frame(oldest)["first_num"])[:2] == [0, 1]  # still served

    assert not _frame_keys(client, oldest) and not _frame_keys(client, previous)
    assert _frame_keys(client, live)


def test_data_written_outside_the_app_is_not_held_to_the_upload_row_limit(bucket, gcs_settings, gcs_client):
    """MAX_ROWS limits uploads; a bigger object written straight to the bucket is still shown."""
    generation = _publish(bucket, _numbers_csv(500))
    live_data = _worker(gcs_settings.with_overrides(max_rows=100), gcs_client)

    assert len(live_data.frame(generation)) == 500


def test_data_larger_than_the_frame_memory_is_refused_with_the_setting_named(bucket, gcs_settings, gcs_client):
    generation = _publish(bucket, _numbers_csv(50_000))
    live_data = _worker(gcs_settings.with_overrides(frame_memory_mb=1), gcs_client)

    with pytest.raises(DataUnavailable) as refused:
        live_data.frame(generation)
    assert "FRAME_MEMORY_MB" in str(refused.value) and "50,000 rows" in str(refused.value)
    assert refused.value.permanent


def test_a_per_process_cache_keeps_no_second_copy_of_frames(bucket, gcs_settings, gcs_client):
    live_data = _worker(gcs_settings, gcs_client)  # SimpleCache
    generation = _publish(bucket, SAMPLE_CSV)
    live_data.frame(generation)

    assert live_data.shared_frames.get(generation) is None
    assert live_data.local_frames.generations() == [generation]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _frame(rows: int) -> pd.DataFrame:
    return pd.DataFrame({"value": np.arange(rows, dtype="int64")})


def test_local_frames_keep_the_newest_two_generations():
    frames = LocalFrames(budget_bytes=10**9)
    for generation in ("100", "300", "200", "400"):
        frames.put(generation, _frame(10))

    assert frames.generations() == ["400", "300"]


def test_local_frames_stay_within_the_memory_budget_dropping_the_older():
    one_frame = frame_bytes(_frame(1_000))
    frames = LocalFrames(budget_bytes=int(one_frame * 1.5))
    frames.put("1", _frame(1_000))
    frames.put("2", _frame(1_000))

    assert frames.generations() == ["2"]
    assert frames.held_bytes() <= frames.budget_bytes


def test_a_replaced_generation_is_dropped_once_unused_but_the_live_one_stays():
    clock = Clock()
    frames = LocalFrames(budget_bytes=10**9, clock=clock)
    frames.put("1", _frame(5))
    frames.put("2", _frame(5))
    clock.now += REPLACED_FRAME_SECONDS / 2
    assert frames.get("1") is not None  # a page still drawing it keeps it alive...
    clock.now += REPLACED_FRAME_SECONDS - 1
    assert frames.generations() == ["2", "1"]

    clock.now += 2  # ...until nobody asked for it for REPLACED_FRAME_SECONDS
    assert frames.generations() == ["2"]
    assert frames.get("2") is not None


def test_derived_data_is_built_once_per_generation_and_leaves_with_its_frame(bucket, gcs_settings, gcs_client):
    live_data = _worker(gcs_settings, gcs_client)
    generation = _publish(bucket, SAMPLE_CSV)
    builds = []

    def column_names(frame: pd.DataFrame) -> list[str]:
        builds.append(1)
        return list(frame.columns)

    for _ in range(5):
        assert live_data.derived(generation, "columns", column_names)[:3] == ["ID", "first_num", "second_num"]
    assert len(builds) == 1

    for number in range(2):
        live_data.frame(_publish(bucket, SAMPLE_CSV + f"{number},1,1\n".encode()))
    assert generation not in live_data.local_frames.generations()


def test_a_frame_arrow_cannot_hold_stays_in_its_worker(gcs_settings, redis_server, gcs_client):
    """A column mixing numbers and text (pandas' fallback reader can make one) is not shared, and no error."""
    live_data = _worker(_redis_settings(gcs_settings, redis_server), gcs_client)
    mixed = pd.DataFrame({"value": pd.Series([1, "x"], dtype=object)})

    live_data.shared_frames.put("123", frame_store.FrameEntry(frame=mixed))

    assert live_data.shared_frames.get("123") is None


def test_two_workers_of_one_server_never_parse_at_the_same_time(bucket, gcs_settings, gcs_client):
    """Per-process caches (SimpleCache), so both must download: the second only after the first is done."""
    generation = _publish(bucket, SAMPLE_CSV)
    first, second = _worker(gcs_settings, gcs_client), _worker(gcs_settings, gcs_client)
    first_inside, second_read, overlapped = threading.Event(), threading.Event(), []

    def first_read(generation: str) -> bytes:
        first_inside.set()
        # Bounded wait for something that must not happen: the second reading meanwhile.
        overlapped.append(second_read.wait(timeout=2))
        return real_first_read(generation)

    def second_read_tracked(generation: str) -> bytes:
        second_read.set()
        return real_second_read(generation)

    real_first_read, first.source.read = first.source.read, first_read
    real_second_read, second.source.read = second.source.read, second_read_tracked
    with ThreadPoolExecutor(max_workers=2) as pool:
        taken_up = pool.submit(first.frame, generation)
        assert first_inside.wait(timeout=30)
        frames = [pool.submit(second.frame, generation).result(timeout=60), taken_up.result(timeout=60)]

    assert overlapped == [False]
    assert [len(frame) for frame in frames] == [3, 3]
