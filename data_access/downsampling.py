"""Choosing which rows a chart draws when a table has more rows than a browser should get.

Sorted x: MinMaxLTTB (``tsdownsample``) over the visible slice (found by binary search), so a
one-row spike is kept and zooming in brings every row back. Unsorted x: a seeded uniform sample
plus each series' extremes, the same picture on every worker.
"""

from __future__ import annotations

import numpy as np
from tsdownsample import MinMaxLTTBDownsampler

# MinMaxLTTB needs a few points to choose from; below this a slice is drawn as it is.
MIN_POINTS = 4
SAMPLE_SEED = 20_240_601


def as_numbers(values: np.ndarray) -> np.ndarray:
    """Numeric or datetime values as a plain number array (datetimes as int64 ticks)."""
    if values.dtype.kind == "M":
        return values.view("int64")
    if values.dtype.kind == "b":
        return values.astype(np.int8)
    return values


def visible_bounds(x_sorted: np.ndarray, low: float | None, high: float | None) -> tuple[int, int]:
    """Row range [start, stop) of sorted x inside [low, high], widened by one row each side (lines reach the edges)."""
    numbers = as_numbers(x_sorted)
    start = 0 if low is None else int(np.searchsorted(numbers, low, side="left"))
    stop = len(numbers) if high is None else int(np.searchsorted(numbers, high, side="right"))
    return max(0, start - 1), min(len(numbers), stop + 1)


def minmax_lttb(x_sorted: np.ndarray, y: np.ndarray, n_out: int) -> np.ndarray:
    """Indices (ascending) of at most ``n_out`` rows of a sorted series that keep its shape and extremes."""
    rows = len(y)
    if rows <= max(n_out, MIN_POINTS):
        return np.arange(rows)
    x_numbers = as_numbers(x_sorted)
    y_numbers = as_numbers(y)
    if y_numbers.dtype.kind == "f" and np.isnan(y_numbers).any():
        # Blanks are skipped, not drawn: a NaN-aware downsampler would pick a blank in every bucket.
        valid = np.flatnonzero(~np.isnan(y_numbers))
        return valid[minmax_lttb(x_numbers[valid], y_numbers[valid], n_out)]
    index = MinMaxLTTBDownsampler().downsample(
        np.ascontiguousarray(x_numbers), np.ascontiguousarray(y_numbers), n_out=n_out
    )
    return index.astype(np.int64)


def density_sample(rows: int, n_out: int, series: list[np.ndarray]) -> np.ndarray:
    """Indices (ascending) of a uniform sample of ``n_out`` rows, plus each series' min and max row."""
    if rows <= n_out:
        return np.arange(rows)
    extremes = set()
    for values in series:
        numbers = as_numbers(values)
        if numbers.dtype.kind == "f" and np.isnan(numbers).all():
            continue
        if numbers.dtype.kind == "f":
            extremes.update((int(np.nanargmin(numbers)), int(np.nanargmax(numbers))))
        else:
            extremes.update((int(np.argmin(numbers)), int(np.argmax(numbers))))
    generator = np.random.default_rng(SAMPLE_SEED)
    chosen = generator.choice(rows, size=max(0, n_out - len(extremes)), replace=False)
    return np.union1d(chosen, np.fromiter(extremes, dtype=np.int64, count=len(extremes)))
