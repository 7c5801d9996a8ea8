"""N open dashboards as one asyncio client: each polls at the poll interval (with jitter) as a browser does.

Every dashboard keeps its own ``shown-version`` and sends the body a real Chromium sends
(``bench/poll_request.json``, captured from the chart page, with this run's signed
generation filled in). When a poll answers 200 (a new generation), that dashboard sends
the redraw callbacks the page runs on a new ``shown-version`` — found in
``/_dash-dependencies``, so they follow whatever the chart page does — and then polls
with the new version, as the page would.

Dashboards share ``connections`` keep-alive connections (as a front end pools them).
Latency is measured from the moment a poll was due, so a server (or client) falling
behind shows up in the figures instead of silently lowering the rate.
"""

from __future__ import annotations

import asyncio
import heapq
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import brotli

CALLBACK_PATH = "/_dash-update-component"
POLL_TEMPLATE = Path(__file__).resolve().parent / "poll_request.json"
JITTER = 0.1  # each poll lands within ±10 % of the interval (browser timers drift and tabs open at random times)
REQUEST_TIMEOUT_SECONDS = 10.0
#: A poll due this close to the end of a run and not sent yet is not counted as missed (see below).
END_GRACE_SECONDS = 0.05
TRANSPORT_ERRORS = (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError)


@dataclass
class RunStats:
    """What one simulated run saw."""

    dashboards: int
    seconds: float
    poll_latencies: list[float] = field(default_factory=list)
    redraw_latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    missed: int = 0  # polls that fell due but could not be sent before the end (the run fell behind)
    new_versions_seen: int = 0
    client_cpu_seconds: float = 0.0

    @property
    def requests(self) -> int:
        return len(self.poll_latencies) + len(self.redraw_latencies)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def poll_percentile(self, fraction: float) -> float:
        """Poll latency at ``fraction`` (0.5, 0.99), milliseconds."""
        return percentile(self.poll_latencies, fraction) * 1000

    def redraw_percentile(self, fraction: float) -> float:
        return percentile(self.redraw_latencies, fraction) * 1000


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def load_poll_template() -> tuple[dict[str, Any], dict[str, str]]:
    """The captured browser poll: its JSON body and its headers."""
    captured = json.loads(POLL_TEMPLATE.read_text())
    return captured["body"], captured["headers"]


def poll_body(template: dict[str, Any], shown: Any) -> bytes:
    """The template with this dashboard's ``shown-version`` and a fresh trigger value."""
    body = json.loads(json.dumps(template))
    body["inputs"][0]["value"] = int(time.time() * 1000)
    for state in body["state"]:
        if state["id"] == "shown-version":
            state["value"] = shown
    return json.dumps(body, separators=(",", ":")).encode()


def redraw_bodies(dependencies: list[dict[str, Any]], shown: Any) -> list[bytes]:
    """The server callbacks a page runs when ``shown-version`` changes, with the new value."""
    bodies = []
    for callback in dependencies:
        if callback.get("clientside_function") or "{" in callback["output"]:
            continue
        if not any(item == {"id": "shown-version", "property": "data"} for item in callback["inputs"]):
            continue
        outputs = _outputs(callback["output"])

        def entry(item: dict[str, Any]) -> dict[str, Any]:
            value = shown if item == {"id": "shown-version", "property": "data"} else None
            return {"id": item["id"], "property": item["property"], "value": value}

        body = {
            "output": callback["output"],
            "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": [entry(item) for item in callback["inputs"]],
            "changedPropIds": ["shown-version.data"],
            "parsedChangedPropsIds": ["shown-version.data"],
            "state": [entry(item) for item in callback["state"]],
        }
        bodies.append(json.dumps(body, separators=(",", ":")).encode())
    return bodies


def _outputs(output_key: str) -> list[dict[str, str]]:
    specs = output_key[2:-2].split("...") if output_key.startswith("..") else [output_key]
    outputs = []
    for spec in specs:
        component_id, prop = spec.rsplit(".", 1)
        outputs.append({"id": component_id.split("@")[0], "property": prop})
    return outputs


class Connection:
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host = host
        self.port = port
        self._head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        return await self.send("POST", path, body)

    async def send(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        request = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self._head}"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        try:
            self._writer.write(request.encode() + body)
            return await asyncio.wait_for(self._read_response(), REQUEST_TIMEOUT_SECONDS)
        except TRANSPORT_ERRORS:
            self.close()
            raise

    async def _read_response(self) -> tuple[int, bytes]:
        assert self._reader is not None
        head = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status = int(head.split(" ", 2)[1])
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in head.split("\r\n")[1:] if line)
        }
        body = await self._reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("content-encoding") == "br":
            body = brotli.decompress(body)
        elif headers.get("content-encoding") == "gzip":
            import gzip

            body = gzip.decompress(body)
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, body

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


async def _run_connection(
    connection: Connection,
    shown: list[Any],
    template: dict[str, Any],
    dependencies: list[dict[str, Any]],
    interval: float,
    started: float,
    deadline: float,
    stats: RunStats,
) -> None:
    """Serve this connection's dashboards in order of when each is due."""
    due = [(started + random.uniform(0, interval), index) for index in range(len(shown))]
    heapq.heapify(due)
    while due:
        due_at, index = heapq.heappop(due)
        if due_at >= deadline:
            break
        if time.perf_counter() >= deadline:  # behind schedule at the end: these were never sent
            # Due in the run's last moments, a poll could still have been answered in time: the
            # run ended, not the server. Older ones were late by more than any latency target.
            cutoff = deadline - END_GRACE_SECONDS
            stats.missed += sum(1 for when, _ in [(due_at, index), *due] if when < cutoff)
            break
        delay = due_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            status, body = await connection.post(CALLBACK_PATH, poll_body(template, shown[index]))
        except TRANSPORT_ERRORS:
            stats.errors += 1
        else:
            stats.poll_latencies.append(time.perf_counter() - due_at)
            stats.statuses[status] = stats.statuses.get(status, 0) + 1
            if status >= 500:
                stats.errors += 1
            if status == 200:
                shown[index] = json.loads(body)["response"]["shown-version"]["data"]
                stats.new_versions_seen += 1
                await _redraw(connection, dependencies, shown[index], stats)
        heapq.heappush(due, (due_at + interval * random.uniform(1 - JITTER, 1 + JITTER), index))


def take_up_gets(shown: Any) -> list[str]:
    """The GETs a page makes for a new generation (``routes/take_up.py``): the chart, the table's first block."""
    if not isinstance(shown, dict) or not shown.get("token"):
        return []
    base = f"/live/{quote(str(shown['generation']))}"
    grid = json.dumps({"startRow": 0, "endRow": 100, "sortModel": [], "filterModel": {}})
    return [
        f"{base}/chart?{urlencode({'t': shown['token']})}",
        f"{base}/rows?{urlencode({'t': shown['token'], 'grid': grid})}",
    ]


async def _redraw(connection: Connection, dependencies: list[dict[str, Any]], shown: Any, stats: RunStats) -> None:
    requests = [("POST", CALLBACK_PATH, body) for body in redraw_bodies(dependencies, shown)]
    if not any(b"rendered-chart" in body for _, _, body in requests):  # the page takes versions up by GET
        requests += [("GET", path, b"") for path in take_up_gets(shown)]
    for method, path, body in requests:
        sent = time.perf_counter()
        try:
            status, _ = await connection.send(method, path, body)
        except TRANSPORT_ERRORS:
            stats.errors += 1
            continue
        stats.redraw_latencies.append(time.perf_counter() - sent)
        stats.statuses[status] = stats.statuses.get(status, 0) + 1
        if status >= 500:
            stats.errors += 1


async def simulate(
    host: str,
    port: int,
    dashboards: int,
    shown: Any,
    dependencies: list[dict[str, Any]],
    interval: float,
    seconds: float,
    connections: int = 64,
) -> RunStats:
    """Run ``dashboards`` open dashboards (all showing ``shown``) for ``seconds``; bounded and self-stopping."""
    template, headers = load_poll_template()
    origin = f"http://{host}:{port}"
    headers = {**headers, "Origin": origin, "Referer": origin + "/"}
    stats = RunStats(dashboards=dashboards, seconds=seconds)
    cpu_before = time.process_time()
    started = time.perf_counter()
    deadline = started + seconds
    groups = [
        [shown] * (dashboards // connections + (1 if index < dashboards % connections else 0))
        for index in range(connections)
    ]
    pool = [Connection(host, port, headers) for _ in groups]
    tasks = [
        _run_connection(connection, group, template, dependencies, interval, started, deadline, stats)
        for connection, group in zip(pool, groups, strict=True)
        if group
    ]
    # Bounded: a connection stops at the deadline, at worst after one more poll and its redraws.
    running = [asyncio.create_task(task) for task in tasks]
    _, late = await asyncio.wait(running, timeout=seconds + 4 * REQUEST_TIMEOUT_SECONDS + 5)
    for task in late:
        task.cancel()
        stats.errors += 1
    stats.seconds = time.perf_counter() - started
    stats.client_cpu_seconds = time.process_time() - cpu_before
    for connection in pool:
        connection.close()
    return stats
