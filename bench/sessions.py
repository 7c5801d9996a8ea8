"""(b) Storage calls per minute vs number of polling sessions, at the real settings.

Each simulated session is one browser tab: it polls every POLL_INTERVAL_SECONDS with
the generation it shows (as ``gatePoll`` does: a tick is skipped while its previous
poll is in flight). One scheduler thread hands due polls to a small thread pool, so
500 sessions never need 500 threads. Two generations are published per window (at
its start and middle), so downloads per generation are measured too.

Targets: SimpleCache on one gunicorn worker (one process, one cache) and RedisCache
on two workers sharing one redis-server (the fleet shares one cache).
"""

from __future__ import annotations

import heapq
import http.client
import json
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from bench.data import create_bucket, publish, sample_csv
from settings import Settings
from testinfra import FakeGCS, Gunicorn, RedisServer, gcs_env
from testinfra.dash_requests import shown_from

SESSION_COUNTS = (1, 50, 500)
WINDOW_SECONDS = 20.0
GENERATIONS_PER_WINDOW = 2
POOL_THREADS = 32
WARM_UP_POLLS = 40  # before any window, so no worker pays its first-request costs inside one
CALLBACK_PATH = "/_dash-update-component"
POLL_INTERVAL_SECONDS = Settings.model_fields["poll_interval_seconds"].default
VERSION_CACHE_SECONDS = Settings.model_fields["version_cache_seconds"].default


@dataclass
class Target:
    """One server under test, with its own bucket."""

    cache: str
    workers: int
    server: Gunicorn
    bucket: Any


@dataclass
class _Session:
    shown: dict | None = None
    status: dict | None = None
    busy: bool = False


@dataclass
class WindowResult:
    """What one target saw in one window of ``sessions`` sessions."""

    cache: str
    workers: int
    sessions: int
    seconds: float
    metadata_gets: int = 0
    downloads: int = 0
    generations: int = GENERATIONS_PER_WINDOW
    statuses: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, status: int | str, latency: float) -> None:
        with self._lock:
            self.statuses[status] += 1
            self.latencies.append(latency)

    def per_minute(self, count: int) -> float:
        return count * 60 / self.seconds

    @property
    def polls(self) -> int:
        return sum(self.statuses.values())

    def latency_ms(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000


def no_cache_metadata_per_minute(sessions: int) -> float:
    """Without a shared version cache every poll is a metadata GET."""
    return sessions * 60 / POLL_INTERVAL_SECONDS


def cached_bound_per_minute(sessions: int) -> float:
    """At most one GET per VERSION_CACHE_SECONDS per cache, and never more than the polls."""
    return min(no_cache_metadata_per_minute(sessions), 60 / VERSION_CACHE_SECONDS)


def measure(emulator: FakeGCS, client: Any) -> list[WindowResult]:
    """Every session count against every cache type; servers stopped before returning."""
    stack: list[Any] = []
    try:
        targets = _start_targets(emulator, client, stack)
        results: list[WindowResult] = []
        for index, sessions in enumerate(SESSION_COUNTS):
            results.extend(_run_window(targets, sessions, emulator, seed=index))
        return results
    finally:
        for server in reversed(stack):
            server.stop()


def _start_targets(emulator: FakeGCS, client: Any, stack: list[Any]) -> list[Target]:
    simple_bucket = create_bucket(client, "bench-sessions-simple")
    simple = Gunicorn(gcs_env(emulator.url, simple_bucket.name), workers=1)
    stack.append(simple)
    simple.start()
    targets = [Target("SimpleCache", 1, simple, simple_bucket)]
    if RedisServer.available():
        redis = RedisServer()
        stack.append(redis)
        redis.start()
        redis_bucket = create_bucket(client, "bench-sessions-redis")
        env = gcs_env(emulator.url, redis_bucket.name, CACHE_TYPE="RedisCache", CACHE_REDIS_URL=redis.url)
        shared = Gunicorn(env, workers=2)
        stack.append(shared)
        shared.start()
        targets.append(Target("RedisCache", 2, shared, redis_bucket))
    _publish_all(targets, content_seed=999)
    for target in targets:
        _warm_up(target)
    return targets


def _warm_up(target: Target) -> None:
    """Concurrent first polls, so that every worker has loaded its storage client and a frame."""
    local = threading.local()
    warm_up = WindowResult(target.cache, target.workers, 0, 1.0)
    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="bench-warm-up") as pool:
        for _ in range(WARM_UP_POLLS):
            pool.submit(_poll, local, target, _Session(), warm_up)


def _run_window(targets: list[Target], sessions: int, emulator: FakeGCS, seed: int) -> list[WindowResult]:
    results = [WindowResult(t.cache, t.workers, sessions, WINDOW_SECONDS) for t in targets]
    before = [(emulator.metadata_gets(t.bucket.name), emulator.downloads(t.bucket.name)) for t in targets]
    _publish_all(targets, seed * GENERATIONS_PER_WINDOW)
    _drive(targets, results, sessions, seed)
    for target, result, (gets, downloads) in zip(targets, results, before, strict=True):
        result.metadata_gets = emulator.metadata_gets(target.bucket.name) - gets
        result.downloads = emulator.downloads(target.bucket.name) - downloads
    return results


def _publish_all(targets: list[Target], content_seed: int) -> None:
    content = sample_csv(1_000, seed=content_seed)
    for target in targets:
        publish(target.bucket, content)


def _drive(targets: list[Target], results: list[WindowResult], sessions: int, seed: int) -> None:
    """Run the poll schedule for WINDOW_SECONDS; publish the second generation halfway."""
    rng = random.Random(seed)
    start = time.monotonic()
    end = start + WINDOW_SECONDS
    queue = [
        (start + rng.uniform(0, POLL_INTERVAL_SECONDS), index, target_index, _Session())
        for target_index in range(len(targets))
        for index in range(sessions)
    ]
    heapq.heapify(queue)
    publish_at = start + WINDOW_SECONDS / GENERATIONS_PER_WINDOW
    published = False
    local = threading.local()
    with ThreadPoolExecutor(max_workers=POOL_THREADS, thread_name_prefix="bench-session") as pool:
        while time.monotonic() < end:
            now = time.monotonic()
            if not published and now >= publish_at:
                _publish_all(targets, seed * GENERATIONS_PER_WINDOW + 1)
                published = True
            while queue and queue[0][0] <= now:
                due, index, target_index, session = heapq.heappop(queue)
                if due < end:
                    heapq.heappush(queue, (due + POLL_INTERVAL_SECONDS, index, target_index, session))
                if not session.busy and due < end:
                    session.busy = True
                    pool.submit(_poll, local, targets[target_index], session, results[target_index])
            time.sleep(max(0.0, min(0.005, (queue[0][0] if queue else end) - time.monotonic())))


def _poll(local: threading.local, target: Target, session: _Session, result: WindowResult) -> None:
    """One poll tick of one session; keeps what the server answered, as the browser would."""
    connections = local.__dict__.setdefault("connections", {})
    server = target.server
    connection = connections.get(server.port) or http.client.HTTPConnection(server.host, server.port, timeout=15)
    connections[server.port] = connection
    sent = time.perf_counter()
    try:
        connection.request("GET", "/live/version")
        response = connection.getresponse()
        content = response.read()
        status = response.status
        if status == 200:
            document = json.loads(content)
            changed = document["status"] == "live" and document["generation"] != (session.shown or {}).get("generation")
            status = 200 if changed else 204  # 204: the page changes nothing, as the old unchanged poll
            if changed:
                _apply(session, {"shown-version": {"data": shown_from(document)}})
        result.record(status, time.perf_counter() - sent)
    except (OSError, http.client.HTTPException, ValueError, KeyError):
        connection.close()
        result.record("error", time.perf_counter() - sent)
    finally:
        session.busy = False


def _apply(session: _Session, response: dict) -> None:
    if "shown-version" in response:
        session.shown = response["shown-version"]["data"]
    if "storage-status" in response:
        session.status = response["storage-status"]["data"]
