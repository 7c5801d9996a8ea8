"""Tables of each shape for chart tests: real public ones shipped offline, and generated logs.

``vega(name)`` reads a set bundled with ``vega_datasets`` (``local_data``: no network); the
generated ones are the long shapes real operations produce (readings per sensor, a training
log per run, prices of many symbols).
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from vega_datasets import local_data

from data_access.roles import parse_time_columns


def stored(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as the app reads it back from a CSV file (dates parsed from text again)."""
    return parse_time_columns(pd.read_csv(io.StringIO(frame.to_csv(index=False))))


def vega(name: str) -> pd.DataFrame:
    """A ``vega_datasets`` table bundled with the package, as the app would read its CSV."""
    return stored(getattr(local_data, name)())


def sensor_log(seconds: int = 3_000, repeats: int = 1, seed: int = 1) -> pd.DataFrame:
    """Three sensors read every second, rows in time order (sensors interleaved), ``repeats`` readings each."""
    generator = np.random.default_rng(seed)
    times = pd.date_range("2024-01-01", periods=seconds, freq="s")
    parts = []
    for sensor, level in (("s1", 20.0), ("s2", 50.0), ("s3", 80.0)):
        walk = level + generator.normal(0, 1, seconds).cumsum()
        for _ in range(repeats):
            parts.append(pd.DataFrame({"timestamp": times, "sensor": sensor, "value": walk}))
    return pd.concat(parts).sort_values(["timestamp", "sensor"], kind="stable").reset_index(drop=True)


def training_log(steps: int = 200) -> pd.DataFrame:
    """A loss curve per run over a numeric step: the long shape without a time column."""
    generator = np.random.default_rng(2)
    parts = [
        pd.DataFrame(
            {
                "step": np.arange(steps) * 10,
                "run": run,
                "loss": scale / (1 + np.arange(steps)) + generator.uniform(0, 0.01, steps),
            }
        )
        for run, scale in (("small", 3.0), ("base", 2.0), ("large", 1.0))
    ]
    return pd.concat(parts, ignore_index=True)


def many_symbols(symbols: int = 41, days: int = 60) -> pd.DataFrame:
    """Daily prices of ``symbols`` symbols, one row per (day, symbol); symbol k has k + 1 extra days."""
    generator = np.random.default_rng(3)
    parts = []
    for index in range(symbols):
        dates = pd.date_range("2024-01-01", periods=days + index + 1, freq="D")
        price = 100 + generator.normal(0, 1, len(dates)).cumsum()
        parts.append(pd.DataFrame({"date": dates, "symbol": f"S{index:02d}", "price": price}))
    return pd.concat(parts, ignore_index=True)
