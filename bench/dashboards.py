"""N open dashboards as one asyncio client: each checks ``GET /live/version`` at the poll interval (with jitter).

This is the chart page's fallback mode (``LIVE_PUSH=off`` or a buffered stream): every dashboard
keeps its own ``shown-version`` and ETag and sends ``If-None-Match``, so an unchanged check is a 304.
When a check shows a new live generation, that dashboard does what a page does after take-up: it
sends the server callbacks that a new ``shown-version`` triggers — found in ``/_dash-dependencies``,
so they follow whatever the chart page does (chart, view, table columns and rows, downloads,
description) — and then checks with the new ETag.

Dashboards share ``connections`` keep-alive connections (as a front end pools them).
Latency is measured from the moment a check was due, so a server (or client) falling
behind shows up in the figures instead of silently lowering the rate.
"""

from __future__ import annotations

import asyncio
import gzip
import heapq
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

import brotli

CALLBACK_PATH = "/_dash-update-component"
VERSION_PATH = "/live/version"
#: What Chromium sends with a callback POST (Dash's renderer adds the JSON content type).
HEADERS = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate, br", "Content-Type": "application/json"}
SHOWN_FIELDS = ("generation", "token", "updated", "size", "uploaded_by", "version", "description")
JITTER = 0.1  # each check lands within ±10 % of the interval (browser timers drift and tabs open at random times)
REQUEST_TIMEOUT_SECONDS = 10.0
#: A check due this close to the end of a run and not sent yet is not counted as missed (see below).
END_GRACE_SECONDS = 0.05
TRANSPORT_ERRORS = (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError)


@dataclass
class RunStats:
    """What one simulated run saw."""

    dashboards: int
    seconds: float
    check_latencies: list[float] = field(default_factory=list)
    redraw_latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    missed: int = 0  # checks that fell due but could not be sent before the end (the run fell behind)
    new_versions_seen: int = 0
    client_cpu_seconds: float = 0.0
    published_at: float | None = None  # perf_counter when the new version was written (burst runs)
    take_ups: list[float] = field(default_factory=list)  # publish -> last take-up callback answered, s

    @property
    def requests(self) -> int:
        return len(self.check_latencies) + len(self.redraw_latencies)

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def check_percentile(self, fraction: float) -> float:
        """Check latency at ``fraction`` (0.5, 0.99), milliseconds."""
        return percentile(self.check_latencies, fraction) * 1000

    def took_up_within(self, seconds: float) -> int:
        """Dashboards whose take-up had finished ``seconds`` after the publish."""
        return sum(1 for delay in self.take_ups if delay <= seconds)

    def redraw_percentile(self, fraction: float) -> float:
        return percentile(self.redraw_latencies, fraction) * 1000


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def shown_from(document: dict[str, Any]) -> dict[str, Any]:
    """The ``shown-version`` store the page's script builds from a live document (``shownFrom``)."""
    loaded_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {**{name: document.get(name) or "" for name in SHOWN_FIELDS}, "loaded_at": loaded_at}


#: Take-up in two waves, as the renderer runs it: ``shown-version`` first; then what its answers
#: (``rendered-chart``) and the grid's refresh (a first block of rows, AG Grid's default) trigger.
SHOWN = "shown-version.data"
SECOND_WAVE = ("rendered-chart.data", "data-table.getRowsRequest")
FIRST_ROWS = {"startRow": 0, "endRow": 100, "sortModel": [], "filterModel": {}}


def redraw_bodies(dependencies: list[dict[str, Any]], shown: Any) -> list[bytes]:
    """The server callbacks a page runs when ``shown-version`` changes, with the new value."""
    return callback_bodies(dependencies, (SHOWN,), {SHOWN: shown})


def callback_bodies(
    dependencies: list[dict[str, Any]], triggers: tuple[str, ...], values: dict[str, Any]
) -> list[bytes]:
    """Bodies for the server callbacks with an input in ``triggers``; inputs and state from ``values``."""
    bodies = []
    for callback in dependencies:
        if callback.get("clientside_function") or "{" in callback["output"]:
            continue
        keys = [f"{item['id']}.{item['property']}" for item in callback["inputs"]]
        changed = [key for key in keys if key in triggers]
        if not changed:
            continue
        outputs = _outputs(callback["output"])

        def entry(item: dict[str, Any]) -> dict[str, Any]:
            value = values.get(f"{item['id']}.{item['property']}")
            return {"id": item["id"], "property": item["property"], "value": value}

        body = {
            "output": callback["output"],
            "outputs": outputs if len(outputs) > 1 else outputs[0],
            "inputs": [entry(item) for item in callback["inputs"]],
            "changedPropIds": changed,
            "parsedChangedPropsIds": changed,
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

    def __init__(self, host: str, port: int, headers: dict[str, str], decompress: bool = True) -> None:
        self.host = host
        self.port = port
        self.decompress = decompress  # off: bodies stay as sent (a client that only counts answers)
        self._head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        status, _, content = await self.send("POST", path, body)
        return status, content

    async def send(
        self, method: str, path: str, body: bytes = b"", extra: str = ""
    ) -> tuple[int, dict[str, str], bytes]:
        """One request; ``extra`` is further header lines. Returns status, headers (lower-case names), body."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        length = f"Content-Length: {len(body)}\r\n" if method == "POST" else ""
        request = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{self._head}{extra}{length}\r\n"
        try:
            self._writer.write(request.encode() + body)
            return await asyncio.wait_for(self._read_response(), REQUEST_TIMEOUT_SECONDS)
        except TRANSPORT_ERRORS:
            self.close()
            raise

    async def _read_response(self) -> tuple[int, dict[str, str], bytes]:
        assert self._reader is not None
        head = (await self._reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        status = int(head.split(" ", 2)[1])
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in head.split("\r\n")[1:] if line)
        }
        body = b"" if status == 304 else await self._reader.readexactly(int(headers.get("content-length", "0")))
        encoding = headers.get("content-encoding") if self.decompress else None
        if encoding == "br":
            body = brotli.decompress(body)
        elif encoding == "gzip":
            body = gzip.decompress(body)
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


@dataclass
class Dashboard:
    """What one open page keeps between checks."""

    shown: Any
    etag: str = ""


async def _run_connection(
    connection: Connection,
    dashboards: list[Dashboard],
    dependencies: list[dict[str, Any]],
    interval: float,
    started: float,
    deadline: float,
    stats: RunStats,
) -> None:
    """Serve this connection's dashboards in order of when each is due."""
    due = [(started + random.uniform(0, interval), index) for index in range(len(dashboards))]
    heapq.heapify(due)
    while due:
        due_at, index = heapq.heappop(due)
        if due_at >= deadline:
            break
        if time.perf_counter() >= deadline:  # behind schedule at the end: these were never sent
            # Due in the run's last moments, a check could still have been answered in time: the
            # run ended, not the server. Older ones were late by more than any latency target.
            cutoff = deadline - END_GRACE_SECONDS
            stats.missed += sum(1 for when, _ in [(due_at, index), *due] if when < cutoff)
            break
        delay = due_at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await _check(connection, dashboards[index], dependencies, due_at, stats)
        heapq.heappush(due, (due_at + interval * random.uniform(1 - JITTER, 1 + JITTER), index))


async def _check(
    connection: Connection, dashboard: Dashboard, dependencies: list[dict[str, Any]], due_at: float, stats: RunStats
) -> None:
    """One version check, and the take-up when it shows a new live generation."""
    extra = f"If-None-Match: {dashboard.etag}\r\n" if dashboard.etag else ""
    try:
        status, headers, body = await connection.send("GET", VERSION_PATH, extra=extra)
    except TRANSPORT_ERRORS:
        stats.errors += 1
        return
    stats.check_latencies.append(time.perf_counter() - due_at)
    stats.statuses[status] = stats.statuses.get(status, 0) + 1
    if status >= 500:
        stats.errors += 1
    if status != 200:
        return
    dashboard.etag = headers.get("etag", "")
    document = json.loads(body)
    if document.get("status") != "live" or document.get("generation") == (dashboard.shown or {}).get("generation"):
        return
    dashboard.shown = shown_from(document)
    stats.new_versions_seen += 1
    await _redraw(connection, dependencies, dashboard.shown, stats)
    if stats.published_at is not None:
        stats.take_ups.append(time.perf_counter() - stats.published_at)


def take_up_gets(shown: Any) -> list[str]:
    """The GETs a page makes for a new generation (``routes/take_up.py``): the chart, the table's first block."""
    if not isinstance(shown, dict) or not shown.get("token"):
        return []
    base = f"/live/{quote(str(shown['generation']))}"
    grid = json.dumps(FIRST_ROWS)
    return [
        f"{base}/chart?{urlencode({'t': shown['token']})}",
        f"{base}/rows?{urlencode({'t': shown['token'], 'grid': grid})}",
    ]


async def _redraw(connection: Connection, dependencies: list[dict[str, Any]], shown: Any, stats: RunStats) -> None:
    """The take-up, one request after another on this connection, in the renderer's two waves.

    When no callback draws the chart on a new ``shown-version``, the page takes the version up by
    GET (``/live/<generation>/chart`` and ``/rows``) and those are sent instead of the second wave.
    """
    values: dict[str, Any] = {SHOWN: shown, "data-table.getRowsRequest": FIRST_ROWS}
    bodies = redraw_bodies(dependencies, shown)
    for body in bodies:
        answer = await _send_callback(connection, body, stats)
        for component, props in (answer or {}).get("response", {}).items():
            values.update({f"{component}.{prop}": value for prop, value in props.items()})
    if not any(b"rendered-chart" in body for body in bodies):
        for path in take_up_gets(shown):
            await _send(connection, "GET", path, b"", stats)
        return
    for body in callback_bodies(dependencies, SECOND_WAVE, values):
        await _send_callback(connection, body, stats)


async def _send_callback(connection: Connection, body: bytes, stats: RunStats) -> dict[str, Any] | None:
    """One callback POST; its JSON answer when it has one (204: nothing changed)."""
    return await _send(connection, "POST", CALLBACK_PATH, body, stats)


async def _send(connection: Connection, method: str, path: str, body: bytes, stats: RunStats) -> dict[str, Any] | None:
    """One take-up request, counted; its JSON answer when it is a 200 with a body."""
    sent = time.perf_counter()
    try:
        status, _, content = await connection.send(method, path, body)
    except TRANSPORT_ERRORS:
        stats.errors += 1
        return None
    stats.redraw_latencies.append(time.perf_counter() - sent)
    stats.statuses[status] = stats.statuses.get(status, 0) + 1
    if status >= 500:
        stats.errors += 1
    if status != 200 or not content or method != "POST":
        return None
    return json.loads(content)


async def simulate(
    host: str,
    port: int,
    dashboards: int,
    shown: Any,
    dependencies: list[dict[str, Any]],
    interval: float,
    seconds: float,
    connections: int = 64,
    stats: RunStats | None = None,
) -> RunStats:
    """Run ``dashboards`` open dashboards (all showing ``shown``) for ``seconds``; bounded and self-stopping.

    ``stats`` may be given so that the caller can set ``published_at`` while the run goes on.
    """
    origin = f"http://{host}:{port}"
    headers = {**HEADERS, "Origin": origin, "Referer": origin + "/"}
    if stats is None:
        stats = RunStats(dashboards=dashboards, seconds=seconds)
    cpu_before = time.process_time()
    started = time.perf_counter()
    deadline = started + seconds
    groups = [
        [Dashboard(shown) for _ in range(dashboards // connections + (1 if index < dashboards % connections else 0))]
        for index in range(connections)
    ]
    pool = [Connection(host, port, headers) for _ in groups]
    tasks = [
        _run_connection(connection, group, dependencies, interval, started, deadline, stats)
        for connection, group in zip(pool, groups, strict=True)
        if group
    ]
    # Bounded: a connection stops at the deadline, at worst after one more check and its take-up.
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
