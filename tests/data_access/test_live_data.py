"""The shared cache: storage calls counted at a real emulator, with each cache backend."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from data_access import LiveData, build_live_data, make_cache, make_storage_client
from data_access.frame_store import REPLACED_FRAME_SECONDS, frame_bytes
from data_access.live_data import VERSION_LOCK_SECONDS, DataUnavailable
from testinfra import SAMPLE_CSV, free_port


class FakeClock:
    """Time that moves only when the test says so (storage calls stay real)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _live_data(settings, gcs_client, clock=None, **overrides) -> LiveData:
    settings = settings.with_overrides(**overrides) if overrides else settings
    live_data = build_live_data(settings, gcs_client)
    if clock is not None:
        live_data._clock = clock
    return live_data


def _publish(bucket, content: bytes = SAMPLE_CSV) -> str:
    blob = bucket.blob("data/data.csv")
    blob.upload_from_string(content)
    return str(blob.generation)


def test_many_sessions_cost_one_metadata_call_per_period(bucket, gcs_settings, gcs_client, fake_gcs):
    _publish(bucket)
    clock = FakeClock()
    live_data = _live_data(gcs_settings, gcs_client, clock, version_cache_seconds=5)
    before = fake_gcs.metadata_gets(bucket.name)

    for _period in range(3):
        for _session in range(200):
            assert live_data.check_version().ok
        clock.now += 5

    assert fake_gcs.metadata_gets(bucket.name) - before == 3


def test_while_one_thread_renews_the_check_unchanged_polls_keep_the_previous_answer(bucket, gcs_settings, gcs_client):
    first = _publish(bucket)
    clock = FakeClock()
    live_data = _live_data(gcs_settings, gcs_client, clock, version_cache_seconds=2)
    assert live_data.check_version().version.generation == first
    second = _publish(bucket, SAMPLE_CSV + b"4,4,4\n")
    clock.now += 2
    assert live_data.recent_check() is None  # due, and nobody is renewing it

    in_storage, release = threading.Event(), threading.Event()
    storage_call = live_data.source.current_version

    def held_storage_call():
        in_storage.set()
        release.wait(10)
        return storage_call()

    live_data.source.current_version = held_storage_call
    renewing = threading.Thread(target=live_data.check_version)
    renewing.start()
    try:
        assert in_storage.wait(10)
        # Meanwhile unchanged polls may keep the previous answer; what hands a generation out may not.
        assert live_data.recent_check(while_renewing=True).version.generation == first
        assert live_data.recent_check() is None
        clock.now += VERSION_LOCK_SECONDS
        assert live_data.recent_check(while_renewing=True) is None  # a hung renewal does not keep it forever
    finally:
        release.set()
        renewing.join(10)
    assert live_data.recent_check().version.generation == second


def test_concurrent_misses_make_a_single_storage_call(bucket, gcs_settings, gcs_client, fake_gcs):
    _publish(bucket)
    live_data = _live_data(gcs_settings, gcs_client, version_cache_seconds=30)
    before = fake_gcs.metadata_gets(bucket.name)

    with ThreadPoolExecutor(max_workers=16) as pool:
        checks = list(pool.map(lambda _: live_data.check_version(), range(64)))

    assert all(check.ok for check in checks)
    assert fake_gcs.metadata_gets(bucket.name) - before == 1


def test_new_generation_is_seen_after_the_period(bucket, gcs_settings, gcs_client):
    first = _publish(bucket)
    clock = FakeClock()
    live_data = _live_data(gcs_settings, gcs_client, clock, version_cache_seconds=2)
    assert live_data.check_version().version.generation == first

    second = _publish(bucket, SAMPLE_CSV + b"4,4,4\n")
    assert live_data.check_version().version.generation == first  # still within the period
    clock.now += 2
    assert live_data.check_version().version.generation == second


def test_a_replaced_frame_leaves_with_version_checks_alone_when_no_page_asks_for_frames(
    bucket, gcs_settings, gcs_client
):
    clock = FakeClock()
    live_data = _live_data(gcs_settings, gcs_client, clock, version_cache_seconds=2)
    live_data.local_frames._clock = clock
    old = live_data.frame(_publish(bucket))
    new = live_data.frame(_publish(bucket, SAMPLE_CSV + b"4,4,4\n"))
    assert live_data.local_frames.held_bytes() == frame_bytes(old) + frame_bytes(new)  # pages may still draw it

    clock.now += REPLACED_FRAME_SECONDS + 1
    assert live_data.check_version().ok  # what unchanged polls do: no frame is looked up
    assert live_data.local_frames.held_bytes() == frame_bytes(new)


def test_frame_is_downloaded_once_per_generation_for_all_sessions(bucket, gcs_settings, gcs_client, fake_gcs):
    generation = _publish(bucket)
    live_data = _live_data(gcs_settings, gcs_client)
    before = fake_gcs.downloads(bucket.name)

    frames = [live_data.frame(generation) for _ in range(50)]

    assert fake_gcs.downloads(bucket.name) - before == 1
    assert list(frames[-1]["add_num"]) == [3, 7, 11]
    assert list(frames[-1]["multiply_num"]) == [2, 12, 30]


def test_unparsable_generation_is_reported_and_not_downloaded_again(bucket, gcs_settings, gcs_client, fake_gcs):
    generation = _publish(bucket, b"\x1f\x8b\x08\x00 gzip bytes, not a CSV \xff\xfe")
    live_data = _live_data(gcs_settings, gcs_client)
    before = fake_gcs.downloads(bucket.name)

    for _ in range(5):
        with pytest.raises(DataUnavailable) as caught:
            live_data.frame(generation)
        assert caught.value.permanent

    assert fake_gcs.downloads(bucket.name) - before == 1


def test_outage_is_cached_too_so_sessions_do_not_hammer_storage(bucket, gcs_settings):
    clock = FakeClock()
    dead_client = make_storage_client("test-project", f"http://127.0.0.1:{free_port()}")
    live_data = _live_data(gcs_settings, dead_client, clock, version_cache_seconds=5)
    calls = []
    real_current_version = live_data.source.current_version
    live_data.source.current_version = lambda: calls.append(1) or real_current_version()

    checks = [live_data.check_version() for _ in range(20)]

    assert all(not check.ok for check in checks)
    assert "cannot read metadata" in checks[0].error
    assert len(calls) == 1


@pytest.mark.parametrize("cache_type", ["RedisCache", "FileSystemCache"])
def test_two_workers_share_one_cache(cache_type, bucket, gcs_settings, gcs_client, fake_gcs, redis_server, tmp_path):
    """Two LiveData objects (two gunicorn workers) over one shared backend: one storage call."""
    _publish(bucket)
    overrides = {"cache_type": cache_type, "version_cache_seconds": 30, "cache_dir": tmp_path / "cache"}
    if cache_type == "RedisCache":
        overrides["cache_redis_url"] = redis_server.url
    settings = gcs_settings.with_overrides(**overrides)
    worker_a = _live_data(settings, gcs_client)
    worker_b = _live_data(settings, gcs_client)
    make_cache(settings).clear()
    metadata_before = fake_gcs.metadata_gets(bucket.name)
    downloads_before = fake_gcs.downloads(bucket.name)

    version_a = worker_a.check_version().version
    version_b = worker_b.check_version().version
    worker_a.frame(version_a.generation)
    frame_b = worker_b.frame(version_b.generation)

    assert version_a == version_b
    assert list(frame_b["add_num"]) == [3, 7, 11]
    assert fake_gcs.metadata_gets(bucket.name) - metadata_before == 1
    assert fake_gcs.downloads(bucket.name) - downloads_before == 1


def test_local_file_versions_flow_through_the_cache(local_csv):
    from settings import Settings

    settings = Settings.from_env(
        {}, app_env="development", data_source="local", local_data_path=local_csv, version_cache_seconds=0
    )
    live_data = build_live_data(settings)
    first = live_data.check_version().version

    local_csv.write_bytes(SAMPLE_CSV + b"4,10,10\n")
    second = live_data.check_version().version

    assert first.generation != second.generation
    assert list(live_data.frame(second.generation)["add_num"])[-1] == 20


def test_a_worker_arriving_during_the_parse_waits_instead_of_downloading_again(
    bucket, gcs_settings, gcs_client, fake_gcs, redis_server
):
    """Two workers on one Redis; the second asks while the first is still taking the generation up.

    The first worker's real download is held until the second has looked for the frame in the
    shared cache twice (i.e. it is waiting) or has gone to storage itself (the bug): no sleeps.
    """
    generation = _publish(bucket)
    settings = gcs_settings.with_overrides(cache_type="RedisCache", cache_redis_url=redis_server.url)
    first_worker, second_worker = _live_data(settings, gcs_client), _live_data(settings, gcs_client)
    first_downloaded, second_is_waiting = threading.Event(), threading.Event()
    frame_key = second_worker.shared_frames.key(generation)
    second_looks = []

    def first_read(generation: str) -> bytes:
        content = real_first_read(generation)
        first_downloaded.set()
        second_is_waiting.wait(timeout=30)
        return content

    def second_get(key: str):
        second_looks.extend([key] if key == frame_key else [])
        if len(second_looks) >= 2:
            second_is_waiting.set()
        return real_second_get(key)

    def second_read(generation: str) -> bytes:
        second_is_waiting.set()  # it went to storage instead of waiting: let the first finish
        return real_second_read(generation)

    real_first_read, first_worker.source.read = first_worker.source.read, first_read
    real_second_get, second_worker.cache.get = second_worker.cache.get, second_get
    real_second_read, second_worker.source.read = second_worker.source.read, second_read
    before = fake_gcs.downloads(bucket.name)

    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(first_worker.frame, generation)
        assert first_downloaded.wait(timeout=30)
        second = pool.submit(second_worker.frame, generation)
        frames = [first.result(timeout=60), second.result(timeout=60)]

    assert [list(frame["add_num"]) for frame in frames] == [[3, 7, 11], [3, 7, 11]]
    assert fake_gcs.downloads(bucket.name) - before == 1


@pytest.mark.parametrize("cache_type", ["SimpleCache", "RedisCache"])
def test_a_lock_is_released_only_by_its_holder(cache_type, bucket, gcs_settings, gcs_client, redis_server):
    overrides = {"cache_type": cache_type}
    if cache_type == "RedisCache":
        overrides["cache_redis_url"] = redis_server.url
    cache = _live_data(gcs_settings, gcs_client, **overrides).cache
    key = f"test-lock-{cache_type}-{bucket.name}"

    first = cache.take_lock(key, 30)
    assert first and cache.take_lock(key, 30) is None

    # The lock expires while its first holder is still busy; a second worker takes it.
    if cache_type == "RedisCache":
        redis_client = cache.redis
        redis_client.delete(cache._key_prefix + key)
    else:
        cache.delete(key)
    second = cache.take_lock(key, 30)
    assert second
    cache.release_lock(first)  # the first holder finishes late
    assert cache.take_lock(key, 30) is None  # ... and did not free the second holder's lock
    cache.release_lock(second)
    assert cache.take_lock(key, 30)


def test_a_slow_check_is_fresh_from_when_it_answered(bucket, gcs_settings, gcs_client, fake_gcs):
    _publish(bucket)
    clock = FakeClock()
    live_data = _live_data(gcs_settings, gcs_client, clock, version_cache_seconds=5)
    ask_storage = live_data.source.current_version

    def slow_answer():  # the storage call takes 8 s of (fake) time
        clock.now += 8
        return ask_storage()

    live_data.source.current_version = slow_answer
    before = fake_gcs.metadata_gets(bucket.name)
    live_data.check_version()
    clock.now += 4  # 12 s after it was asked, 4 s after the answer
    live_data.check_version()
    assert fake_gcs.metadata_gets(bucket.name) - before == 1


def test_a_ragged_csv_written_straight_to_the_source_is_an_unreadable_version_naming_its_line(local_csv):
    from settings import Settings

    settings = Settings.from_env(
        {}, app_env="development", data_source="local", local_data_path=local_csv, version_cache_seconds=0
    )
    live_data = build_live_data(settings)
    local_csv.write_bytes(b"ID,first_num,second_num\n1,1,234.50,3\n2,3,4\n")  # an unquoted "1,234.50"
    with pytest.raises(DataUnavailable, match="Line 2 has 4 fields") as caught:
        live_data.frame(live_data.check_version().version.generation)
    assert caught.value.permanent
