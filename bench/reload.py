"""(c) Time to take up a new generation: our data path vs the seed app's, at growing sizes.

Ours: ``LiveData.frame(generation)`` on a cold cache (download of the pinned generation
from the emulator, parse, vectorised transform, store in the cache), then
``default_figure`` (the default view) with MAX_CHART_POINTS, encoded to JSON the
way Dash sends it.

The seed's (as described in the project notes; its code is not in this repository):
download, ``pd.read_csv``, an ``iterrows`` loop appending ``add_num``/``multiply_num``
to lists, then a ``plotly.graph_objects`` figure of two bar traces over all rows,
encoded the same way. Its loop is timed on at most SEED_LOOP_SAMPLE rows and scaled
linearly to the full size (such cells are marked ``~``).
"""

from __future__ import annotations

import io
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.io

from bench.data import BLOB_NAME, create_bucket, publish, sample_csv
from components.figures import default_figure
from data_access import build_live_data
from settings import Settings
from testinfra import FakeGCS

ROW_COUNTS = (10_000, 100_000, 1_000_000)
SEED_LOOP_SAMPLE = 100_000


@dataclass
class PathTiming:
    """Seconds spent per stage of one path, and the size of the figure JSON it produced."""

    load_seconds: float
    loop_seconds: float
    figure_seconds: float
    figure_bytes: int
    extrapolated: bool = False

    @property
    def total_seconds(self) -> float:
        return self.load_seconds + self.loop_seconds + self.figure_seconds


@dataclass
class ReloadResult:
    rows: int
    csv_bytes: int
    ours: PathTiming
    seed: PathTiming

    @property
    def ratio(self) -> float:
        return self.seed.total_seconds / self.ours.total_seconds


def measure(emulator: FakeGCS, client: Any) -> list[ReloadResult]:
    """Both paths at every size in ROW_COUNTS, each on a freshly published generation."""
    bucket = create_bucket(client, "bench-reload")
    settings = Settings.from_env(
        {},
        default_app_env="development",
        data_source="gcs",
        gcs_bucket=bucket.name,
        gcs_blob=BLOB_NAME,
        gcp_project="bench",
        storage_emulator_host=emulator.url,
    )
    results = []
    for rows in ROW_COUNTS:
        content = sample_csv(rows)
        generation = publish(bucket, content)
        ours = time_ours(settings, client, generation)
        seed = time_seed(bucket, generation)
        results.append(ReloadResult(rows, len(content), ours, seed))
    return results


def time_ours(settings: Settings, client: Any, generation: str) -> PathTiming:
    """A cold ``LiveData`` (new SimpleCache) loading ``generation``, then the default figure."""
    live_data = build_live_data(settings, client)
    started = time.perf_counter()
    frame = live_data.frame(generation)
    loaded = time.perf_counter()
    encoded = _to_json(default_figure(frame, settings.max_chart_points))
    drawn = time.perf_counter()
    return PathTiming(loaded - started, 0.0, drawn - loaded, len(encoded))


def time_seed(bucket: Any, generation: str) -> PathTiming:
    """The seed's path; its row loop sampled on large files."""
    started = time.perf_counter()
    content = bucket.blob(BLOB_NAME, generation=int(generation)).download_as_bytes()
    frame = pd.read_csv(io.BytesIO(content))
    loaded = time.perf_counter()
    loop_seconds, extrapolated = _seed_loop_seconds(frame)
    # Full-length columns for the figure; values equal what the loop appends, built without it.
    add_num = list((frame["first_num"] + frame["second_num"]).to_numpy())
    multiply_num = list((frame["first_num"] * frame["second_num"]).to_numpy())
    figure_started = time.perf_counter()
    encoded = _to_json(_seed_figure(frame, add_num, multiply_num))
    drawn = time.perf_counter()
    return PathTiming(loaded - started, loop_seconds, drawn - figure_started, len(encoded), extrapolated)


def _to_json(figure: dict[str, Any] | go.Figure) -> str:
    """The figure as JSON the way Dash sends it (plotly's encoder, which Dash uses too)."""
    return plotly.io.to_json(figure, validate=False)


def _seed_loop_seconds(frame: pd.DataFrame) -> tuple[float, bool]:
    """The seed's ``iterrows`` loop over at most SEED_LOOP_SAMPLE rows, scaled to all rows."""
    limit = min(len(frame), SEED_LOOP_SAMPLE)
    add_num: list[Any] = []
    multiply_num: list[Any] = []
    started = time.perf_counter()
    for count, (_index, row) in enumerate(frame.iterrows()):
        if count >= limit:
            break
        add_num.append(row["first_num"] + row["second_num"])
        multiply_num.append(row["first_num"] * row["second_num"])
    elapsed = time.perf_counter() - started
    return elapsed * len(frame) / limit, limit < len(frame)


def _seed_figure(frame: pd.DataFrame, add_num: list, multiply_num: list) -> go.Figure:
    return go.Figure(
        data=[
            go.Bar(name="add_num", x=frame["ID"], y=add_num),
            go.Bar(name="multiply_num", x=frame["ID"], y=multiply_num),
        ]
    )
