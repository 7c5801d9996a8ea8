"""Shared fixtures: a real fake-gcs-server, a real redis-server, and app factories."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from settings import Settings
from testinfra import SAMPLE_CSV, FakeGCS, RedisServer, emulator_client
from testinfra.dash_registry import reset_dash_registries


def series_settings(tmp_path: Path, rows: int = 50_000) -> Settings:
    """Local-mode settings over a sorted time series of ``rows`` minutes (charts draw at most 1,000 points)."""
    import numpy as np
    import pandas as pd

    path = tmp_path / "series.csv"
    frame = pd.DataFrame(
        {"when": pd.date_range("2024-01-01", periods=rows, freq="min"), "reading": np.sin(np.arange(rows) / 500)}
    )
    frame.to_csv(path, index=False)
    return Settings.from_env(
        {}, app_env="development", data_source="local", local_data_path=path, data_schema="", max_chart_points=1_000
    )
_bucket_numbers = itertools.count()


@pytest.fixture(autouse=True)
def _fresh_dash_registries() -> None:
    """Every test's apps start from empty Dash registries, whatever earlier tests built."""
    reset_dash_registries()


@pytest.fixture(scope="session")
def fake_gcs() -> Iterator[FakeGCS]:
    with FakeGCS() as emulator:
        yield emulator


@pytest.fixture(scope="session")
def gcs_client(fake_gcs: FakeGCS) -> Any:
    return emulator_client(fake_gcs)


@pytest.fixture()
def bucket(gcs_client: Any) -> Any:
    """A fresh bucket with object versioning on (old generations stay readable)."""
    new_bucket = gcs_client.bucket(f"test-bucket-{next(_bucket_numbers)}")
    new_bucket.versioning_enabled = True
    return gcs_client.create_bucket(new_bucket)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    if not RedisServer.available():
        pytest.fail("redis-server is not installed (make test / .ci/run install it)")
    with RedisServer() as server:
        yield server


@pytest.fixture()
def gcs_settings(bucket: Any, fake_gcs: FakeGCS, tmp_path: Path) -> Settings:
    # CACHE_DIR per test: it holds the shared login counters and sessions (auth.state).
    return Settings.from_env(
        {},
        app_env="development",
        data_source="gcs",
        gcs_bucket=bucket.name,
        gcs_blob="data/data.csv",
        gcp_project="test-project",
        storage_emulator_host=fake_gcs.url,
        poll_interval_seconds=1.0,
        version_cache_seconds=0.2,
        cache_dir=tmp_path / "cache",
    )


@pytest.fixture()
def local_csv(tmp_path: Path) -> Path:
    path = tmp_path / "data.csv"
    path.write_bytes(SAMPLE_CSV)
    return path


@pytest.fixture()
def make_app(gcs_client: Any) -> Iterator[Callable[[Settings], Any]]:
    """Build an app through the real factory (GCS apps reuse the emulator's client).

    Each app's periodic version check (started by its first stream) stops with the test.
    """
    from app import create_app

    built: list[Any] = []

    def build(settings: Settings, **options: Any) -> Any:
        app = create_app(settings, storage_client=gcs_client if settings.data_source == "gcs" else None, **options)
        built.append(app)
        return app

    yield build
    for app in built:
        app.server.extensions["live_feed"].stop()
