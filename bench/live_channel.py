"""The live channel under load: open streams per instance, the publish burst, check cost, a cache in front.

``python -m bench.live_channel [--streams 10000] [--seconds 10]`` (``make load`` runs it after the
capacity report) prints one table. One instance = gunicorn with 2 workers (``asgi_worker.py``)
on this machine, serving a local file (the transport does not depend on the source):

* **streams held**: N EventSource-like connections open on ``/live/events``; worker CPU and
  memory while idle;
* **publish burst**: the file is rewritten; how many of the N streams have the new generation
  after 1, 2, 5 s, the p50/p99 and lost connections;
* **write → client**: push (the periodic check, ``VERSION_CACHE_SECONDS=0.5``) against clients
  checking ``/live/version`` every 5 s;
* **unchanged check**: worker CPU per ``GET /live/version`` (wrk);
* **behind a shared cache**: origin requests per second through nginx ``proxy_cache`` at 1,000
  and 10,000 clients (wrk).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import uvloop
from werkzeug.security import generate_password_hash

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
    parser.add_argument("--skip", default="", help="comma-separated: streams,latency,cost,cache")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    data = Path(tempfile.mkdtemp(prefix="bench-live-")) / "data.csv"
    data.write_bytes(SAMPLE_CSV)
    results: dict[str, str] = {}
    with Gunicorn(instance_env(data), workers=2) as server:
        if "streams" not in skip:
            results.update(uvloop.run(hold_streams(server, data, args.streams, args.seconds)))
        if "latency" not in skip:
            results.update(uvloop.run(write_to_client(server, data, args.writes)))
        if "cost" not in skip:
            results.update(check_cost(server, args.seconds))
        if "cache" not in skip:
            results.update(behind_cache(server, args.seconds))
    print(f"live channel, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print(table(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
