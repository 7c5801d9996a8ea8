"""What one visitor receives for the widest and the longest-celled table accepted: ``python -m bench.file_shapes``.

Each table is served by gunicorn in production configuration (local data source) and opened
in headless Chromium; once the chart is drawn and the table's first block of rows is on
screen ("first paint"), the page's Resource Timing entries are added up: bytes after
decoding (what the browser holds) and on the wire (compressed), the data answers
(callbacks, table rows) apart from the scripts and styles, and the largest single answer.

The limits that keep it bounded are printed with the table: MAX_COLUMNS, the header's bytes
(MAX_HEADER_BYTES), MAX_CELL_CHARS, the length text is cut to before it is sent
(DISPLAY_CELL_CHARS) and the rows in one table block (BLOCK_ROWS).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from selenium.common.exceptions import TimeoutException

from bench.bench import table
from bench.chart import _app_env, chromium
from components.data_table import BLOCK_ROWS
from data_access.parsing import DEFAULT_MAX_CELL_CHARS, DEFAULT_MAX_COLUMNS, DISPLAY_CELL_CHARS, MAX_HEADER_BYTES
from settings import SAMPLE_DATA_PATH
from testinfra import Gunicorn

TIMEOUT_SECONDS = 30
# Column names of the wide tables (names of 1,000 characters with long cells kept Chromium's
# renderer busy past the timeout at 100 columns).
NAME_CHARS = 40
# Every resource's sizes; "data" is anything that is not a script, style sheet, font or image.
SIZES_JS = """
    const entries = [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')];
    return entries.map(e => [e.name, e.initiatorType, e.decodedBodySize, e.transferSize]);
"""
PAINTED_JS = """
    const gd = document.querySelector('#chart-graph .js-plotly-plot');
    const chart = Boolean(gd && gd._fullLayout);  // a text-only table draws "pick a column", no trace
    const cells = document.querySelectorAll('#data-table .ag-center-cols-container .ag-row .ag-cell');
    const loaded = [...cells].some(cell => cell.textContent.trim().length > 0);
    return chart && loaded;
"""
STATIC = ("/_dash-component-suites/", "/assets/", ".js", ".css", ".woff", ".png", ".ico")


def widest_csv(path: Path, rows: int, columns: int = DEFAULT_MAX_COLUMNS) -> None:
    """``columns`` columns whose names fill the header's bytes, every cell text longer than the display cut."""
    name_chars = min(MAX_HEADER_BYTES // columns - 8, NAME_CHARS)
    names = [f"c{index:04d}_" + "n" * (name_chars - 6) for index in range(columns)]
    with path.open("w") as handle:
        handle.write(",".join(names) + "\n")
        for row in range(rows):
            cell = f"r{row}_" + "w" * (DISPLAY_CELL_CHARS + 50)
            handle.write(",".join([cell] * columns) + "\n")


def longest_cells_csv(path: Path, rows: int) -> None:
    """Three columns: a row number, a note of MAX_CELL_CHARS characters in every row, a value."""
    with path.open("w") as handle:
        handle.write("ID,note,value\n")
        for row in range(rows):
            note = f"r{row}_" + "w" * (DEFAULT_MAX_CELL_CHARS - len(f"r{row}_"))
            handle.write(f"{row},{note},{row * 1.5}\n")


def first_paint(url: str) -> dict[str, Any]:
    """Bytes the page received until its chart and first table block were on screen."""
    with chromium() as driver:
        driver.set_page_load_timeout(TIMEOUT_SECONDS)
        driver.set_script_timeout(TIMEOUT_SECONDS)
        started = time.monotonic()
        driver.get(url)
        painted = False
        while not painted and time.monotonic() - started < TIMEOUT_SECONDS:
            try:
                painted = driver.execute_script(PAINTED_JS)
            except TimeoutException:
                return {"painted": False, "busy": True}
            time.sleep(0.05)
        seconds = time.monotonic() - started
        entries = driver.execute_script(SIZES_JS)
    data = [entry for entry in entries if not any(marker in entry[0] for marker in STATIC)]
    return {
        "painted": painted,
        "seconds": seconds,
        "decoded": sum(entry[2] for entry in entries),
        "wire": sum(entry[3] for entry in entries),
        "data_decoded": sum(entry[2] for entry in data),
        "data_wire": sum(entry[3] for entry in data),
        "largest": max((entry[2] for entry in data), default=0),
        "requests": len(entries),
    }


def measure(label: str, path: Path) -> list[str]:
    env = _app_env(path)
    with Gunicorn(env, workers=1) as server:
        sizes = first_paint(server.url + "/")
    if sizes.get("busy"):
        busy = f"renderer busy > {TIMEOUT_SECONDS} s"
        return [label, f"{path.stat().st_size / 1e6:,.1f} MB", busy, "", "", "", "", ""]
    return [
        label,
        f"{path.stat().st_size / 1e6:,.1f} MB",
        f"{sizes['decoded'] / 1e6:.2f} MB",
        f"{sizes['wire'] / 1e6:.2f} MB",
        f"{sizes['data_decoded'] / 1e6:.2f} MB",
        f"{sizes['data_wire'] / 1e6:.2f} MB",
        f"{sizes['largest'] / 1e6:.2f} MB",
        f"{sizes['seconds']:.1f} s" if sizes["painted"] else f"table empty after {TIMEOUT_SECONDS} s",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=BLOCK_ROWS, help="rows of each generated table")
    parser.add_argument("--columns", default=str(DEFAULT_MAX_COLUMNS), help="widths to try, e.g. 250,1000")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-file-shapes-") as workdir:
        longest = Path(workdir) / "longest.csv"
        longest_cells_csv(longest, args.rows)
        rows = [measure("bundled sample (6 columns)", SAMPLE_DATA_PATH)]
        for columns in (int(width) for width in args.columns.split(",")):
            widest = Path(workdir) / f"widest-{columns}.csv"
            widest_csv(widest, args.rows, columns)
            rows.append(measure(f"wide: {columns:,} columns of text cells", widest))
        rows.append(measure(f"longest cells: {DEFAULT_MAX_CELL_CHARS:,} characters in every row", longest))
    headers = [
        "table", "file", "page total", "on the wire", "data", "data on the wire", "largest answer", "paint",
    ]  # fmt: skip
    print(f"First paint of the chart page (chart drawn, first {BLOCK_ROWS} table rows shown), {args.rows} rows")
    print(table(headers, rows))
    print(
        f"\nLimits: MAX_COLUMNS={DEFAULT_MAX_COLUMNS:,}; column names ≤ {MAX_HEADER_BYTES // 2**20} MiB in all; "
        f"MAX_CELL_CHARS={DEFAULT_MAX_CELL_CHARS:,}; text sent to browsers cut to {DISPLAY_CELL_CHARS} characters; "
        f"{BLOCK_ROWS} rows per table block. A table block is at most "
        f"{BLOCK_ROWS} × {DEFAULT_MAX_COLUMNS:,} × {DISPLAY_CELL_CHARS} characters "
        f"(≈ {BLOCK_ROWS * DEFAULT_MAX_COLUMNS * DISPLAY_CELL_CHARS / 1e6:.0f} MB) whatever the file holds."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
