"""What the hardening costs and saves: ``python -m bench.hardening`` from the repository root.

(h1) Per-request cost of the callback checks (auth.callback_guard) on an unchanged poll:
     the same app through Flask's test client, with and without the check, in alternating
     rounds (the machine is noisy), and the check alone.
(h2) Version checks that reach storage while Redis is stopped, per poll: the process-local
     stand-in (ours) vs no stand-in (every poll goes to storage, as before), counted at
     fake-gcs-server.

Servers (fake-gcs-server, redis-server) run on 127.0.0.1 and are stopped by PID.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cachelib import NullCache
from flask import Flask

from app import create_app
from auth.callback_guard import CallbackGuard
from bench.bench import table
from data_access import build_live_data
from settings import Settings
from tests.dash_requests import poll_payload
from tests.servers import FakeGCS, RedisServer, emulator_client

ROUNDS = 4
POLLS_PER_ROUND = 1500
REDIS_DOWN_POLLS = 300
POLL_SPACING_SECONDS = 0.01
VERSION_CACHE_SECONDS = 0.5


def _poll_microseconds(client: Any, shown: dict) -> float:
    started = time.perf_counter()
    for _ in range(POLLS_PER_ROUND):
        response = client.post("/_dash-update-component", json=poll_payload(shown))
        assert response.status_code == 204, response.status_code
    return (time.perf_counter() - started) / POLLS_PER_ROUND * 1e6


def measure_guard_cost() -> list[list[str]]:
    """(h1) µs per unchanged poll with and without the callback checks."""
    data = Path(tempfile.mkdtemp(prefix="bench-guard-")) / "data.csv"
    data.write_bytes(b"ID,first_num,second_num\n1,1,2\n2,3,4\n")
    settings = Settings.from_env({}, app_env="development", data_source="local", local_data_path=data)
    guarded = create_app(settings).server
    unguarded = create_app(settings.with_overrides(cache_dir=data.parent / "other")).server
    hooks = unguarded.before_request_funcs[None]
    unguarded.before_request_funcs[None] = [hook for hook in hooks if hook.__name__ != "refuse_malformed_callbacks"]
    clients = {"with checks": guarded.test_client(), "without checks": unguarded.test_client()}
    shown = {name: client.post("/_dash-update-component", json=poll_payload()).json for name, client in clients.items()}
    shown = {name: body["response"]["shown-version"]["data"] for name, body in shown.items()}
    timings: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(ROUNDS):
        for name, client in clients.items():
            timings[name].append(_poll_microseconds(client, shown[name]))
    body = poll_payload(shown["with checks"])
    guard: CallbackGuard = guarded.extensions["callback_guard"]
    started = time.perf_counter()
    for _ in range(20_000):
        guard.check(body)
    check_alone = (time.perf_counter() - started) / 20_000 * 1e6
    with_checks = statistics.median(timings["with checks"])
    without = statistics.median(timings["without checks"])
    return [
        ["unchanged poll, with checks", f"{with_checks:.0f}", " / ".join(f"{t:.0f}" for t in timings["with checks"])],
        ["unchanged poll, without checks", f"{without:.0f}", " / ".join(f"{t:.0f}" for t in timings["without checks"])],
        ["the check alone", f"{check_alone:.1f}", "20,000 calls"],
        ["ratio with / without", f"{with_checks / without:.2f}", ""],
    ]


def measure_redis_down() -> list[list[str]]:
    """(h2) Storage version checks per poll with Redis stopped, with and without the local stand-in."""
    rows = []
    with FakeGCS() as emulator:
        client = emulator_client(emulator)
        bucket = client.create_bucket("bench-redis-down")
        bucket.blob("data/data.csv").upload_from_string(b"ID,first_num,second_num\n1,1,2\n")
        for name, stand_in in (("process-local stand-in (ours)", None), ("no stand-in (before)", NullCache())):
            redis = RedisServer().start()
            settings = Settings.from_env(
                {},
                app_env="development",
                data_source="gcs",
                gcs_bucket=bucket.name,
                storage_emulator_host=emulator.url,
                gcp_project="bench",
                cache_type="RedisCache",
                cache_redis_url=redis.url,
                version_cache_seconds=VERSION_CACHE_SECONDS,
            )
            live_data = build_live_data(settings, Flask(__name__), client)
            if stand_in is not None:
                live_data.cache._local = stand_in  # the behaviour before: every lookup misses
            live_data.check_version()
            redis.stop()
            before, started = emulator.metadata_gets(bucket.name), time.monotonic()
            for _ in range(REDIS_DOWN_POLLS):
                assert live_data.check_version().ok
                time.sleep(POLL_SPACING_SECONDS)
            seconds = time.monotonic() - started
            calls = emulator.metadata_gets(bucket.name) - before
            rows.append([name, str(REDIS_DOWN_POLLS), f"{seconds:.1f}", str(calls), f"{calls / seconds * 60:,.0f}"])
    ours, before = int(rows[0][3]), int(rows[1][3])
    rows.append(["ratio before / ours", "", "", f"{before / max(ours, 1):.0f}×", ""])
    return rows


def main() -> int:
    print("(h1) Callback checks on an unchanged poll (Flask test client, one process, local data)\n")
    print(table(["request", "µs per request (median)", "rounds"], measure_guard_cost()))
    print(f"\n(h2) Redis stopped: version checks reaching storage, one process, VERSION_CACHE_SECONDS="
          f"{VERSION_CACHE_SECONDS}\n")
    print(table(["with Redis down", "polls", "seconds", "metadata GETs", "per minute"], measure_redis_down()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
