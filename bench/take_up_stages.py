"""Where one take-up's time and new memory go, stage by stage, in this process.

Run: ``python -m bench.take_up_stages [ROWS] [csv|parquet]`` (default 10,000,000 csv). Publishes
the sample-shaped table to a fake-gcs-server, then takes it up ``TAKE_UPS`` times on a fresh
``LiveData`` (after IDLE_SECONDS idle, as a real new generation arrives) and prints, per stage,
the wall time and the new memory touched (minor page faults × 4 KiB; a huge page counts once).
numpy reads ``NUMPY_MADVISE_HUGEPAGE`` when it is imported: compare huge pages with 4 KiB ones
by running this with and without ``NUMPY_MADVISE_HUGEPAGE=0`` in its environment.
"""

from __future__ import annotations

import functools
import gc
import os
import resource
import sys
import time
from typing import Any

import data_access.live_data as live_data
import data_access.validation as validation
from bench.bench import table
from bench.bigdata import encode, worker_env
from bench.data import create_bucket, sample_frame
from data_access import build_live_data
from data_access.gcs_source import GCSSource
from settings import Settings
from testinfra import FakeGCS, emulator_client

TAKE_UPS = 2
IDLE_SECONDS = 10
BLOB = "data/data"


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def _timed(stages: dict[str, list[float]], owner: Any, name: str) -> None:
    """Wrap ``owner.name`` so each call adds its seconds and faults to ``stages[name]``."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        faults, started = _faults(), time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            totals = stages.setdefault(name, [0.0, 0.0])
            totals[0] += time.perf_counter() - started
            totals[1] += _faults() - faults

    setattr(owner, name, wrapper)


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    data_format = sys.argv[2] if len(sys.argv) > 2 else "csv"
    with FakeGCS() as emulator:
        os.environ.update(worker_env(emulator, "stages", f"{BLOB}.{data_format}", "SimpleCache", ""))
        blob = create_bucket(emulator_client(emulator, "bench"), "stages", versioned=False).blob(
            f"{BLOB}.{data_format}"
        )
        blob.upload_from_string(encode(sample_frame(rows), data_format))
        stages: dict[str, list[float]] = {}
        _timed(stages, GCSSource, "read")
        for name in (
            "_too_big_to_parse",
            "read_csv_arrow",
            "read_parquet_arrow",
            "arrow_to_frame",
            "_check_types",
            "transform",
        ):
            if hasattr(validation, name):
                _timed(stages, validation, name)
        _timed(stages, live_data, "parse_time_columns")
        settings = Settings.from_env(os.environ, default_app_env="development")
        for number in range(1, TAKE_UPS + 1):
            target = build_live_data(settings, None)
            gc.collect()
            time.sleep(IDLE_SECONDS)
            stages.clear()
            faults, started, cpu = _faults(), time.perf_counter(), os.times()
            target.frame(str(blob.generation))
            seconds, spent = time.perf_counter() - started, os.times()
            rows_out = [
                [name, f"{total * 1000:,.0f} ms", f"{count * 4 / 1024:,.0f} MB"]
                for name, (total, count) in stages.items()
            ]
            rows_out.append(
                ["whole take-up", f"{seconds * 1000:,.0f} ms", f"{(_faults() - faults) * 4 / 1024:,.0f} MB"]
            )
            print(
                f"\nTake-up {number} of {rows:,} rows {data_format} after {IDLE_SECONDS} s idle: user CPU "
                f"{spent.user - cpu.user:.2f} s, kernel CPU {spent.system - cpu.system:.2f} s\n"
            )
            print(table(["stage", "time", "new memory touched"], rows_out))
            del target


if __name__ == "__main__":
    main()
