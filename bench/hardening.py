"""What the hardening costs and saves: ``python -m bench.hardening`` from the repository root.

(h1) Per-request cost of the raw-body callback checks (callback_input: nesting depth, valid text)
     on an unchanged poll: the same app through Flask's test client, with and without them,
     in alternating rounds (the machine is noisy). The typed values are checked in both.
(h2) Version checks that reach storage while Redis is stopped, per poll: the process-local
     stand-in (ours) vs no stand-in (every poll goes to storage, as before), counted at
     fake-gcs-server.
(h3) Eight concurrent anonymous 40 MiB posts to a gunicorn server (2 sync workers): the
     workers' peak memory and answers with the 1 MiB limit (ours) vs a 64 MiB limit (as
     big as before).
(h4) Health-check latency under N slow anonymous sign-ins (``POST /login`` bodies sent at one
     byte per second), gunicorn with one uvicorn worker and 8 threads: request bodies read on
     the event loop before a thread is taken (ours) vs handed to a thread at once (before).
     ``python -m bench.hardening slow-clients`` runs this one alone.
(h5) What open connections cost a worker (RSS) and whether it still answers: N connections
     that have sent a request and hold it open (keep-alive), under MAX_CONNECTIONS_PER_WORKER.
     ``python -m bench.hardening connections`` runs this one alone.

Servers (fake-gcs-server, redis-server) run on 127.0.0.1 and are stopped by PID.
"""

from __future__ import annotations

import contextlib
import http.client
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cachelib import NullCache

from app import create_app
from asgi_worker import AccessLog, DashboardWorker, asgi_app
from bench.bench import table
from data_access import build_live_data
from settings import Settings
from testinfra import FakeGCS, Gunicorn, RedisServer, emulator_client, gcs_env
from testinfra.dash_registry import reset_dash_registries
from testinfra.dash_requests import poll, view_payload

ROUNDS = 6
POLLS_PER_ROUND = 1500
REDIS_DOWN_POLLS = 300
POLL_SPACING_SECONDS = 0.01
VERSION_CACHE_SECONDS = 0.5
BIG_POSTS = 8
BIG_POST_BYTES = 40 * 2**20


def _poll_microseconds(client: Any, shown: dict) -> float:
    """CPU µs per view callback answered 204 (process time: other processes on a busy machine count less)."""
    body = view_payload(client, {**shown, "token": "forged"})  # checks the signature, then answers 204
    started = time.process_time()
    for _ in range(POLLS_PER_ROUND):
        response = client.post("/_dash-update-component", json=body)
        assert response.status_code == 204, response.status_code
    return (time.process_time() - started) / POLLS_PER_ROUND * 1e6


def measure_guard_cost() -> list[list[str]]:
    """(h1) µs per unchanged poll with and without the callback checks."""
    data = Path(tempfile.mkdtemp(prefix="bench-guard-")) / "data.csv"
    data.write_bytes(b"ID,first_num,second_num\n1,1,2\n2,3,4\n")
    settings = Settings.from_env({}, app_env="development", data_source="local", local_data_path=data)
    guarded = create_app(settings).server
    reset_dash_registries()  # a second app in this process
    unguarded = create_app(settings.with_overrides(cache_dir=data.parent / "other")).server
    hooks = unguarded.before_request_funcs[None]
    unguarded.before_request_funcs[None] = [hook for hook in hooks if hook.__name__ != "_refuse_unreadable_bodies"]
    clients = {"with checks": guarded.test_client(), "without checks": unguarded.test_client()}
    shown = {name: poll(client).json["response"]["shown-version"]["data"] for name, client in clients.items()}
    timings: dict[str, list[float]] = {name: [] for name in clients}
    for _ in range(ROUNDS):
        for name, client in clients.items():
            timings[name].append(_poll_microseconds(client, shown[name]))
    with_checks = statistics.median(timings["with checks"])
    without = statistics.median(timings["without checks"])
    return [
        ["unchanged poll, with checks", f"{with_checks:.0f}", " / ".join(f"{t:.0f}" for t in timings["with checks"])],
        ["unchanged poll, without checks", f"{without:.0f}", " / ".join(f"{t:.0f}" for t in timings["without checks"])],
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
            live_data = build_live_data(settings, client)
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


BIG_BODY = b'{"output": "x", "inputs": [' + b"1," * ((BIG_POST_BYTES - 40) // 2) + b"1]}"


def _post_big(server: Gunicorn) -> int:
    """One anonymous 40 MiB JSON post to the callback route; the HTTP status it got."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=120)
    try:
        connection.putrequest("POST", "/_dash-update-component")
        connection.putheader("Content-Type", "application/json")
        connection.putheader("Content-Length", str(len(BIG_BODY)))
        connection.endheaders()
        try:
            for start in range(0, len(BIG_BODY), 2**20):
                connection.send(BIG_BODY[start : start + 2**20])
        except OSError:
            pass  # answered and closed before taking the whole body: read that answer
        return connection.getresponse().status
    except OSError:
        return 0
    finally:
        connection.close()


class _PeakMemory:
    """The workers' largest total RSS while it runs (sampled every 10 ms)."""

    def __init__(self, server: Gunicorn) -> None:
        self.server = server
        self.peak = 0.0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.01):
            self.peak = max(self.peak, _workers_rss_mb(self.server))

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


def _workers_rss_mb(server: Gunicorn) -> float:
    total = 0
    for pid in server.worker_pids():
        status = Path(f"/proc/{pid}/status").read_text()
        total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))
    return total / 1024


def measure_big_posts() -> list[list[str]]:
    """(h3) Worker memory after eight anonymous 40 MiB posts, with our limit and a big one."""
    rows = []
    with FakeGCS() as emulator:
        bucket = emulator_client(emulator).create_bucket("bench-big-posts")
        bucket.blob("data/data.csv").upload_from_string(b"ID,first_num,second_num\n1,1,2\n")
        for name, limit_kb in (("1 MiB limit (ours)", "1024"), ("64 MiB limit (before: ~44 MiB)", "65536")):
            env = gcs_env(emulator.url, bucket.name, MAX_REQUEST_KB=limit_kb)
            with Gunicorn(env, workers=2) as server:
                before = _workers_rss_mb(server)
                with _PeakMemory(server) as memory, ThreadPoolExecutor(max_workers=BIG_POSTS) as pool:
                    statuses = list(pool.map(lambda _: _post_big(server), range(BIG_POSTS)))
            answers = ", ".join(f"{status or 'cut off'}: {statuses.count(status)}" for status in sorted(set(statuses)))
            rows.append([name, f"{before:.0f}", f"{memory.peak:.0f}", f"{memory.peak - before:+.0f}", answers])
    return rows


SLOW_CLIENT_COUNTS = (0, 24, 200)
PROBE_SECONDS = 4.0
PROBE_TIMEOUT_SECONDS = 3.0


class UnboundedBodiesWorker(DashboardWorker):
    """The worker without its request bounds: each body goes to a thread as it arrives (as before)."""

    def load_wsgi(self) -> None:
        super(DashboardWorker, self).load_wsgi()
        app = asgi_app(self.wsgi, threads=self.cfg.threads)
        self.wsgi = AccessLog(app, self.log) if self.cfg.accesslog else app


def _slow_sign_in(server: Gunicorn) -> Any:
    import socket

    connection = socket.create_connection((server.host, server.port), timeout=30)
    connection.sendall(
        b"POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 200\r\n\r\nu"
    )
    return connection


def _probe_health(server: Gunicorn) -> tuple[list[float], int]:
    """``/healthz`` one after another for PROBE_SECONDS: latencies (ms) of the answered, and how many timed out."""
    latencies, timeouts = [], 0
    ends = time.monotonic() + PROBE_SECONDS
    while time.monotonic() < ends:
        connection = http.client.HTTPConnection(server.host, server.port, timeout=PROBE_TIMEOUT_SECONDS)
        started = time.perf_counter()
        try:
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            latencies.append((time.perf_counter() - started) * 1000)
        except OSError:
            timeouts += 1
        finally:
            connection.close()
    return latencies, timeouts


def measure_slow_clients() -> list[list[str]]:
    """(h4) /healthz latency while N slow sign-in bodies trickle in, with and without the body bounds."""
    data = Path(tempfile.mkdtemp(prefix="bench-slow-")) / "data.csv"
    data.write_bytes(b"ID,first_num,second_num\n1,1,2\n")
    rows = []
    for name, worker in (
        ("bodies read on the loop (ours)", ""),
        ("bodies to threads (before)", "bench.hardening.UnboundedBodiesWorker"),
    ):
        env = {
            "DATA_SOURCE": "local",
            "LOCAL_DATA_PATH": str(data),
            "SECRET_KEY": "bench-secret-that-is-long-and-random-0123456789",
            "ADMIN_USERS": "bench:scrypt:131072:8:1$salt$0123abcd",
            "GUNICORN_THREADS": "8",
            "CACHE_DIR": str(data.parent / "cache"),
        }
        if worker:
            env["GUNICORN_WORKER_CLASS"] = worker
        with Gunicorn(env, workers=1) as server:
            for count in SLOW_CLIENT_COUNTS:
                slow = [_slow_sign_in(server) for _ in range(count)]
                stop = threading.Event()

                def trickle(connections: list = slow, done: threading.Event = stop) -> None:
                    while not done.wait(1.0):
                        for connection in connections:
                            with contextlib.suppress(OSError):
                                connection.send(b"x")

                thread = threading.Thread(target=trickle, daemon=True)
                thread.start()
                latencies, timeouts = _probe_health(server)
                stop.set()
                thread.join()
                for connection in slow:
                    connection.close()
                median = f"{statistics.median(latencies):.1f}" if latencies else "-"
                worst = f"{max(latencies):.1f}" if latencies else "-"
                rows.append([name, str(count), str(len(latencies)), median, worst, str(timeouts)])
    return rows


OPEN_CONNECTION_COUNTS = (0, 1000, 4000)


def measure_open_connections() -> list[list[str]]:
    """(h5) Worker RSS with N kept-alive connections open, and whether /healthz still answers."""
    import socket

    data = Path(tempfile.mkdtemp(prefix="bench-conn-")) / "data.csv"
    data.write_bytes(b"ID,first_num,second_num\n1,1,2\n")
    env = {
        "DATA_SOURCE": "local",
        "LOCAL_DATA_PATH": str(data),
        "SECRET_KEY": "bench-secret-that-is-long-and-random-0123456789",
        "ADMIN_USERS": "bench:scrypt:131072:8:1$salt$0123abcd",
        "CACHE_DIR": str(data.parent / "cache"),
    }
    rows = []
    with Gunicorn(env, workers=1) as server:
        base = _workers_rss_mb(server)
        for count in OPEN_CONNECTION_COUNTS:
            held = []
            for _ in range(count):
                connection = socket.create_connection((server.host, server.port), timeout=30)
                connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                held.append(connection)
            for connection in held:
                connection.recv(4096)  # answered; the connection stays open (keep-alive)
            status = _probe_status(server)
            rows.append(
                [str(count), f"{_workers_rss_mb(server):.0f}", f"{_workers_rss_mb(server) - base:+.0f}", status]
            )
            for connection in held:
                connection.close()
            time.sleep(1)
    return rows


def _probe_status(server: Gunicorn) -> str:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.request("GET", "/healthz")
        return str(connection.getresponse().status)
    except OSError as error:
        return type(error).__name__
    finally:
        connection.close()


def _print_connections() -> int:
    print("(h5) One uvicorn worker holding N kept-alive connections (each answered once, then idle)\n")
    print(table(["open connections", "worker RSS MB", "growth MB", "/healthz"], measure_open_connections()))
    return 0


def main() -> int:
    if sys.argv[1:] == ["slow-clients"]:
        return _print_slow_clients()
    if sys.argv[1:] == ["connections"]:
        return _print_connections()
    print("(h1) Callback checks on an unchanged poll (Flask test client, one process, local data)\n")
    print(table(["request", "CPU µs per request (median)", "rounds"], measure_guard_cost()))
    print(
        f"\n(h2) Redis stopped: version checks reaching storage, one process, VERSION_CACHE_SECONDS="
        f"{VERSION_CACHE_SECONDS}\n"
    )
    print(table(["with Redis down", "polls", "seconds", "metadata GETs", "per minute"], measure_redis_down()))
    print(f"\n(h3) {BIG_POSTS} anonymous {BIG_POST_BYTES >> 20} MiB posts, gunicorn with 2 sync workers\n")
    print(table(["body limit", "workers' RSS before MB", "peak MB", "growth MB", "answers"], measure_big_posts()))
    print()
    _print_slow_clients()
    print()
    return _print_connections()


def _print_slow_clients() -> int:
    print(
        f"(h4) GET /healthz for {PROBE_SECONDS:.0f} s ({PROBE_TIMEOUT_SECONDS:.0f} s timeout) under N slow "
        "POST /login bodies (1 byte/s), one uvicorn worker, 8 threads\n"
    )
    headers = ["request bodies", "slow clients", "health answers", "median ms", "max ms", "timed out"]
    print(table(headers, measure_slow_clients()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
