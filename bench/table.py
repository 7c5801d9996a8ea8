"""Data table and download benchmark: ``python -m bench.table [--rows 1000000 10000000]``.

(e) table pages: server time of one grid request (parse, filter, sort, JSON-ready records) on
    the cached frame — first page, sorted first page, a deep sorted page before and after the
    per-process sort order exists, and the chart's filter plus a grid filter;
(f) downloads: throughput and peak memory of the streamed CSV/Parquet writers, side by side
    with writing the whole file at once (``to_csv`` / ``to_parquet``). Each download runs in
    its own process so its memory is measured alone; one 10M-row job at a time.

Bounded: a fixed number of repeats per figure, nothing served, nothing contacted.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import io
import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from data_access.downloads import file_chunks
from data_access.roles import detect_roles
from data_access.table_query import PageRequest, RowSelection, TableQuery
from data_access.view_state import ViewState, filter_rows

REPEATS = 5
CITIES = np.array(["Oslo", "Lima", "Rome", "Kyiv", "Bern"])
NOTES = np.array([f"note {i}" for i in range(98)] + ["=SUM(A1)", "-3"])


def make_frame(rows: int, seed: int = 0) -> pd.DataFrame:
    """A table shaped like real data: time, category, measures, a text note (some formula-like)."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "time": pd.date_range("2020-01-01", periods=rows, freq="s"),
            "city": pd.Series(CITIES[rng.integers(0, len(CITIES), rows)], dtype="str"),
            "value": rng.normal(100, 15, rows),
            "quantity": rng.integers(0, 1_000, rows),
            "note": pd.Series(NOTES[rng.integers(0, len(NOTES), rows)], dtype="str"),
        }
    )


def _ms(action: Callable[[], object], repeats: int = REPEATS) -> tuple[float, float]:
    """Median wall and CPU milliseconds of ``action`` (CPU time is less swayed by a busy machine)."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        action()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return statistics.median(walls), statistics.median(cpus)


def table_timings(frame: pd.DataFrame) -> list[tuple[str, tuple[float, float]]]:
    """Milliseconds per grid request for the cases the table meets."""
    n = len(frame)
    roles = detect_roles(frame)
    value_desc = [{"colId": "c2", "sort": "desc"}]

    def request(start: int, sort: list | None = None, filters: dict | None = None) -> PageRequest:
        body = {"startRow": start, "endRow": start + 100, "sortModel": sort or [], "filterModel": filters or {}}
        return PageRequest.from_grid(body, frame)

    def cold_query(body: PageRequest) -> Callable[[], object]:
        return lambda: TableQuery().page(frame, "g", body)

    warm = TableQuery()
    deep = request(n // 2, value_desc)
    deep_cold_ms = _ms(lambda: warm.page(frame, "g", deep), 1)
    next_block = request(n // 2 + 100, value_desc)
    view = ViewState(filters={"city": ("Lima",)})
    chart_filter = RowSelection(view.to_query(), lambda rows: filter_rows(rows, view, roles))
    grid_filter = {"c3": {"filterType": "number", "type": "greaterThan", "filter": 500}}

    def filtered(query: TableQuery, start: int = 0) -> object:
        return query.page(frame, "g", request(start, [{"colId": "c2"}], grid_filter), chart_filter)

    filtered(warm, 20_000)  # the query's ordered rows are kept for the next block

    return [
        ("first page", _ms(cold_query(request(0)))),
        ("first page sorted by a number (cold)", _ms(cold_query(request(0, value_desc)))),
        ("first page sorted by text (cold)", _ms(cold_query(request(0, [{"colId": "c1"}])), 1)),
        ("middle page sorted, first time (full sort, kept)", deep_cold_ms),
        ("next block of that sorted query", _ms(lambda: warm.page(frame, "g", next_block))),
        ("chart filter + grid filter + sort, first page (cold)", _ms(lambda: filtered(TableQuery()), 1)),
        ("chart filter + grid filter + sort, next block", _ms(lambda: filtered(warm, 20_100))),
    ]


class PeakMemory:
    """The largest resident set size seen while running (sampled every 5 ms from /proc)."""

    def __init__(self) -> None:
        self.peak = self.now()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    @staticmethod
    def now() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self.now())

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


def _whole_file(frame: pd.DataFrame, file_format: str) -> Iterator[bytes]:
    if file_format == "csv":
        yield frame.to_csv(index=False).encode()
    else:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        yield buffer.getvalue()


def download_worker(rows: int, file_format: str, method: str) -> dict[str, float]:
    """Run in a child process: time and memory of writing one file of ``rows`` rows."""
    frame = make_frame(rows)
    # Hand the memory freed while building the frame back to the system, so that reusing it
    # cannot hide what the writer allocates.
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    baseline = PeakMemory.now()
    pieces = file_chunks(frame, file_format) if method == "streamed" else _whole_file(frame, file_format)
    written = 0
    started = time.perf_counter()
    with PeakMemory() as memory:
        for piece in pieces:
            written += len(piece)  # a socket would take the piece here; nothing else keeps it
            del piece
    seconds = time.perf_counter() - started
    return {"bytes": written, "seconds": seconds, "extra_peak_bytes": memory.peak - baseline}


def run_download(rows: int, file_format: str, method: str) -> dict[str, float]:
    command = [sys.executable, "-m", "bench.table", "--worker", str(rows), file_format, method]
    output = subprocess.run(command, check=True, capture_output=True, text=True, timeout=900).stdout
    return json.loads(output.strip().splitlines()[-1])


def _megabytes(size: float) -> str:
    # Below 1 MB the sampled RSS cannot tell growth from noise.
    return "≤1" if size < 2**20 else f"{size / 2**20:,.0f}"


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    for cells in [headers, ["-" * width for width in widths], *rows]:
        print("| " + " | ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--only", choices=["table", "downloads"], help="run one of the two sections")
    parser.add_argument("--worker", nargs=3, metavar=("ROWS", "FORMAT", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        rows, file_format, method = args.worker
        print(json.dumps(download_worker(int(rows), file_format, method)))
        return 0

    if args.only != "downloads":
        print_table_section(args.rows)
    if args.only != "table":
        print_download_section(args.rows)
    return 0


def print_table_section(sizes: list[int]) -> None:
    print("(e) Table page, server time per grid request: wall ms (CPU ms), median of 5; 'first time' runs once\n")
    timings = {rows: dict(table_timings(make_frame(rows))) for rows in sizes}
    labels = list(timings[sizes[0]])
    headers = ["request", *[f"{rows:,} rows" for rows in sizes]]
    cells = {rows: {label: "{:.0f} ({:.0f})".format(*timings[rows][label]) for label in labels} for rows in sizes}
    print_table(headers, [[label, *[cells[rows][label] for rows in sizes]] for label in labels])


def print_download_section(sizes: list[int]) -> None:
    print("\n(f) Downloads: streamed (ours) vs whole file at once; memory = peak RSS above the loaded frame\n")
    lines = []
    for rows in sizes:
        for file_format in ("csv", "parquet"):
            ours = run_download(rows, file_format, "streamed")
            whole = run_download(rows, file_format, "whole")
            lines.append(
                [
                    f"{rows:,}",
                    file_format,
                    f"{ours['bytes'] / 2**20:,.0f}",
                    f"{ours['bytes'] / 2**20 / ours['seconds']:.0f} / {whole['bytes'] / 2**20 / whole['seconds']:.0f}",
                    f"{_megabytes(ours['extra_peak_bytes'])} / {_megabytes(whole['extra_peak_bytes'])}",
                    f"{max(whole['extra_peak_bytes'], 2**20) / max(ours['extra_peak_bytes'], 2**20):.1f}×",
                ]
            )
    headers = ["rows", "format", "file MB", "MB/s ours / whole", "peak MB ours / whole", "memory whole / ours"]
    print_table(headers, lines)


if __name__ == "__main__":
    sys.exit(main())
