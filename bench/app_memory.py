"""Part of (d): the real app serving a big dataset, as app.yaml runs it, watched over several generations.

gunicorn with 2 gthread workers (8 threads each), ``RedisCache`` on a fresh redis-server,
``MALLOC_ARENA_MAX=2``, ``FRAME_MEMORY_MB=256``. For each new generation of ``rows`` rows: publish it, then send
concurrent first polls (each on a new connection, like new tabs) until both workers have
answered; the poll callback takes the generation up. Reported: each worker's RSS after the
first and after the last generation, each worker's peak RSS over the whole run, and the
instance total (master + workers) at its peak — what has to fit in the instance class.
"""

from __future__ import annotations

import http.client
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.data import create_bucket, publish, sample_csv
from testinfra import FakeGCS, Gunicorn, RedisServer, gcs_env

GENERATIONS = 5
#: What the README's sizing table recommends for 5M sample-shaped rows on an F4: one 191 MB frame per worker.
FRAME_MEMORY_MB = 256
POLLS_PER_GENERATION = 16
SAMPLE_SECONDS = 0.02
GTHREAD = ("--worker-class", "gthread", "--threads", "8", "--timeout", "120")


@dataclass
class AppMemoryResult:
    rows: int
    csv_mb: float
    generations: int
    after_first_mb: list[float]
    after_last_mb: list[float]
    peak_mb: list[float]
    master_mb: float
    statuses: dict[int, int]
    #: Highest master + workers RSS seen together, sampled every SAMPLE_SECONDS during the polls.
    sampled_instance_peak_mb: float

    @property
    def instance_peak_bound_mb(self) -> float:
        """Master + each worker's own peak: an upper bound (the peaks need not coincide)."""
        return self.master_mb + sum(self.peak_mb)


def measure(emulator: FakeGCS, client: Any, rows: int) -> AppMemoryResult:
    """Serve ``rows`` rows through GENERATIONS generations; memory per worker and for the instance."""
    bucket = create_bucket(client, f"bench-app-memory-{rows}", versioned=False)
    content = sample_csv(rows)
    statuses: dict[int, int] = {}
    with RedisServer() as redis_server:
        env = gcs_env(
            emulator.url,
            bucket.name,
            CACHE_TYPE="RedisCache",
            CACHE_REDIS_URL=redis_server.url,
            MALLOC_ARENA_MAX="2",
            NUMPY_MADVISE_HUGEPAGE="0",
            FRAME_MEMORY_MB=str(FRAME_MEMORY_MB),
        )
        publish(bucket, content)
        with Gunicorn(env, workers=2, extra_args=GTHREAD) as server:
            readings, sampled_peak = [], 0.0
            for _ in range(GENERATIONS):
                publish(bucket, content)
                with _InstanceSampler([server.process.pid, *server.worker_pids()]) as sampler:
                    _first_polls(server, statuses)
                sampled_peak = max(sampled_peak, sampler.peak_mb)
                readings.append([_status_mb(pid, "VmRSS") for pid in server.worker_pids()])
            peaks = [_status_mb(pid, "VmHWM") for pid in server.worker_pids()]
            master = _status_mb(server.process.pid, "VmRSS")
    return AppMemoryResult(
        rows, len(content) / 2**20, GENERATIONS, readings[0], readings[-1], peaks, master, statuses, sampled_peak
    )


class _InstanceSampler:
    """Sums the RSS of the given processes every SAMPLE_SECONDS in a thread; keeps the highest sum."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.peak_mb = max(self.peak_mb, sum(_status_mb(pid, "VmRSS") for pid in self.pids))

    def __enter__(self) -> _InstanceSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _first_polls(server: Gunicorn, statuses: dict[int, int]) -> None:
    """Many pages checking /live/version at once (each process takes the new generation up once)."""

    def one_poll(_: int) -> int:
        connection = http.client.HTTPConnection(server.host, server.port, timeout=120)
        try:
            connection.request("GET", "/live/version")
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=POLLS_PER_GENERATION) as pool:
        for status in pool.map(one_poll, range(POLLS_PER_GENERATION)):
            statuses[status] = statuses.get(status, 0) + 1


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} missing for process {pid}")
