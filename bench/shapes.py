"""Long-table cost: ``python -m bench.shapes [--rows 1000000 3000000]``.

Per table size, the median of a few runs of: column roles with the long-shape check (once per
generation), that check alone, and the default chart (``chart_for`` + figure) — for a long
3-sensor log (time, sensor, value; sensors interleaved each second) and a wide table of the
same size (a unique time, six measures, two categories) whose long-shape check must refuse.

Bounded: three repeats per figure, nothing served, nothing contacted.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from components.figures import chart_for, figure_from
from data_access.roles import detect_roles, long_series
from data_access.view_state import ViewState

REPEATS = 3
MAX_POINTS = 20_000


def sensor_log(rows: int) -> pd.DataFrame:
    seconds = rows // 3
    generator = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "timestamp": np.repeat(pd.date_range("2024-01-01", periods=seconds, freq="s").to_numpy(), 3),
            "sensor": pd.array(np.tile(["s1", "s2", "s3"], seconds), dtype="str"),
            "value": generator.normal(size=3 * seconds).cumsum(),
        }
    )


def wide(rows: int) -> pd.DataFrame:
    generator = np.random.default_rng(1)
    return pd.DataFrame(
        {
            "time": pd.date_range("2024-01-01", periods=rows, freq="s"),
            **{f"m{index}": generator.normal(size=rows) for index in range(6)},
            "kind": pd.array(generator.choice(["a", "b", "c"], rows), dtype="str"),
            "site": pd.array(generator.choice(list("pqrstu"), rows), dtype="str"),
        }
    )


def median_ms(work: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def row(name: str, frame: pd.DataFrame) -> str:
    """One table row of figures for ``frame``."""
    roles = detect_roles(frame)
    view, _ = ViewState().resolve(roles)
    roles_ms = median_ms(lambda: detect_roles(frame))
    check_ms = median_ms(lambda: long_series(frame, roles.roles, roles.category_values, roles.sorted_columns))
    chart_ms = median_ms(lambda: figure_from(chart_for(frame, roles, view, MAX_POINTS), view))
    shown = f"x={view.x} color={view.color} kind={view.kind}"
    return f"| {name} | {len(frame):,} | {roles_ms:.0f} | {check_ms:.0f} | {chart_ms:.0f} | {shown} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 3_000_000])
    args = parser.parse_args()
    print("| table | rows | roles (ms) | long-shape check (ms) | default chart (ms) | default view |")
    print("|---|---:|---:|---:|---:|---|")
    for rows in args.rows:
        for name, make in (("sensor log (long)", sensor_log), ("wide", wide)):
            print(row(name, make(rows)))


if __name__ == "__main__":
    main()
