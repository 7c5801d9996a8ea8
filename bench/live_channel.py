"""The live channel under load: open streams per instance, the publish burst, check cost, a cache in front.

``python -m bench.live_channel [--streams 10000] [--seconds 10]`` (``make load`` runs it after the
capacity report) prints one table. One instance = gunicorn with 2 workers (``asgi_worker.py``)
on this machine, serving a local file (the transport does not depend on the source):

* **streams held**: N EventSource-like connections open on ``/live/events``; worker CPU and
  memory while idle;
* **publish burst**: the file is rewritten; how many of the N streams have the new generation
  after 1, 2, 5 s, the p50/p99 and lost connections;
* **take-up burst**: the same, end to end: each of the N dashboards, on the event, makes the
  GETs the page makes (``/live/<generation>/chart``, then ``/rows`` for the table's first
  block; ``assets/take_up.js``, asking again after a 202) over a new connection, while 1,000
  other dashboards check ``/live/version`` every 5 s (their p99 and missed checks are the
  twin). Run twice, each on a fresh instance: take-ups answered by Flask in a thread
  (``bench/flask_take_up_worker.py``) and kept take-ups answered on the event loop;
* **write → client**: push (the periodic check, ``VERSION_CACHE_SECONDS=0.5``) against clients
  checking ``/live/version`` every 5 s;
* **unchanged check**: worker CPU per ``GET /live/version`` (wrk);
* **behind a shared cache**: origin requests per second through nginx ``proxy_cache`` at 1,000
  and 10,000 clients (wrk).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import re
import secrets
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import uvloop
from werkzeug.security import generate_password_hash

from bench.bench import table as grid_table
from bench.capacity import ROWS
from bench.dashboards import TRANSPORT_ERRORS, Connection, RunStats, shown_from, simulate, take_up_gets
from bench.data import sample_csv
from bench.flask_take_up_worker import WORKER_CLASS as FLASK_TAKE_UP_WORKER
from testinfra import SAMPLE_CSV, Gunicorn, Nginx

CHECKERS = 20
CHECK_EVERY = 5.0


def instance_env(data: Path) -> dict[str, str]:
    return {
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ADMIN_USERS": f"bench:{generate_password_hash(secrets.token_urlsafe(16))}",
        "DATA_SOURCE": "local",
        "LOCAL_DATA_PATH": str(data),
        "VERSION_CACHE_SECONDS": "0.5",
        "GUNICORN_ACCESS_LOG": "0",
        "GUNICORN_LOG_LEVEL": "warning",
    }


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


class Stream:
    """One open ``/live/events`` connection, noting when each generation first arrived."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.lost = False
        self.first = asyncio.get_running_loop().create_future()

    async def run(self, port: int) -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=2**20)
            writer.write(b"GET /live/events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n")
            while line := await reader.readline():
                if line.startswith(b"data: "):
                    generation = re.search(rb'"generation":"([^"]+)"', line)
                    key = generation.group(1).decode() if generation else "none"
                    self.seen.setdefault(key, time.monotonic())
                    if not self.first.done():
                        self.first.set_result(key)
            self.lost = True
        except OSError:
            self.lost = True
        if not self.first.done():
            self.first.set_result(None)


async def hold_streams(server: Gunicorn, data: Path, count: int, idle_seconds: float) -> dict[str, str]:
    streams = [Stream() for _ in range(count)]
    tasks = [asyncio.ensure_future(stream.run(server.port)) for stream in streams]
    opened_at = time.monotonic()
    for start in range(0, count, 500):  # open in batches, as a crowd arrives
        await asyncio.gather(*(stream.first for stream in streams[start : start + 500]))
    open_seconds = time.monotonic() - opened_at
    await asyncio.sleep(2)
    cpu_before, idle_from = server.workers_cpu_seconds() or 0.0, time.monotonic()
    await asyncio.sleep(idle_seconds)
    idle_cores = ((server.workers_cpu_seconds() or 0.0) - cpu_before) / (time.monotonic() - idle_from)
    memory = rss_mb(server.worker_pids())

    data.write_bytes(SAMPLE_CSV + f"{int(time.time())},1,2\n".encode())
    written = time.monotonic()
    await asyncio.sleep(6)
    first_generation = {next(iter(stream.seen)) for stream in streams if stream.seen}
    delays = sorted(
        min(at for key, at in stream.seen.items() if key not in first_generation) - written
        for stream in streams
        if any(key not in first_generation for key in stream.seen)
    )
    lost = sum(stream.lost for stream in streams)
    for task in tasks:
        task.cancel()

    def within(seconds: float) -> str:
        return f"{sum(delay <= seconds for delay in delays):,}"

    return {
        "streams": f"{count:,}",
        "opened in (s)": f"{open_seconds:.1f}",
        "idle worker cores": f"{idle_cores:.3f}",
        "workers RSS (MB)": f"{memory:.0f}",
        "new version ≤1 s": within(1),
        "≤2 s": within(2),
        "≤5 s": within(5),
        "p50 / p99 (s)": f"{percentile(delays, 0.5):.2f} / {percentile(delays, 0.99):.2f}" if delays else "-",
        "lost": f"{lost + count - len(delays):,}",
    }


def percentile(values: list[float], fraction: float) -> float:
    return values[min(len(values) - 1, int(fraction * len(values)))] if values else float("nan")


async def write_to_client(server: Gunicorn, data: Path, writes: int) -> dict[str, str]:
    """Latency of a write to a pushed client and to clients checking every 5 s (20 spread phases)."""
    pushed: list[float] = []
    checked: list[float] = []
    for number in range(writes):
        stream = Stream()
        task = asyncio.ensure_future(stream.run(server.port))
        before = await stream.first
        await asyncio.sleep(1)
        data.write_bytes(SAMPLE_CSV + f"{number},{time.time()},1\n".encode())
        written = time.monotonic()
        phases = [k * CHECK_EVERY / CHECKERS for k in range(CHECKERS)]
        checks = await asyncio.gather(*(_check_until_new(server.port, before, phase) for phase in phases))
        checked += [at - written for at in checks]
        pushed += [at - written for key, at in stream.seen.items() if key != before]
        task.cancel()
    return {
        "push: median / worst (s)": f"{statistics.median(pushed):.2f} / {max(pushed):.2f}",
        "checks every 5 s: median / worst (s)": f"{statistics.median(checked):.2f} / {max(checked):.2f}",
    }


async def _check_until_new(port: int, before: str, offset: float) -> float:
    await asyncio.sleep(offset)
    while True:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /live/version HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        body = await reader.read()
        writer.close()
        match = re.search(rb'"generation":"([^"]+)"', body)
        if match and match.group(1).decode() != before:
            return time.monotonic()
        await asyncio.sleep(CHECK_EVERY)


#: What Chromium's fetch() sends that matters to the answer.
BROWSER_HEADERS = {"Accept": "*/*", "Accept-Encoding": "gzip, deflate, br, zstd"}
#: Keep-alive connections the take-up GETs share, as a front end (App Engine's, Cloud Run's)
#: pools its connections to an instance; the checking dashboards share as many (bench.dashboards).
TAKE_UP_CONNECTIONS = 64
#: Dashboards in fallback mode checking ``/live/version`` during the burst (the twin).
BURST_CHECKERS = 1_000
SETTLE_SECONDS = 3.0
BURST_WINDOW_SECONDS = 10.0
#: The page's backoff after a 202 (assets/take_up.js: from 0.5 s, doubling, at most 8 s).
FIRST_RETRY_SECONDS = 0.5
MAX_RETRY_SECONDS = 8.0


@dataclass
class Burst:
    """What one take-up burst saw."""

    dashboards: int
    pushed: list[float] = field(default_factory=list)  # write -> the new version's event received, s
    taken_up: list[float] = field(default_factory=list)  # write -> both take-up answers received, s
    statuses: dict[int, int] = field(default_factory=dict)  # of the take-up GETs, retries included
    errors: int = 0
    lost: int = 0
    worker_cpu_seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    get_cost: tuple[float, float] = (0.0, 0.0)  # closed loop on the kept chart answer: requests/s, worker CPU µs each
    checks: RunStats | None = None
    written_at: float = 0.0  # monotonic, when the new version was written

    def within(self, seconds: float) -> int:
        return sum(delay <= seconds for delay in self.taken_up)

    def percentile(self, fraction: float, delays: list[float] | None = None) -> float | None:
        """Take-up delay (or ``delays``) at ``fraction`` of all dashboards; ``None`` when fewer got that far."""
        needed = min(self.dashboards - 1, int(fraction * self.dashboards))
        ordered = sorted(self.taken_up if delays is None else delays)
        return ordered[needed] if needed < len(ordered) else None


class PushedDashboard:
    """A chart page in push mode: its stream, and on a new generation the take-up GETs the page makes."""

    def __init__(self, port: int, connections: asyncio.Queue, burst: Burst) -> None:
        self.port = port
        self.connections = connections  # the pool the take-up GETs share
        self.burst = burst
        self.opened = asyncio.get_running_loop().create_future()
        self.taking_up: asyncio.Future | None = None
        self.first_generation: str | None = None

    async def run(self) -> None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=2**20)
            writer.write(b"GET /live/events HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n")
            while line := await reader.readline():
                if line.startswith(b"data: "):
                    self._on_document(json.loads(line[6:]))
        except OSError:
            pass
        self.burst.lost += 1
        if not self.opened.done():
            self.opened.set_result(None)

    def _on_document(self, document: dict) -> None:
        generation = document.get("generation")
        if not self.opened.done():
            self.first_generation = generation
            self.opened.set_result(generation)
        elif document.get("status") == "live" and generation != self.first_generation and self.taking_up is None:
            self.burst.pushed.append(time.monotonic() - self.burst.written_at)
            self.taking_up = asyncio.ensure_future(self._take_up(document))

    async def _take_up(self, document: dict) -> None:
        for path in take_up_gets(shown_from(document)):
            if not await self._get(path):
                return
        self.burst.taken_up.append(time.monotonic() - self.burst.written_at)

    async def _get(self, path: str) -> bool:
        """One take-up GET, asked again after a 202 (or a 503) as the page does."""
        delay = FIRST_RETRY_SECONDS
        while True:
            connection = await self.connections.get()
            try:
                status, headers, _ = await connection.send("GET", path)
            except TRANSPORT_ERRORS:
                self.burst.errors += 1
                return False
            finally:
                self.connections.put_nowait(connection)
            self.burst.statuses[status] = self.burst.statuses.get(status, 0) + 1
            if status not in (202, 503):
                self.burst.errors += status != 200
                return status == 200
            delay = min(delay * 2, MAX_RETRY_SECONDS)
            await asyncio.sleep(max(float(headers.get("retry-after") or 0), delay / 2))


async def take_up_burst(server: Gunicorn, data: Path, count: int) -> Burst:
    """``count`` pushed dashboards and :data:`BURST_CHECKERS` checking ones; a write; who took it up when."""
    burst = Burst(dashboards=count)
    connections: asyncio.Queue = asyncio.Queue()
    for _ in range(TAKE_UP_CONNECTIONS):
        # Bodies are not decompressed: a browser does that in its own process, this client shares the cores.
        connections.put_nowait(Connection("127.0.0.1", server.port, BROWSER_HEADERS, decompress=False))
    dashboards = [PushedDashboard(server.port, connections, burst) for _ in range(count)]
    tasks = [asyncio.ensure_future(dashboard.run()) for dashboard in dashboards]
    for start in range(0, count, 500):  # open in batches, as a crowd arrives
        await asyncio.gather(*(dashboard.opened for dashboard in dashboards[start : start + 500]))
    probe = Connection("127.0.0.1", server.port, BROWSER_HEADERS)
    shown = shown_from(json.loads((await probe.send("GET", "/live/version"))[2]))
    dependencies = json.loads((await probe.send("GET", "/_dash-dependencies"))[2])
    probe.close()
    burst.checks = RunStats(dashboards=BURST_CHECKERS, seconds=SETTLE_SECONDS + BURST_WINDOW_SECONDS)
    checking = asyncio.ensure_future(
        simulate(
            "127.0.0.1",
            server.port,
            BURST_CHECKERS,
            shown,
            dependencies,
            CHECK_EVERY,
            SETTLE_SECONDS + BURST_WINDOW_SECONDS,
            stats=burst.checks,
        )
    )
    await asyncio.sleep(SETTLE_SECONDS)
    cpu_before, client_before = server.workers_cpu_seconds() or 0.0, time.process_time()
    data.write_bytes(sample_csv(ROWS, seed=int(time.time())))
    burst.written_at = time.monotonic()
    await asyncio.sleep(BURST_WINDOW_SECONDS)
    burst.worker_cpu_seconds = (server.workers_cpu_seconds() or 0.0) - cpu_before
    burst.client_cpu_seconds = time.process_time() - client_before
    taking_up = [dashboard.taking_up for dashboard in dashboards if dashboard.taking_up is not None]
    for task in [*tasks, *taking_up]:  # the window is over: what has not been taken up by now was not
        task.cancel()
    await asyncio.gather(*tasks, *taking_up, return_exceptions=True)
    await checking
    while not connections.empty():
        connections.get_nowait().close()
    return burst


def take_up_comparison(count: int) -> str:
    """The take-up burst on two fresh instances, Flask path then event loop; a table side by side."""
    bursts = {}
    for name, worker_class in (("Flask in a thread", FLASK_TAKE_UP_WORKER), ("event loop", "")):
        data = Path(tempfile.mkdtemp(prefix="bench-burst-")) / "data.csv"
        data.write_bytes(sample_csv(ROWS))
        env = {**instance_env(data), "GUNICORN_WORKER_CLASS": worker_class}
        with Gunicorn(env, workers=2) as server:
            bursts[name] = uvloop.run(take_up_burst(server, data, count))
            bursts[name].get_cost = take_up_get_cost(server)
    return grid_table(["measure", *bursts, "loop better by"], burst_rows(*bursts.values()))


def take_up_get_cost(server: Gunicorn, seconds: float = 3.0) -> tuple[float, float]:
    """Requests/s and worker CPU µs per chart GET once its answer is kept (wrk, 50 connections)."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    connection.request("GET", "/live/version")
    chart = take_up_gets(shown_from(json.loads(connection.getresponse().read())))[0]
    connection.close()
    before = server.workers_cpu_seconds() or 0.0
    requests = wrk(server.url + chart, 50, seconds, f"Accept-Encoding: {BROWSER_HEADERS['Accept-Encoding']}")
    spent = (server.workers_cpu_seconds() or 0.0) - before
    return requests / seconds, spent / max(requests, 1) * 1e6


def burst_rows(before: Burst, after: Burst) -> list[list[str]]:
    """Rows of the comparison: each measure for both runs, and how many times better the loop did."""

    def seconds(value: float | None) -> str:
        return "not all" if value is None else f"{value:.2f}"

    def ratio(flask: float | None, loop: float | None) -> str:
        return f"{flask / loop:.1f}×" if flask is not None and loop else "-"

    bursts = (before, after)
    rows = [[f"took it up ≤{n} s", f"{before.within(n):,}", f"{after.within(n):,}", "-"] for n in (1, 2, 5)]
    for name, fraction in (("p50 (s)", 0.5), ("p99 (s)", 0.99)):
        flask, loop = before.percentile(fraction), after.percentile(fraction)
        rows.append([name, seconds(flask), seconds(loop), ratio(flask, loop)])
    pushed = [burst.percentile(0.99, burst.pushed) for burst in bursts]
    rows += [
        ["of which the event, p99 (s)", *(seconds(value) for value in pushed), "-"],
        ["took it up in the window", f"{len(before.taken_up):,}", f"{len(after.taken_up):,}", "-"],
        ["take-up answers", *(_statuses(burst.statuses) for burst in bursts), "-"],
        ["errors / streams lost", *(f"{burst.errors} / {burst.lost}" for burst in bursts), "-"],
        [
            f"worker CPU-s, write → +{BURST_WINDOW_SECONDS:.0f} s",
            f"{before.worker_cpu_seconds:.2f}",
            f"{after.worker_cpu_seconds:.2f}",
            ratio(before.worker_cpu_seconds, after.worker_cpu_seconds),
        ],
        ["client CPU-s, same window", *(f"{burst.client_cpu_seconds:.2f}" for burst in bursts), "-"],
    ]
    rate, cost = zip(*(burst.get_cost for burst in bursts), strict=True)
    rows.append(["kept chart GET, wrk: requests/s", *(f"{value:,.0f}" for value in rate), ratio(rate[1], rate[0])])
    rows.append(["kept chart GET: worker CPU µs each", *(f"{value:.0f}" for value in cost), ratio(*cost)])
    checks = [burst.checks or RunStats(0, 0) for burst in bursts]
    p99 = [stats.check_percentile(0.99) for stats in checks]
    rows.append([f"{BURST_CHECKERS:,} others' checks: p99 ms", *(f"{value:.1f}" for value in p99), ratio(*p99)])
    rows.append(["others' checks: missed / errors", *(f"{stats.missed} / {stats.errors}" for stats in checks), "-"])
    return rows


def _statuses(counts: dict[int, int]) -> str:
    return ", ".join(f"{status}: {count:,}" for status, count in sorted(counts.items())) or "none"


def wrk(url: str, connections: int, seconds: float, header: str = "") -> int:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout", "10s", url]
    if header:
        command[1:1] = ["-H", header]
    output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60).stdout
    match = re.search(r"(\d+) requests in", output)
    return int(match.group(1)) if match else 0


def check_cost(server: Gunicorn, seconds: float) -> dict[str, str]:
    etag = subprocess.run(["curl", "-sI", f"{server.url}/live/version"], capture_output=True, text=True).stdout
    tag = re.search(r"(?i)etag: (\S+)", etag)
    rows = {}
    for name, header in (("200", ""), ("If-None-Match", f"If-None-Match: {tag.group(1) if tag else ''}")):
        before = server.workers_cpu_seconds() or 0.0
        requests = wrk(f"{server.url}/live/version", 50, seconds, header)
        spent = (server.workers_cpu_seconds() or 0.0) - before
        rows[f"check CPU µs ({name})"] = f"{spent / max(requests, 1) * 1e6:.0f}"
    return rows


def behind_cache(server: Gunicorn, seconds: float) -> dict[str, str]:
    rows = {}
    with Nginx(f"127.0.0.1:{server.port}") as cache:
        for clients in (1_000, 10_000):
            before = cache.cache_statuses()
            requests = wrk(f"{cache.url}/live/version", clients, seconds)
            statuses = cache.cache_statuses()[len(before) :]
            origin = sum(status in ("MISS", "EXPIRED", "REVALIDATED", "BYPASS", "-") for status in statuses)
            rows[f"{clients:,} clients: requests/s, origin/s"] = f"{requests / seconds:,.0f}, {origin / seconds:.2f}"
    return rows


def table(rows: dict[str, str]) -> str:
    """A two-column markdown table (bench.bench's modules still post the removed poll callback)."""
    width = max(len(name) for name in rows)
    lines = [f"| {'measure'.ljust(width)} | value |", f"|{'-' * (width + 2)}|-------|"]
    return "\n".join(lines + [f"| {name.ljust(width)} | {value} |" for name, value in rows.items()])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--writes", type=int, default=3)
    parser.add_argument("--skip", default="", help="comma-separated: streams,latency,cost,cache,takeup")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    data = Path(tempfile.mkdtemp(prefix="bench-live-")) / "data.csv"
    data.write_bytes(SAMPLE_CSV)
    results: dict[str, str] = {}
    print(f"live channel, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    with Gunicorn(instance_env(data), workers=2) as server:
        if "streams" not in skip:
            results.update(uvloop.run(hold_streams(server, data, args.streams, args.seconds)))
        if "latency" not in skip:
            results.update(uvloop.run(write_to_client(server, data, args.writes)))
        if "cost" not in skip:
            results.update(check_cost(server, args.seconds))
        if "cache" not in skip:
            results.update(behind_cache(server, args.seconds))
    if results:
        print(table(results))
    if "takeup" not in skip:
        comparison = take_up_comparison(args.streams)
        print(
            f"\ntake-up burst: {args.streams:,} dashboards with streams, {ROWS:,} rows, "
            f"{BURST_CHECKERS:,} more checking every {CHECK_EVERY:.0f} s; the client shares the "
            f"{os.cpu_count()} cores (load average {os.getloadavg()[0]:.1f} at the end)"
        )
        print(comparison)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
