"""A fixed-duration HTTP load: N concurrent connections POSTing one body, counting statuses.

``python -m bench.load`` (``make load``) runs the capacity report of :mod:`bench.capacity`.

``wrk`` is used when it is installed (C, cheap per request, so the server is what is
measured); otherwise a Python fallback with one thread and keep-alive connection per
client connection (fine for the ratio, but on 2 cores it takes CPU from the server).
"""

from __future__ import annotations

import http.client
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

WRK_THREADS = 2
MAX_PYTHON_CONNECTIONS = 32

_WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[BODY]==]
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) statuses = {} end
function response(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
function done(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      io.write(string.format("BENCH-STATUS %d %d\\n", status, count))
    end
  end
  local errors = summary.errors
  io.write(string.format("BENCH-TOTAL %d %d %d\\n", summary.requests, summary.duration,
    errors.connect + errors.read + errors.write + errors.timeout))
  io.write(string.format("BENCH-LATENCY %d %d\\n", latency:percentile(50), latency:percentile(99)))
end
"""


@dataclass
class LoadResult:
    """What one load run saw."""

    client: str
    requests: int
    seconds: float
    statuses: Counter = field(default_factory=Counter)
    errors: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    server_cpu_seconds: float | None = None  # filled in by callers that can see the server

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us_per_request(self) -> float | None:
        if self.server_cpu_seconds is None or not self.requests:
            return None
        return self.server_cpu_seconds / self.requests * 1e6


def client_name() -> str:
    """The load client this machine will use."""
    return "wrk" if shutil.which("wrk") else "python threads"


def run_load(url: str, path: str, body: bytes | None, connections: int, seconds: float) -> LoadResult:
    """POST ``body`` (GET when ``None``) to ``url + path`` over ``connections`` connections for ``seconds``."""
    if shutil.which("wrk"):
        return _wrk_load(url + path, body, connections, seconds)
    return _python_load(url, path, body, min(connections, MAX_PYTHON_CONNECTIONS), seconds)


def _wrk_load(target: str, body: bytes | None, connections: int, seconds: float) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as folder:
        script = Path(folder) / "post.lua"
        text = _WRK_SCRIPT.replace("BODY", body.decode()) if body is not None else _WRK_SCRIPT
        if body is None:
            text = text.replace('wrk.method = "POST"', 'wrk.method = "GET"').replace("wrk.body = [==[BODY]==]\n", "")
        script.write_text(text)
        command = [
            "wrk",
            f"-t{min(WRK_THREADS, connections)}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            target,
        ]
        output = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    return _parse_wrk(output)


def _parse_wrk(output: str) -> LoadResult:
    total = re.search(r"^BENCH-TOTAL (\d+) (\d+) (\d+)$", output, re.MULTILINE)
    latency = re.search(r"^BENCH-LATENCY (\d+) (\d+)$", output, re.MULTILINE)
    if not total or not latency:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    statuses = Counter()
    for status, count in re.findall(r"^BENCH-STATUS (\d+) (\d+)$", output, re.MULTILINE):
        statuses[int(status)] += int(count)
    return LoadResult(
        client="wrk",
        requests=int(total.group(1)),
        seconds=int(total.group(2)) / 1e6,
        statuses=statuses,
        errors=int(total.group(3)),
        p50_ms=int(latency.group(1)) / 1000,
        p99_ms=int(latency.group(2)) / 1000,
    )


def _python_load(url: str, path: str, body: bytes | None, connections: int, seconds: float) -> LoadResult:
    host, port = url.removeprefix("http://").split(":")
    deadline = time.monotonic() + seconds
    results: list[tuple[Counter, list[float], int]] = []
    lock = threading.Lock()

    def worker() -> None:
        outcome = _python_connection_loop(host, int(port), path, body, deadline)
        with lock:
            results.append(outcome)

    started = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=seconds + 15)
    elapsed = time.monotonic() - started
    statuses: Counter = Counter()
    latencies: list[float] = []
    for thread_statuses, thread_latencies, _errors in results:
        statuses.update(thread_statuses)
        latencies.extend(thread_latencies)
    latencies.sort()
    return LoadResult(
        client="python threads",
        requests=sum(statuses.values()),
        seconds=elapsed,
        statuses=statuses,
        errors=sum(errors for _, _, errors in results),
        p50_ms=_percentile(latencies, 0.50) * 1000,
        p99_ms=_percentile(latencies, 0.99) * 1000,
    )


def _python_connection_loop(
    host: str, port: int, path: str, body: bytes, deadline: float
) -> tuple[Counter, list[float], int]:
    statuses: Counter = Counter()
    latencies: list[float] = []
    errors = 0
    connection = http.client.HTTPConnection(host, port, timeout=10)
    headers = {"Content-Type": "application/json"}
    while time.monotonic() < deadline:
        sent = time.perf_counter()
        try:
            connection.request("POST" if body is not None else "GET", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException):
            errors += 1
            connection.close()  # reopened by the next request
            continue
        latencies.append(time.perf_counter() - sent)
        statuses[response.status] += 1
    connection.close()
    return statuses, latencies, errors


def _percentile(sorted_values: list[float], fraction: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


if __name__ == "__main__":
    import sys

    from bench.capacity import main

    sys.exit(main())
