"""One worker process for bench section (d): takes up generations on command, reports time and memory.

Run as ``python bench/frame_worker.py CODE_ROOT``: ``data_access`` and ``settings`` are
imported from CODE_ROOT (this repository for "ours", an export of the old commit for
"before"); the app's settings come from the environment. Commands arrive on stdin and
answers leave on stdout, one JSON object per line:

* ``{"op": "take-up", "generation": G}``: ``LiveData.frame(G)`` on this worker's cache;
* ``{"op": "take-up-cold", "generation": G}``: the same on a new ``LiveData`` and cache.

Each answer has the seconds taken, the worker's RSS after it, the peak RSS during it
(``VmHWM`` reset through ``/proc/self/clear_refs`` just before), the frame's size, and
where the time went: this process' user and kernel CPU seconds, and the seconds the
machine's virtual CPUs were stolen by the host meanwhile (``/proc/stat``, all CPUs).
"""

from __future__ import annotations

import gc
import json
import os
import sys
import time


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} missing from /proc/self/status")


def _stolen_seconds() -> float:
    with open("/proc/stat") as stat:
        fields = stat.readline().split()  # cpu user nice system idle iowait irq softirq steal
    return int(fields[8]) / os.sysconf("SC_CLK_TCK")


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")  # resets VmHWM to the current RSS


def main() -> None:
    sys.path.insert(0, sys.argv[1])

    from data_access import build_live_data
    from settings import Settings

    settings = Settings.from_env(os.environ, default_app_env="development")

    def new_live_data():  # returns the old or the new LiveData, whichever code root is first
        return build_live_data(settings, None)

    live_data = new_live_data()
    print(json.dumps({"ready": True, "rss_mb": _status_mb("VmRSS")}), flush=True)
    for line in sys.stdin:
        command = json.loads(line)
        target = new_live_data() if command["op"] == "take-up-cold" else live_data
        gc.collect()
        before_mb = _status_mb("VmRSS")
        _reset_peak()
        cpu_before, stolen_before = os.times(), _stolen_seconds()
        started = time.perf_counter()
        frame = target.frame(command["generation"])
        seconds = time.perf_counter() - started
        cpu_after, stolen_after = os.times(), _stolen_seconds()
        peak_mb = _status_mb("VmHWM")
        answer = {
            "seconds": seconds,
            "rows": len(frame),
            "frame_mb": frame.memory_usage(deep=True, index=True).sum() / 2**20,
            "rss_before_mb": before_mb,
            "peak_mb": peak_mb,
            "user_seconds": cpu_after.user - cpu_before.user,
            "kernel_seconds": cpu_after.system - cpu_before.system,
            "stolen_seconds": stolen_after - stolen_before,
        }
        del frame, target
        gc.collect()
        answer["rss_mb"] = _status_mb("VmRSS")
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
