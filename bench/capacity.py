"""``make load``: how many open dashboards one instance holds, under the production gunicorn config.

1. **Capacity**: N dashboards check ``GET /live/version`` (``If-None-Match``) every
   ``POLL_INTERVAL_SECONDS`` (5 s, ±10 % jitter) for a fixed time — the page's fallback mode,
   without a stream — against ``gunicorn 'app:create_server()'`` configured by ``gunicorn.conf.py``, with
   Redis as the shared cache and fake-gcs-server as storage. N grows until p99 > 50 ms or an
   error; the largest N that passed is the instance's capacity.
2. **New generation mid-run**: the same at one N, with a new version published part-way; every
   dashboard then takes it up and redraws (the burst of take-up callbacks): how many had finished
   1, 2 and 5 s after the publish, and the p99.
3. **Version check vs a bare Dash no-op** (wrk, closed loop, same gunicorn config): the cost of
   ``GET /live/version`` next to the cheapest Dash callback.

Everything runs on 127.0.0.1 and stops by itself; servers are stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import uvloop
import yaml

from bench.bench import table
from bench.bench_app import NOOP_INPUT, NOOP_OUTPUTS
from bench.dashboards import CALLBACK_PATH, VERSION_PATH, RunStats, percentile, shown_from, simulate
from bench.data import create_bucket, publish, sample_csv
from bench.flask_take_up_worker import WORKER_CLASS as FLASK_TAKE_UP_WORKER
from bench.load import client_name, run_load
from testinfra import REPO, FakeGCS, Gunicorn, RedisServer, emulator_client, gcs_env
from testinfra.dash_requests import callback_payload

P99_LIMIT_MS = 50.0
POLL_INTERVAL_SECONDS = 5.0
DEFAULT_STEPS = (2_000, 5_000, 10_000, 15_000, 20_000, 25_000, 30_000)
ROWS = 10_000


@dataclass
class Step:
    """One capacity run and the server side of it."""

    stats: RunStats
    server_cpu_seconds: float
    metadata_gets: int
    downloads: int
    load_average: float  # the machine's 1-minute load average at the end (other work competes on 2 cores)

    @property
    def passed(self) -> bool:
        stats = self.stats
        return stats.errors == 0 and stats.missed == 0 and stats.check_percentile(0.99) <= P99_LIMIT_MS


def _get_json(server: Gunicorn, path: str) -> Any:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        connection.request("GET", path)
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def current_shown(server: Gunicorn) -> Any:
    """What a newly opened page shows first: ``shown-version`` built from the live document."""
    document = _get_json(server, VERSION_PATH)
    if document.get("status") != "live":
        raise RuntimeError(f"the live document is not live: {document.get('status')}")
    return shown_from(document)


def run_step(
    server: Gunicorn, emulator: FakeGCS, bucket: str, dashboards: int, seconds: float, publish_at: float | None = None
) -> Step:
    """One bounded run of ``dashboards`` dashboards; optionally publish a new version after ``publish_at`` s."""
    shown = current_shown(server)
    dependencies = _get_json(server, "/_dash-dependencies")
    metadata_before, downloads_before = emulator.metadata_gets(bucket), emulator.downloads(bucket)
    cpu_before = server.workers_cpu_seconds() or 0.0

    stats = RunStats(dashboards=dashboards, seconds=seconds)

    async def run() -> RunStats:
        job = asyncio.create_task(
            simulate(
                server.host, server.port, dashboards, shown, dependencies, POLL_INTERVAL_SECONDS, seconds, stats=stats
            )
        )
        if publish_at is not None:
            await asyncio.sleep(publish_at)
            client = emulator_client(emulator, "bench")
            await asyncio.to_thread(publish, client.bucket(bucket), sample_csv(ROWS, seed=int(time.time())))
            stats.published_at = time.perf_counter()  # the write is confirmed: take-up time starts here
        return await job

    # uvloop (installed with the app): the client's own loop costs less CPU and jitters less, so
    # the figures say more about the server (a trivial server at 10,000 dashboards: p99 10-13 ms
    # with uvloop, 15-37 ms with asyncio's own loop).
    uvloop.run(run())
    return Step(
        stats=stats,
        server_cpu_seconds=(server.workers_cpu_seconds() or 0.0) - cpu_before,
        metadata_gets=emulator.metadata_gets(bucket) - metadata_before,
        downloads=emulator.downloads(bucket) - downloads_before,
        load_average=os.getloadavg()[0],
    )


def _row(step: Step) -> list[str]:
    stats = step.stats
    target = stats.dashboards / POLL_INTERVAL_SECONDS
    return [
        f"{stats.dashboards:,}",
        f"{target:,.0f}",
        f"{stats.per_second:,.0f}",
        f"{stats.check_percentile(0.5):.1f} / {stats.check_percentile(0.99):.1f}",
        f"{stats.errors} / {stats.missed:,}",
        ", ".join(f"{status}: {count:,}" for status, count in sorted(stats.statuses.items())),
        f"{step.metadata_gets} / {step.downloads}",
        f"{step.server_cpu_seconds / stats.seconds:.2f}",
        f"{stats.client_cpu_seconds / stats.seconds:.2f}",
        f"{step.load_average:.1f}",
        "yes" if step.passed else "no",
    ]


CAPACITY_HEADERS = [
    "dashboards",
    "target checks/s",
    "req/s",
    "check p50 / p99 ms",
    "errors / missed",
    "statuses",
    "metadata GETs / downloads",
    "server CPU (cores)",
    "client CPU (cores)",
    "load avg",
    "p99 <= 50 ms, 0 errors",
]


def capacity(server: Gunicorn, emulator: FakeGCS, bucket: str, steps: list[int], seconds: float) -> list[Step]:
    """Run growing N until one fails (bounded by ``steps``)."""
    results = []
    for dashboards in steps:
        step = run_step(server, emulator, bucket, dashboards, seconds)
        results.append(step)
        print("  " + " | ".join(_row(step)), flush=True)
        if not step.passed:
            break
    return results


def hooks_ratio(check_server: Gunicorn, bare_server: Gunicorn, rounds: int = 4, seconds: float = 3.0) -> dict:
    """Closed-loop req/s of ``GET /live/version`` vs a bare Dash no-op callback, alternating rounds."""
    noop = json.dumps(callback_payload(NOOP_OUTPUTS, {NOOP_INPUT: 1}, {spec: None for spec in NOOP_OUTPUTS})).encode()
    plans = {"check": (check_server, VERSION_PATH, None, {200}), "noop": (bare_server, CALLBACK_PATH, noop, {204})}
    for server, path, body, _ in plans.values():  # warm up
        run_load(server.url, path, body, 16, 2)
    results: dict[str, list] = {"check": [], "noop": []}
    for index in range(rounds):
        order = ["check", "noop"] if index % 2 == 0 else ["noop", "check"]
        for name in order:
            server, path, body, expected = plans[name]
            cpu_before = server.workers_cpu_seconds()
            result = run_load(server.url, path, body, 16, seconds)
            cpu_after = server.workers_cpu_seconds()
            if cpu_before is not None and cpu_after is not None:
                result.server_cpu_seconds = cpu_after - cpu_before
            if set(result.statuses) != expected or result.errors:
                raise RuntimeError(f"unexpected answers {dict(result.statuses)} ({result.errors} errors)")
            results[name].append(result)
    checks, noops = results["check"], results["noop"]
    ratios = [check.per_second / noop.per_second for check, noop in zip(checks, noops, strict=True)]
    cpu_ratios = [
        noop.cpu_us_per_request / check.cpu_us_per_request
        for check, noop in zip(checks, noops, strict=True)
        if check.cpu_us_per_request and noop.cpu_us_per_request
    ]
    return {
        "check": statistics.median(result.per_second for result in checks),
        "noop": statistics.median(result.per_second for result in noops),
        "check_p99": statistics.median(result.p99_ms for result in checks),
        "noop_p99": statistics.median(result.p99_ms for result in noops),
        "check_cpu": statistics.median(result.cpu_us_per_request or 0 for result in checks),
        "noop_cpu": statistics.median(result.cpu_us_per_request or 0 for result in noops),
        "ratio": statistics.median(ratios),
        "ratios": ratios,
        "cpu_ratio": statistics.median(cpu_ratios) if cpu_ratios else None,
    }


def _ratio_cells(ratio: dict, name: str) -> list[str]:
    return [f"{ratio[name]:,.0f}", f"{ratio[name + '_p99']:.1f}", f"{ratio[name + '_cpu']:.0f}"]


def burst_line(stats: RunStats) -> str:
    """How many dashboards had taken the new version up 1, 2 and 5 s after the publish, and the p99."""
    within = ", ".join(f"{stats.took_up_within(limit):,} after {limit} s" for limit in (1, 2, 5))
    p99 = percentile(stats.take_ups, 0.99) if len(stats.take_ups) == stats.dashboards else None
    tail = f"p99 {p99:.1f} s" if p99 is not None else "p99 not reached (not all took it up)"
    return (
        f"took the new version up (publish confirmed -> last take-up callback answered), of {stats.dashboards:,}: "
        f"{within}; {len(stats.take_ups):,} in all; {tail}; {stats.errors} errors"
    )


def production_gunicorn_env() -> dict[str, str]:
    """The gunicorn-related variables app.yaml sets (threads, timeouts, access log, malloc arenas, page size)."""
    variables = yaml.safe_load((REPO / "app.yaml").read_text())["env_variables"]
    wanted = {"LOG_FORMAT", "MALLOC_ARENA_MAX", "NUMPY_MADVISE_HUGEPAGE"}
    return {key: str(value) for key, value in variables.items() if key.startswith("GUNICORN_") or key in wanted}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each capacity run")
    parser.add_argument("--steps", default=",".join(map(str, DEFAULT_STEPS)), help="dashboard counts to try")
    parser.add_argument("--burst-dashboards", type=int, default=10_000, help="N for the new-generation run")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: capacity,burst,ratio")
    parser.add_argument(
        "--flask-take-ups",
        action="store_true",
        help="answer every take-up GET with Flask in a thread (the baseline before kept answers on the event loop)",
    )
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    steps = [int(step) for step in args.steps.split(",")]
    # app.yaml's gunicorn settings, with the workers of a 2-core F2-sized instance unless given.
    production = {"GUNICORN_WORKERS": "2", **production_gunicorn_env()}
    production.update({key: os.environ[key] for key in production if key in os.environ})
    if args.flask_take_ups:
        production["GUNICORN_WORKER_CLASS"] = FLASK_TAKE_UP_WORKER
    settings_line = ", ".join(f"{key}={value}" for key, value in sorted(production.items()))
    print(
        f"make load: gunicorn.conf.py with app.yaml's {settings_line}; RedisCache; {ROWS:,} rows; "
        f"version check every {POLL_INTERVAL_SECONDS:.0f} s ±10 %; {os.cpu_count()} cores, load average "
        f"{os.getloadavg()[0]:.1f} at start; client: asyncio on uvloop (1 process, its CPU shown per run)"
    )
    with FakeGCS() as emulator, RedisServer() as redis:
        client = emulator_client(emulator, "bench")
        bucket = create_bucket(client, "load")
        publish(bucket, sample_csv(ROWS))
        env = gcs_env(emulator.url, "load", CACHE_TYPE="RedisCache", CACHE_REDIS_URL=redis.url, **production)
        with Gunicorn(env, workers=None) as server:
            if "capacity" not in skip:
                print("\n(1) capacity, each run", f"{args.seconds:.0f} s:")
                results = capacity(server, emulator, "load", steps, args.seconds)
                print(table(CAPACITY_HEADERS, [_row(step) for step in results]))
                passed = [step.stats.dashboards for step in results if step.passed]
                print(
                    f"\nLargest N held (p99 <= {P99_LIMIT_MS:.0f} ms, 0 errors): {max(passed):,}"
                    if passed
                    else "\nNo step passed."
                )
            if "burst" not in skip:
                seconds = max(args.seconds, 30.0)
                print(
                    f"\n(2) new generation at {seconds / 3:.0f} s of {seconds:.0f} s, {args.burst_dashboards:,} "
                    "dashboards:"
                )
                step = run_step(server, emulator, "load", args.burst_dashboards, seconds, publish_at=seconds / 3)
                stats = step.stats
                print(
                    table(
                        [*CAPACITY_HEADERS[:-1], "redraws", "redraw p50 / p99 ms"],
                        [
                            [
                                *_row(step)[:-1],
                                f"{len(stats.redraw_latencies):,}",
                                f"{stats.redraw_percentile(0.5):.1f} / {stats.redraw_percentile(0.99):.1f}",
                            ]
                        ],
                    )
                )
                print(burst_line(stats))
            if "ratio" not in skip:
                with Gunicorn(env, workers=None, wsgi_app="bench.bare_app:server") as bare:
                    ratio = hooks_ratio(server, bare)
                print(
                    f"\n(3) GET /live/version (200) vs bare Dash no-op ({client_name()}, 16 connections, "
                    "4 alternating "
                    "rounds of 3 s):"
                )
                print(
                    table(
                        ["endpoint", "req/s (median)", "p99 ms", "worker CPU µs/req"],
                        [
                            ["GET /live/version (app)", *_ratio_cells(ratio, "check")],
                            ["no-op callback (bare Dash)", *_ratio_cells(ratio, "noop")],
                        ],
                    )
                )
                rounds = ", ".join(f"{value:.2f}" for value in ratio["ratios"])
                print(f"ratio check / bare no-op, req/s: {ratio['ratio']:.2f} (rounds: {rounds})")
                if ratio["cpu_ratio"] is not None:
                    print(f"ratio by worker CPU per request (steadier on a busy machine): {ratio['cpu_ratio']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
