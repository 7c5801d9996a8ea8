""" "What changed" benchmark: ``python -m bench.changes [--rows 1000000 10000000] [--keys declared rows]``.

Diffs two versions of a table shaped like real data (time, category, measures, a text note)
where 1% of rows were removed, 1% added and 1% had a value changed, with each way of matching
rows: a declared key (``CHANGES_KEY``), a key the roles find, and whole-row hashes. Reports,
in one run per case: seconds (the latency of one comparison) and its CPU seconds (what a busy
machine's wall time hides), rows per second (its throughput), the peak memory the comparison
added on top of the two frames (Linux's VmHWM, reset just before), that peak over one frame's
size, and the ratios to the issue's targets
(1M rows ≤ 1 s, 10M rows ≤ 10 s, peak ≤ 2× one frame). Each case runs in its own process, one
at a time, so its memory is its own. Nothing is served or contacted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.table import make_frame
from data_access.changes import compare
from data_access.frame_store import frame_bytes
from data_access.roles import detect_roles

KEY_KINDS = ("declared", "found", "rows")
CHANGED_SHARE = 0.01
#: The issue's targets: seconds per million rows, and peak memory in frames.
SECONDS_PER_MILLION = 1.0
PEAK_FRAMES = 2.0
COLUMNS = ("rows", "key", "seconds", "CPU s", "rows/s", "peak added MB", "frame MB", "peak / frame", "s / target")
COLUMNS += ("peak / target",)


def versions(rows: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An old version and a new one: 1% of rows removed, 1% added, 1% with a changed value."""
    old = make_frame(rows)
    old.insert(0, "id", np.arange(rows))
    step = int(1 / CHANGED_SHARE)
    kept = old.drop(index=old.index[::step]).reset_index(drop=True)
    added = make_frame(rows // step, seed=1)
    added.insert(0, "id", np.arange(rows, rows + len(added)))
    new = pd.concat([kept, added], ignore_index=True)
    new.loc[new.index[1::step], "value"] += 1.0
    return old, new


def _memory_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def one_case(rows: int, key_kind: str) -> dict[str, float]:
    """Run one comparison in this process; its figures."""
    old, new = versions(rows)
    declared = ("id",) if key_kind == "declared" else ()
    roles = detect_roles(new) if key_kind == "found" else None  # computed once per version by the app
    if key_kind == "rows":
        new, old = new.drop(columns="id"), old.drop(columns="id")
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    before = _memory_kb("VmRSS")
    started, cpu_started = time.perf_counter(), time.process_time()
    changes = compare(old, new, declared, roles)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    peak_extra = (_memory_kb("VmHWM") - before) * 1024
    assert changes.key_kind == key_kind, (changes.key_kind, changes.key_columns)
    return {"seconds": seconds, "cpu": cpu_seconds, "peak_extra": peak_extra, "frame": frame_bytes(new)}


def _row(rows: int, key_kind: str, figures: dict[str, float]) -> str:
    target = SECONDS_PER_MILLION * rows / 1e6
    peak_frames = figures["peak_extra"] / figures["frame"]
    return (
        f"| {rows:,} | {key_kind} | {figures['seconds']:.2f} | {figures['cpu']:.2f} | "
        f"{rows / figures['seconds'] / 1e6:.1f} M | "
        f"{figures['peak_extra'] / 2**20:,.0f} | {figures['frame'] / 2**20:,.0f} | {peak_frames:.2f}× | "
        f"{figures['seconds'] / target:.2f} | {peak_frames / PEAK_FRAMES:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--keys", nargs="+", choices=KEY_KINDS, default=list(KEY_KINDS))
    parser.add_argument("--case", nargs=2, help=argparse.SUPPRESS)  # internal: one case in a child process
    arguments = parser.parse_args()
    if arguments.case:
        print(json.dumps(one_case(int(arguments.case[0]), arguments.case[1])))
        return
    print(f"load average before: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    print("| " + " | ".join(COLUMNS) + " |")
    print("|---:|---|" + "---:|" * (len(COLUMNS) - 2))
    for rows in arguments.rows:
        for key_kind in arguments.keys:
            child = subprocess.run(
                [sys.executable, "-m", "bench.changes", "--case", str(rows), key_kind],
                capture_output=True,
                text=True,
                check=True,
            )
            print(_row(rows, key_kind, json.loads(child.stdout)), flush=True)


if __name__ == "__main__":
    main()
