"""What one dashboard's take-up of a new generation costs the server: worker CPU, requests, bytes.

Run: ``python -m bench.take_up_cost [--take-ups N] [--parallel P,…] [--app-dir DIR]`` (default 400
take-ups, 8 at a time; the app of this checkout). A burst: ``--take-ups 10000 --parallel 64``
(the client is Python threads on the same machine: it competes for the cores). ``--app-dir``
runs another checkout's app (e.g. the main branch) for a before/after comparison; the bench
finds out itself how that app's page takes a version up:

* **callbacks** (the app draws with Dash server callbacks): each dashboard POSTs every server
  callback whose input is ``shown-version`` (chart, columns, description, downloads), plus the
  table's first block — ``sync_view`` (which also ran then) is left out, so "before" is low;
* **GETs** (``/live/<generation>/…``): each dashboard GETs the chart and the table's first block.

Production gunicorn config (2 workers, uvicorn worker), SimpleCache, a 10,000-row table in
fake-gcs-server; one generation taken up by N dashboards, P at a time, after one warm-up take-up
(the frame is loaded then). The figure is worker CPU (``/proc``) per take-up. No HTTP cache in
front: with one, the GETs after the first of each (generation, view) never reach the app.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.bench import table
from bench.capacity import production_gunicorn_env
from bench.dashboards import CALLBACK_PATH, redraw_bodies, shown_from, take_up_gets
from bench.data import create_bucket, publish, sample_csv
from testinfra import REPO, FakeGCS, Gunicorn, emulator_client, gcs_env
from testinfra.dash_requests import callback_payload

ROWS = 10_000
PARALLEL = 8
FIRST_BLOCK = {"startRow": 0, "endRow": 100, "sortModel": [], "filterModel": {}}
ROWS_OUTPUTS = ["data-table.getRowsResponse", "data-table-count.children"]


class Client:
    """One keep-alive connection to the app, with the browser's headers."""

    def __init__(self, server: Gunicorn) -> None:
        self.headers = {"Origin": server.url, "Referer": server.url + "/", "Accept-Encoding": "gzip, br"}
        self.connection = http.client.HTTPConnection(server.host, server.port, timeout=30)

    def send(self, method: str, path: str, body: bytes | None = None) -> tuple[int, int]:
        """Status and body bytes (as sent, compressed or not) of one request."""
        headers = dict(self.headers)
        if body is not None:
            headers["Content-Type"] = "application/json"
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        return response.status, len(response.read())


def _requests(server: Gunicorn, shown: dict[str, Any]) -> tuple[str, list[tuple[str, str, bytes | None]]]:
    """How this app's page takes ``shown`` up: its mode and its requests."""
    client = Client(server)
    client.connection.request("GET", "/_dash-dependencies")
    dependencies = json.loads(client.connection.getresponse().read())
    bodies = redraw_bodies(dependencies, shown)
    drawn_on_server = any("rendered-chart.data" in body.decode() for body in bodies)
    if drawn_on_server:
        rows = callback_payload(
            ROWS_OUTPUTS,
            {"data-table.getRowsRequest": FIRST_BLOCK},
            {"shown-version.data": shown, "chart-url.search": ""},
        )
        posts = [*bodies, json.dumps(rows).encode()]
        return "callbacks", [("POST", CALLBACK_PATH, body) for body in posts]
    return "GETs", [("GET", path, None) for path in take_up_gets(shown)]


def measure(app_dir: Path, take_ups: int, parallel: int = PARALLEL) -> list[str]:
    """One bounded run of ``take_ups`` take-ups, ``parallel`` at a time; the table row for ``app_dir``."""
    with FakeGCS() as emulator:
        bucket = create_bucket(emulator_client(emulator, "bench"), "take-up")
        publish(bucket, sample_csv(ROWS))
        env = gcs_env(emulator.url, "take-up", **{"GUNICORN_WORKERS": "2", **production_gunicorn_env()})
        with Gunicorn(env, workers=None, app_dir=app_dir) as server:
            client = Client(server)
            client.connection.request("GET", "/live/version")
            shown = shown_from(json.loads(client.connection.getresponse().read()))
            mode, requests = _requests(server, shown)
            local = threading.local()  # one keep-alive connection per thread, as a browser holds one

            def take_up(_: int) -> tuple[int, list[int], float]:
                if not hasattr(local, "client"):
                    local.client = Client(server)
                sent = time.perf_counter()
                answers = [local.client.send(*request) for request in requests]
                return sum(size for _, size in answers), [status for status, _ in answers], time.perf_counter() - sent

            with ThreadPoolExecutor(parallel) as pool:
                list(pool.map(take_up, range(4 * parallel)))  # warm: every worker has the frame and its answers
                cpu_before, started = server.workers_cpu_seconds() or 0.0, time.perf_counter()
                results = list(pool.map(take_up, range(take_ups)))
            seconds = time.perf_counter() - started
            cpu = (server.workers_cpu_seconds() or 0.0) - cpu_before
    statuses = sorted({status for _, answers, _ in results for status in answers})
    latencies = sorted(latency for _, _, latency in results)
    return [
        app_dir.name if app_dir != REPO else "this checkout",
        mode,
        f"{take_ups:,} × {parallel}",
        f"{cpu / take_ups * 1000:.2f}",
        str(len(requests)),
        f"{sum(size for size, _, _ in results) / take_ups:,.0f}",
        f"{take_ups / seconds:,.0f}",
        f"{seconds:.1f}",
        f"{latencies[len(latencies) // 2] * 1000:.0f} / {latencies[int(len(latencies) * 0.99)] * 1000:.0f}",
        ", ".join(map(str, statuses)),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--take-ups", type=int, default=400)
    parser.add_argument("--app-dir", action="append", type=Path, help="checkouts to compare (default: this one)")
    parser.add_argument("--parallel", default=str(PARALLEL), help="dashboards at a time, comma-separated runs")
    args = parser.parse_args(argv)
    print(
        f"take-up cost: {ROWS:,}-row table, gunicorn.conf.py with 2 workers, "
        f"{args.take_ups} take-ups; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start"
    )
    rows = [
        measure(app_dir.resolve(), args.take_ups, int(parallel))
        for app_dir in args.app_dir or [REPO]
        for parallel in args.parallel.split(",")
    ]
    headers = [
        "app",
        "take-up by",
        "take-ups × at a time",
        "worker CPU ms / take-up",
        "requests",
        "bytes / take-up",
        "take-ups/s",
        "all done (s)",
        "take-up p50 / p99 ms",
        "statuses",
    ]
    print(table(headers, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
