"""(a) Unchanged-check throughput: the chart page's ``GET /live/version`` vs a no-op callback on the same gunicorn."""

from __future__ import annotations

import http.client
import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.bench_app import NOOP_INPUT, NOOP_OUTPUTS
from bench.data import create_bucket, publish, sample_csv
from bench.load import LoadResult, run_load
from testinfra import FakeGCS, Gunicorn, gcs_env
from testinfra.dash_requests import callback_payload, live_shown

CALLBACK_PATH = "/_dash-update-component"
PATHS = {"poll": "/live/version", "noop": CALLBACK_PATH}
WORKERS = 2
CONNECTIONS = 16
# Short runs, many rounds, alternating order (ABBA): other work on a shared machine drifts
# over seconds, and a ratio of two adjacent runs cancels most of it. The workers' CPU time
# per request is reported too: it hardly moves when other processes compete for the cores.
SECONDS_PER_RUN = 2.0
WARM_UP_SECONDS = 2.0
ROUNDS = 8
TARGET_RATIO = 0.8


@dataclass
class ThroughputResult:
    """Runs per endpoint (in the order they ran) and storage calls seen during the poll runs."""

    poll: list[LoadResult] = field(default_factory=list)
    noop: list[LoadResult] = field(default_factory=list)
    poll_metadata_gets: int = 0

    @property
    def ratio(self) -> float:
        """Pooled poll req/s over pooled no-op req/s."""
        noop = mean_rate(self.noop)
        return mean_rate(self.poll) / noop if noop else 0.0

    @property
    def round_ratios(self) -> list[float]:
        """Poll over no-op req/s within each round (adjacent runs)."""
        return [poll.per_second / noop.per_second for poll, noop in zip(self.poll, self.noop, strict=True)]

    @property
    def median_ratio(self) -> float:
        return statistics.median(self.round_ratios)

    @property
    def cpu_ratio(self) -> float | None:
        """Median over rounds of no-op / poll worker CPU per request: the req/s ratio on idle cores."""
        ratios = []
        for poll, noop in zip(self.poll, self.noop, strict=True):
            if not poll.cpu_us_per_request or not noop.cpu_us_per_request:
                return None
            ratios.append(noop.cpu_us_per_request / poll.cpu_us_per_request)
        return statistics.median(ratios) if ratios else None


def mean_rate(runs: list[LoadResult]) -> float:
    """Requests per second over all ``runs`` together."""
    seconds = sum(run.seconds for run in runs)
    return sum(run.requests for run in runs) / seconds if seconds else 0.0


def cpu_per_request(runs: list[LoadResult]) -> float | None:
    """Worker CPU microseconds per request over all ``runs`` (``None`` if not measured)."""
    if any(run.server_cpu_seconds is None for run in runs):
        return None
    requests = sum(run.requests for run in runs)
    return sum(run.server_cpu_seconds or 0.0 for run in runs) / requests * 1e6 if requests else None


def status_mix(runs: list[LoadResult]) -> Counter:
    """HTTP statuses over all ``runs`` (socket errors as ``"errors"``)."""
    total: Counter = Counter()
    for run in runs:
        total.update(run.statuses)
        if run.errors:
            total["errors"] += run.errors
    return total


def measure(emulator: FakeGCS, client: Any) -> ThroughputResult:
    """Load both endpoints in alternating order, ``ROUNDS`` times."""
    bucket = create_bucket(client, "bench-throughput")
    publish(bucket, sample_csv(1_000))
    env = gcs_env(emulator.url, bucket.name)
    with Gunicorn(env, workers=WORKERS, wsgi_app="bench.bench_app:server") as server:
        shown = live_shown(server.url)
        bodies = {"poll": None, "noop": _noop_body(shown)}  # "poll": the page's GET /live/version
        _expect_204(server, bodies["noop"], "noop")
        for name, body in bodies.items():
            run_load(server.url, PATHS[name], body, CONNECTIONS, WARM_UP_SECONDS)
        return _rounds(server, bodies, emulator, bucket.name)


def _rounds(server: Gunicorn, bodies: dict[str, bytes | None], emulator: FakeGCS, bucket: str) -> ThroughputResult:
    result = ThroughputResult()
    for round_number in range(ROUNDS):
        order = ["poll", "noop"] if round_number % 2 == 0 else ["noop", "poll"]
        for name in order:
            before = emulator.metadata_gets(bucket)
            cpu_before = server.workers_cpu_seconds()
            run = run_load(server.url, PATHS[name], bodies[name], CONNECTIONS, SECONDS_PER_RUN)
            cpu_after = server.workers_cpu_seconds()
            if cpu_before is not None and cpu_after is not None:
                run.server_cpu_seconds = cpu_after - cpu_before
            if name == "poll":
                result.poll.append(run)
                result.poll_metadata_gets += emulator.metadata_gets(bucket) - before
            else:
                result.noop.append(run)
    return result


def _post(server: Gunicorn, body: bytes) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    try:
        connection.request("POST", CALLBACK_PATH, body=body, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _expect_204(server: Gunicorn, body: bytes, name: str) -> None:
    status, content = _post(server, body)
    if status != 204:
        raise RuntimeError(f"the {name} callback answered HTTP {status}, not 204: {content[:300]!r}")


def _noop_body(shown: dict | None) -> bytes:
    # Same state values as the poll, so both requests carry the same bytes to parse.
    state = {NOOP_OUTPUTS[0]: shown, NOOP_OUTPUTS[1]: None}
    return json.dumps(callback_payload(NOOP_OUTPUTS, {NOOP_INPUT: 1}, state)).encode()
