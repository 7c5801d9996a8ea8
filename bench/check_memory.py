"""Memory and time of checking a staged upload: ``python -m bench.check_memory [--mb 1024]``.

The admin page checks a staged upload from a file on this machine (``check_staged``). This
runs that check, in a fresh process each time, on two generated CSVs: one of ``--mb`` MiB
(about 18M rows: over the default ``MAX_ROWS``, and with ``MAX_ROWS`` raised, a table over the
default ``FRAME_MEMORY_MB``) and one just under ``MAX_ROWS``, with the
code of this checkout ("ours") and of BEFORE_COMMIT ("before": the file read whole into
memory, the table parsed before its rows were counted). It prints the time, the peak
resident memory (the file's pages included: they are shared with the page cache) and the
peak anonymous memory (what the process itself allocated), sampled every 5 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.bench import table
from bench.bigdata import before_code
from bench.upload import write_csv
from settings import Settings
from testinfra import REPO

BEFORE_COMMIT = "333552a"
DEFAULT_MAX_ROWS = Settings.model_fields["max_rows"].default
DEFAULT_FRAME_MEMORY_MB = Settings.model_fields["frame_memory_mb"].default
ROW_BYTES = 59  # bench.upload.write_csv's rows are 58-60 bytes
DEADLINE_SECONDS = 600

# Run in a child process so each check starts with a fresh heap; prints one JSON line.
_CHECK = """
import json, sys, threading, time
from contextlib import contextmanager
from pathlib import Path
from data_access.staging import StagedFile, check_staged
from data_access.validation import Schema

def anonymous_kb():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("RssAnon:"))

peak = [anonymous_kb()]
done = threading.Event()
def sample():
    while not done.wait(0.005):
        peak[0] = max(peak[0], anonymous_kb())
threading.Thread(target=sample, daemon=True).start()

class FileStaging:
    @contextmanager
    def local_copy(self, staged):
        yield Path(sys.argv[1])

try:
    schema = Schema.parse("first_num:numeric,second_num:numeric", int(sys.argv[2]), int(sys.argv[3]))
except TypeError:  # before FRAME_MEMORY_MB was checked at upload
    schema = Schema.parse("first_num:numeric,second_num:numeric", int(sys.argv[2]))
started = time.perf_counter()
check = check_staged(FileStaging(), StagedFile("bench", "1", 0), "upload.csv", schema, 2**30)
seconds = time.perf_counter() - started
done.set()
with open("/proc/self/status") as status:
    hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"seconds": seconds, "peak_kb": hwm, "anon_kb": peak[0], "problem": check.report.problems[:1]}))
"""


def check_in_child(code_root: Path, path: Path, max_rows: int, max_frame_bytes: int) -> dict:
    """One ``check_staged`` of ``path`` with the code under ``code_root``, in a new process."""
    env = {**os.environ, "PYTHONPATH": f"{code_root}{os.pathsep}{REPO}", "NUMPY_MADVISE_HUGEPAGE": "0"}
    answer = subprocess.run(
        [sys.executable, "-c", _CHECK, str(path), str(max_rows), str(max_frame_bytes)],
        env=env,
        cwd=code_root,
        capture_output=True,
        text=True,
        timeout=DEADLINE_SECONDS,
        check=True,
    )
    return json.loads(answer.stdout.strip().splitlines()[-1])


def run(megabytes: int) -> str:
    max_rows, frame_bytes = DEFAULT_MAX_ROWS, int(DEFAULT_FRAME_MEMORY_MB * 2**20)
    rows_out = []
    with tempfile.TemporaryDirectory(prefix="bench-check-") as folder, before_code(BEFORE_COMMIT) as before_root:
        big = Path(folder) / "big.csv"
        # write_csv writes up to a block more than asked: stay under MAX_UPLOAD_MB's 1024.
        big_rows = write_csv(big, megabytes * 2**20 - 2 * 2**20)
        within = Path(folder) / "within.csv"
        within_rows = write_csv(within, int(max_rows * ROW_BYTES * 0.97))
        cases = [
            ("over MAX_ROWS", big, big_rows, max_rows),
            ("over FRAME_MEMORY_MB, MAX_ROWS=20M", big, big_rows, 20_000_000),
            ("within both", within, within_rows, max_rows),
        ]
        for case, path, rows, case_max_rows in cases:
            ours = check_in_child(REPO, path, case_max_rows, frame_bytes)
            before = check_in_child(before_root, path, case_max_rows, frame_bytes)
            for name, result in (("ours", ours), ("before", before)):
                rows_out.append(
                    [
                        f"{path.stat().st_size / 2**20:,.0f} MiB, {rows:,} rows ({case})",
                        name,
                        f"{result['seconds']:.2f} s",
                        f"{result['peak_kb'] / 1024:,.0f} MB",
                        f"{result['anon_kb'] / 1024:,.0f} MB",
                        f"{before['anon_kb'] / result['anon_kb']:.1f}×" if name == "ours" else "",
                        (result["problem"] or ["accepted"])[0],
                    ]
                )
    headers = ["file", "path", "check", "peak RSS", "peak anonymous", "before / ours (anonymous)", "answer"]
    return table(headers, rows_out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=1024, help="size of the file over MAX_ROWS, in MiB (default 1024)")
    args = parser.parse_args(argv)
    print(
        f"Checked with MAX_ROWS={DEFAULT_MAX_ROWS:,} unless said, FRAME_MEMORY_MB={DEFAULT_FRAME_MEMORY_MB:g}; "
        f"before = commit {BEFORE_COMMIT}.\n"
    )
    print(run(args.mb))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
