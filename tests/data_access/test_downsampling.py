"""Downsampling: extremes kept, visible ranges by binary search, deterministic density samples."""

from __future__ import annotations

import numpy as np

from data_access.downsampling import density_sample, minmax_lttb, visible_bounds


def test_minmax_lttb_keeps_a_single_spike_and_the_budget():
    x = np.arange(2_000_000)
    y = np.zeros(2_000_000)
    y[1_234_567] = -5.0
    index = minmax_lttb(x, y, 2_000)
    assert len(index) <= 2_000 and 1_234_567 in index
    assert np.all(np.diff(index) > 0)


def test_minmax_lttb_handles_gaps_and_datetimes():
    x = np.arange(100_000).astype("datetime64[s]")
    y = np.linspace(0, 1, 100_000)
    y[::7] = np.nan
    y[50_001] = 9.0
    index = minmax_lttb(x, y, 1_000)
    assert 50_001 in index and len(index) <= 1_000


def test_short_series_are_drawn_whole():
    assert minmax_lttb(np.arange(10), np.arange(10.0), 1_000).tolist() == list(range(10))


def test_visible_bounds_widen_by_one_row_each_side():
    x = np.arange(0, 100, 10)  # 0, 10, ..., 90
    assert visible_bounds(x, 25, 55) == (2, 7)  # 20..60: the rows around 30..50
    assert visible_bounds(x, None, None) == (0, 10)


def test_density_sample_keeps_extremes_and_is_the_same_on_every_call():
    generator = np.random.default_rng(0)
    y = generator.normal(size=100_000)
    y[77_777] = 50.0
    first = density_sample(100_000, 1_000, [y])
    assert len(first) == 1_000 and 77_777 in first and int(np.argmin(y)) in first
    assert np.array_equal(first, density_sample(100_000, 1_000, [y]))
