"""Shared fixtures (a real fake-gcs-server, a real redis-server, app factories) and the test markers.

Markers (registered in pyproject.toml; ``make test-fast`` runs neither):

* ``browser`` — every test under ``tests/browser/`` (headless Chromium);
* ``integration`` — every test that starts a real server: through a fixture below (set by
  :func:`pytest_collection_modifyitems`) or itself, then marked ``@pytest.mark.integration``
  in its module. A test that starts a ``testinfra`` server without the mark fails, so the
  fast subset stays free of servers.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import testinfra
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


BROWSER_TESTS = Path(__file__).resolve().parent / "browser"
# Fixtures that start a real server (directly or through the fixtures they use).
SERVER_FIXTURES = frozenset({"fake_gcs", "redis_server"})
_bucket_numbers = itertools.count()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark browser tests by folder and integration tests by the server fixtures they use."""
    for item in items:
        if BROWSER_TESTS in item.path.parents:
            item.add_marker(pytest.mark.browser)
        if SERVER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """A test not marked ``integration`` or ``browser`` may not start a server, nor may its fixtures (any scope)."""
    if item.get_closest_marker("integration") or item.get_closest_marker("browser"):
        return (yield)
    with pytest.MonkeyPatch.context() as patch:
        for name in testinfra.__all__:
            helper = getattr(testinfra, name)
            if isinstance(helper, type) and hasattr(helper, "start"):
                patch.setattr(helper, "start", _refuse_to_start(name))
        return (yield)


def _refuse_to_start(name: str) -> Callable[..., Any]:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        pytest.fail(f"this test starts {name}: mark it @pytest.mark.integration (tests/conftest.py)", pytrace=False)

    return refuse


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
def make_app(request: pytest.FixtureRequest) -> Iterator[Callable[[Settings], Any]]:
    """Build an app through the real factory (GCS apps reuse the emulator's client, started on first use).

    Each app's periodic version check (started by its first stream) stops with the test.
    """
    from app import create_app

    built: list[Any] = []

    def build(settings: Settings, **options: Any) -> Any:
        gcs_client = request.getfixturevalue("gcs_client") if settings.data_source == "gcs" else None
        app = create_app(settings, storage_client=gcs_client, **options)
        built.append(app)
        return app

    yield build
    for app in built:
        app.server.extensions["live_feed"].stop()
        dataset_feeds = app.server.extensions.get("dataset_feeds")
        for feed in dataset_feeds.made() if dataset_feeds is not None else []:
            feed.stop()
