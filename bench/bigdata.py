"""(d) Big data: taking up 1M / 10M-row generations, memory over 20 generations, bytes in the shared cache.

Ours (this checkout) and "before" (the data path at BEFORE_COMMIT, exported with
``git archive`` into a temporary folder) run the same steps in the same run, each in
its own worker processes (``bench/frame_worker.py``) against one fake-gcs-server and a
fresh redis-server per case:

1. **take-up**: a worker with a cold ``SimpleCache`` takes up the live generation
   (download + parse + checks + derive) ``REPEATS`` times back to back; the median is
   reported, with the peak RSS rise during it next to the parsed frame's size; then once
   more after IDLE_SECONDS without work, as a real new generation arrives (on a VM whose
   host takes freed memory back, that one pays for first touches of new memory);
2. **memory**: two workers on one Redis; for each of ``generations`` new generations
   (published by this process, unversioned bucket), worker A takes it up (downloads,
   stores in Redis), then worker B (reads it from Redis). RSS of A and B and Redis'
   ``used_memory`` after the first and after the last generation, again
   REPLACED_FRAME_SECONDS later (one more lookup of the live generation each), and the
   bytes one frame takes in Redis.

"before" at 10M rows runs only BEFORE_10M_GENERATIONS generations: its Redis grows by a
pickled frame (~400 MB) per generation, and the machine is shared.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import redis

from bench.data import create_bucket, sample_frame
from data_access.frame_store import REPLACED_FRAME_SECONDS
from testinfra import REPO, FakeGCS, RedisServer
from testinfra.gunicorn_server import PASSED_ENV_VARS

#: main before the Arrow data path: pandas from a StringIO copy, pickled frames kept 24 h.
BEFORE_COMMIT = "c1fb3b2"
ROW_COUNTS = (1_000_000, 10_000_000)
FORMATS = ("csv", "parquet")
GENERATIONS = 20
BEFORE_10M_GENERATIONS = 3
REPEATS = 3
#: Long enough for this VM's host to take freed memory back (bench/first_touch.py: 2-8 s).
IDLE_SECONDS = 10
#: Both paths' workers run as app.yaml runs them (MALLOC_ARENA_MAX=2; docs/decisions/0006-memory-allocator.md).
WORKER_ENV = {"MALLOC_ARENA_MAX": "2", "NUMPY_MADVISE_HUGEPAGE": "0"}


@dataclass
class MemoryReading:
    worker_a_mb: float
    worker_b_mb: float
    redis_mb: float


@dataclass
class CaseResult:
    """One path (ours / before) at one size and format."""

    path: str
    rows: int
    data_format: str
    object_mb: float
    take_up_seconds: list[float] = field(default_factory=list)
    #: Per take-up: (user CPU s, kernel CPU s, s stolen by the host from the machine's vCPUs).
    take_up_cpu: list[tuple[float, float, float]] = field(default_factory=list)
    #: One more take-up after IDLE_SECONDS idle: seconds and its kernel CPU seconds.
    idle_take_up: tuple[float, float] | None = None
    #: Worker B taking each generation up from Redis (another worker stored it).
    shared_read_seconds: list[float] = field(default_factory=list)
    peak_rise_mb: float = 0.0
    frame_mb: float = 0.0
    shared_bytes: int = 0
    generations: int = 0
    after_first: MemoryReading | None = None
    after_last: MemoryReading | None = None
    settled: MemoryReading | None = None
    error: str = ""

    @property
    def take_up_median(self) -> float:
        return statistics.median(self.take_up_seconds) if self.take_up_seconds else float("nan")

    @property
    def take_up_cpu_median(self) -> tuple[float, float, float]:
        """user, kernel and stolen seconds, each the median over the take-ups."""
        if not self.take_up_cpu:
            return (float("nan"),) * 3
        return tuple(statistics.median(run[index] for run in self.take_up_cpu) for index in range(3))

    @property
    def shared_read_median(self) -> float:
        return statistics.median(self.shared_read_seconds) if self.shared_read_seconds else float("nan")


def measure(
    emulator: FakeGCS, client: Any, row_counts: tuple[int, ...] = ROW_COUNTS, generations: int = GENERATIONS
) -> list[CaseResult]:
    """Every (rows, format) case, ours then before, one case at a time (10M rows take RAM).

    ``generations=0`` measures only the take-up (a quick run while the machine is quiet).
    """
    results = []
    with before_code(BEFORE_COMMIT) as before_root:
        for rows in row_counts:
            frame = sample_frame(rows)
            for data_format in FORMATS:
                content = encode(frame, data_format)
                for path, code_root in (("ours", REPO), ("before", before_root)):
                    count = (
                        min(generations, BEFORE_10M_GENERATIONS) if path == "before" and rows >= 10**7 else generations
                    )
                    results.append(_run_case(emulator, client, path, code_root, content, rows, data_format, count))
                del content
            del frame
    return results


def encode(frame: pd.DataFrame, data_format: str) -> bytes:
    """``frame`` as the bytes of a CSV or Parquet file."""
    if data_format == "parquet":
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()
    return frame.to_csv(index=False).encode()


@contextmanager
def before_code(commit: str) -> Iterator[Path]:
    """``data_access`` and ``settings.py`` as they were at ``commit``, in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix="bench-before-") as folder:
        archive = subprocess.run(
            ["git", "archive", commit, "data_access", "settings.py"],
            cwd=REPO,
            check=True,
            capture_output=True,
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
        yield Path(folder)


def _run_case(
    emulator: FakeGCS,
    client: Any,
    path: str,
    code_root: Path,
    content: bytes,
    rows: int,
    data_format: str,
    generations: int,
) -> CaseResult:
    print(f"[bench] (d) {path} {rows:,} rows {data_format} ...", file=sys.stderr, flush=True)
    result = CaseResult(path, rows, data_format, len(content) / 2**20, generations=generations)
    bucket = create_bucket(client, f"bench-big-{path}-{rows}-{data_format}", versioned=False)
    blob_name = f"data/data.{data_format}"
    try:
        with RedisServer() as redis_server:
            env = worker_env(emulator, bucket.name, blob_name, "SimpleCache", "")
            generation = _publish(bucket, blob_name, content)
            with _Worker(code_root, env) as timer:
                for _ in range(REPEATS if rows < 10**7 or path == "ours" else 1):
                    answer = timer.send("take-up-cold", generation)
                    result.take_up_seconds.append(answer["seconds"])
                    result.take_up_cpu.append(
                        (answer["user_seconds"], answer["kernel_seconds"], answer["stolen_seconds"])
                    )
                    result.peak_rise_mb = max(result.peak_rise_mb, answer["peak_mb"] - answer["rss_before_mb"])
                    result.frame_mb = answer["frame_mb"]
                time.sleep(IDLE_SECONDS)
                answer = timer.send("take-up-cold", generation)
                result.idle_take_up = (answer["seconds"], answer["kernel_seconds"])
            if generations:
                _measure_memory(result, emulator, bucket, blob_name, content, code_root, redis_server)
    except Exception as error:  # one failing case must not lose the others' figures
        result.error = f"{type(error).__name__}: {error}"
    return result


def _measure_memory(
    result: CaseResult,
    emulator: FakeGCS,
    bucket: Any,
    blob_name: str,
    content: bytes,
    code_root: Path,
    redis_server: RedisServer,
) -> None:
    env = worker_env(emulator, bucket.name, blob_name, "RedisCache", redis_server.url)
    redis_client = redis.Redis.from_url(redis_server.url)
    with _Worker(code_root, env) as worker_a, _Worker(code_root, env) as worker_b:
        for number in range(1, result.generations + 1):
            generation = _publish(bucket, blob_name, content)
            answer_a = worker_a.send("take-up", generation)
            answer_b = worker_b.send("take-up", generation)
            result.shared_read_seconds.append(answer_b["seconds"])
            reading = MemoryReading(answer_a["rss_mb"], answer_b["rss_mb"], _redis_used_mb(redis_client))
            if number == 1:
                result.after_first = reading
                result.shared_bytes = _frame_bytes_in_redis(redis_client, generation)
            result.after_last = reading
        # Then as a quiet app: replaced frames expire, and the next poll's lookup drops them.
        time.sleep(REPLACED_FRAME_SECONDS + 1)
        answers = [worker.send("take-up", generation) for worker in (worker_a, worker_b)]
        result.settled = MemoryReading(answers[0]["rss_mb"], answers[1]["rss_mb"], _redis_used_mb(redis_client))


def _publish(bucket: Any, blob_name: str, content: bytes) -> str:
    blob = bucket.blob(blob_name)
    blob.upload_from_string(content, timeout=300)
    return str(blob.generation)


def _redis_used_mb(client: redis.Redis) -> float:
    return client.info("memory")["used_memory"] / 2**20


def _frame_bytes_in_redis(client: redis.Redis, generation: str) -> int:
    return sum(client.strlen(key) for key in client.scan_iter(f"*:frame:{generation}*"))


def worker_env(emulator: FakeGCS, bucket: str, blob: str, cache_type: str, redis_url: str) -> dict[str, str]:
    env = {key: os.environ[key] for key in PASSED_ENV_VARS if key in os.environ}
    env.update(WORKER_ENV)
    env.update(
        {
            "APP_ENV": "development",
            "DATA_SOURCE": "gcs",
            "GCS_BUCKET": bucket,
            "GCS_BLOB": blob,
            "GCP_PROJECT": "bench",
            "STORAGE_EMULATOR_HOST": emulator.url,
            "CACHE_TYPE": cache_type,
            "CACHE_REDIS_URL": redis_url,
            # The old path applied the upload row limit to stored data: lift it so it can load 10M rows.
            "MAX_ROWS": str(10**9),
        }
    )
    return env


class _Worker:
    """``bench/frame_worker.py`` in a subprocess, stopped by PID."""

    def __init__(self, code_root: Path, env: dict[str, str]) -> None:
        command = [sys.executable, str(REPO / "bench" / "frame_worker.py"), str(code_root)]
        self.process = subprocess.Popen(
            command, cwd=code_root, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self._read()  # "ready"

    def send(self, op: str, generation: str) -> dict[str, Any]:
        self.process.stdin.write(json.dumps({"op": op, "generation": generation}) + "\n")
        self.process.stdin.flush()
        return self._read()

    def _read(self) -> dict[str, Any]:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"frame worker exited with {self.process.wait()}")
        return json.loads(line)

    def __enter__(self) -> _Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
