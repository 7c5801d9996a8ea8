"""What the mixed-column warning costs a preview: a 3M-row sensor log checked clean and with text cells.

    python -m bench.validation_warnings

Prints a table: the whole upload check, and the warning's share of it.
"""

from __future__ import annotations

import time

import numpy as np

from data_access.validation import Schema, mixed_column_warnings, validate_upload

ROWS = 3_000_000


def sensor_log(text_cells: bool) -> bytes:
    """time, sensor, value: one reading a second from three sensors (a few readings as text when asked)."""
    values = np.round(np.random.default_rng(0).normal(20, 5, ROWS), 2).astype(str)
    if text_cells:
        values[[1_000, 2_000_000, ROWS - 10]] = ["n.a.", "err", "?"]
    lines = (f"{second},s{second % 3},{value}" for second, value in zip(range(ROWS), values, strict=True))
    return ("time,sensor,value\n" + "\n".join(lines) + "\n").encode()


def main() -> None:
    schema = Schema.parse("", None)
    print("| file | MB | whole check (s) | warning alone (s) | warnings |")
    print("|---|---|---|---|---|")
    for name, text_cells in (("clean", False), ("3 text cells", True)):
        content = sensor_log(text_cells)
        start = time.perf_counter()
        report = validate_upload(content, "log.csv", schema, 10**9)
        whole = time.perf_counter() - start
        start = time.perf_counter()
        mixed_column_warnings(report.table, lambda rows: [f"record {row}" for row in rows])
        alone = time.perf_counter() - start
        print(f"| {name} | {len(content) / 1e6:.0f} | {whole:.2f} | {alone:.2f} | {len(report.warnings)} |")


if __name__ == "__main__":
    main()
