"""What a catalog of many datasets costs storage: list calls per minute, listing latency, reader throughput.

Run: ``python -m bench.catalog [--seconds S] [--readers R] [--app-seconds A] [--dashboards D]``
(default 6 s, 100 reader threads; then the app for 30 s with 1,000 dashboards).

fake-gcs-server holds 1 or 100 small CSV objects under a prefix; R threads stand in for open
dashboards and ask :class:`data_access.catalog.DatasetCatalog` for the datasets in a loop, bounded
by the duration: either one catalog (one process, no shared cache) or 4 catalogs sharing one
real redis-server as production's processes do (the threads spread over them).
List calls are counted at fake-gcs-server's side (its access log);
the target is at most ``60 / VERSION_CACHE_SECONDS`` per minute for the deployment, the same for 100
datasets as for one. Throughput (catalog reads/s) and the latency of one listing come from the same run.

Then the whole app (``GCS_PREFIX``, served by uvicorn as ``asgi_worker.py`` serves it, one process)
over 100 datasets: D dashboards spread evenly over them check ``/d/<name>/live/version`` every
``POLL_INTERVAL_SECONDS`` (with ``If-None-Match``, as the page's checks do) and 10 catalog pages check
``/live/catalog``, for A seconds; storage list, metadata and download calls are counted at
fake-gcs-server. Last, the catalog page's first paint in headless Chromium: navigation until all 100
cards are in the page, cold (the first visit reads each dataset once for its card) and warm.
"""

from __future__ import annotations

import argparse
import http.client
import secrets
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from typing import Any

from app import create_app
from bench.bench import table
from bench.chart import chromium
from bench.data import create_bucket, sample_csv
from data_access.catalog import DatasetCatalog, GCSPrefixLister
from data_access.live_data import ResilientCache
from settings import Settings
from testinfra import FakeGCS, RedisServer, Uvicorn, emulator_client

PREFIX = "dashboards/"
#: The settings' defaults, as a deployment that sets neither runs.
VERSION_CACHE_SECONDS = Settings.model_fields["version_cache_seconds"].default
POLL_INTERVAL_SECONDS = Settings.model_fields["poll_interval_seconds"].default
DATASET_COUNTS = (1, 100)


def _fill(bucket: object, count: int) -> None:
    content = sample_csv(20)
    for number in range(count):
        bucket.blob(f"{PREFIX}dataset-{number:03d}.csv").upload_from_string(content, content_type="text/csv")  # type: ignore[attr-defined]


def _listing_ms(lister: GCSPrefixLister, repeats: int = 10) -> float:
    """Median wall time of one listing of the prefix."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        lister.list_datasets()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _read_for(catalogs: list[DatasetCatalog], seconds: float, readers: int) -> int:
    """Catalog reads done by ``readers`` threads in ``seconds``."""
    deadline = time.monotonic() + seconds
    counts = [0] * readers

    def read(slot: int) -> None:
        while time.monotonic() < deadline:
            catalogs[slot % len(catalogs)].datasets()
            counts[slot] += 1
            time.sleep(0.01)  # a dashboard asks now and then, not in a busy loop

    threads = [threading.Thread(target=read, args=(slot,)) for slot in range(readers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts)


def _shared_catalogs(lister: GCSPrefixLister, redis_url: str, processes: int) -> list[DatasetCatalog]:
    """``processes`` catalogs over one Redis, each with its own clients, as separate workers have."""
    import redis
    from cachelib import RedisCache

    catalogs = []
    for _ in range(processes):
        client = redis.Redis.from_url(redis_url)
        shared = ResilientCache(RedisCache(client, key_prefix="bench:"), client, key_prefix="bench:")
        catalogs.append(DatasetCatalog(lister, VERSION_CACHE_SECONDS, shared=shared, key=f"catalog:{id(lister)}"))
    return catalogs


def measure(fake_gcs: FakeGCS, redis_url: str | None, datasets: int, seconds: float, readers: int) -> list[str]:
    """One row: datasets, processes, reads/s, list calls/min, the bound, listing latency."""
    client = emulator_client(fake_gcs)
    bucket = create_bucket(client, f"catalog-bench-{datasets}-{'shared' if redis_url else 'alone'}")
    _fill(bucket, datasets)
    refresh = VERSION_CACHE_SECONDS
    lister = GCSPrefixLister(bucket.name, PREFIX, client)
    latency = _listing_ms(lister)
    catalogs = _shared_catalogs(lister, redis_url, 4) if redis_url else [DatasetCatalog(lister, refresh)]
    for catalog in catalogs:
        catalog.datasets()  # cold start: a process that finds nothing stored yet lists once itself
    lists = f"GET /storage/v1/b/{bucket.name}/o?"
    before = fake_gcs.count_requests(lists)
    reads = _read_for(catalogs, seconds, readers)
    calls = fake_gcs.count_requests(lists) - before
    per_minute = calls * 60 / seconds
    bound = 60 / refresh
    # A window of S seconds holds S / period periods, plus one listing where the window cuts a period.
    within = calls <= seconds / refresh + 1
    processes = f"{len(catalogs)}, Redis" if redis_url else "1"
    return [
        str(datasets),
        processes,
        f"{reads / seconds:,.0f}",
        f"{per_minute:.0f}",
        f"{bound:.0f}",
        f"{per_minute / bound:.2f}",
        f"{latency:.1f}",
        "yes" if within else "NO",
    ]


CATALOG_PAGES = 10
APP_DATASETS = 100
FIRST_PAINT_VISITS = 5
CARDS_SHOWN_JS = "return document.querySelectorAll('.catalog-card').length;"


def _app_settings(fake_gcs: FakeGCS, bucket: str) -> Settings:
    return Settings.from_env(
        {},
        app_env="development",
        data_source="gcs",
        gcs_bucket=bucket,
        gcs_prefix=PREFIX,
        gcp_project="bench",
        storage_emulator_host=fake_gcs.url,
        data_schema="",
        secret_key=secrets.token_hex(32),
        cache_dir=tempfile.mkdtemp(prefix="bench-catalog-cache-"),
    )


def _check(port: int, paths: list[str], seconds: float, period: float, statuses: Counter) -> None:
    """One connection: each of ``paths`` checked once per ``period`` (with its ETag) until ``seconds`` pass."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    etags: dict[str, str] = {}
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        round_started = time.monotonic()
        for path in paths:
            connection.request("GET", path, headers={"If-None-Match": etags[path]} if path in etags else {})
            response = connection.getresponse()
            response.read()
            etags[path] = response.getheader("ETag") or etags.get(path, "")
            statuses[response.status] += 1
        time.sleep(max(0.0, period - (time.monotonic() - round_started)))
    connection.close()


def measure_dashboards(fake_gcs: FakeGCS, dashboards: int, seconds: float) -> tuple[list[str], str, Uvicorn]:
    """(a row of storage calls while ``dashboards`` are open over 100 datasets, the app's URL, its server)."""
    client = emulator_client(fake_gcs)
    bucket = create_bucket(client, "catalog-bench-app")
    _fill(bucket, APP_DATASETS)
    settings = _app_settings(fake_gcs, bucket.name)
    served = Uvicorn(create_app(settings, storage_client=client), threads=8).start()
    names = [f"dataset-{number:03d}" for number in range(APP_DATASETS)]
    pages = [f"/d/{names[number % APP_DATASETS]}/live/version" for number in range(dashboards)]
    connections = max(1, min(50, dashboards // 20))
    work = [pages[slot::connections] for slot in range(connections)] + [["/live/catalog"]] * CATALOG_PAGES
    _check(served.port, [*sorted(set(pages)), "/live/catalog"], 0.1, 0.0, Counter())  # every feed started
    counts = {
        "list": f"GET /storage/v1/b/{bucket.name}/o?",
        "metadata": f"GET /storage/v1/b/{bucket.name}/o/",
        "download": f"GET /download/storage/v1/b/{bucket.name}/o/",
    }
    before = {name: fake_gcs.count_requests(fragment) for name, fragment in counts.items()}
    statuses: Counter = Counter()
    period = settings.poll_interval_seconds
    threads = [threading.Thread(target=_check, args=(served.port, paths, seconds, period, statuses)) for paths in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    calls = {name: fake_gcs.count_requests(fragment) - before[name] for name, fragment in counts.items()}
    per_minute = (calls["list"] + calls["metadata"]) * 60 / seconds
    bound = 60 / settings.version_cache_seconds
    within = calls["list"] + calls["metadata"] <= seconds / settings.version_cache_seconds + 1
    answered = sum(statuses.values())
    row = [
        f"{dashboards:,} over {APP_DATASETS}",
        str(CATALOG_PAGES),
        f"{answered / seconds:,.0f}",
        f"{statuses[304] / max(1, answered):.0%}",
        f"{sum(count for status, count in statuses.items() if status >= 500)}",
        f"{per_minute:.0f}",
        f"{bound:.0f}",
        str(calls["download"]),
        "yes" if within else "NO",
    ]
    return row, served.url, served


def first_paint_seconds(driver: Any, url: str, cards: int) -> float:
    """Seconds from navigation until ``cards`` catalog cards are in the page (polled every 10 ms)."""
    driver.get("about:blank")
    started = time.perf_counter()
    driver.get(url)
    while time.perf_counter() - started < 60:
        if driver.execute_script(CARDS_SHOWN_JS) >= cards:
            return time.perf_counter() - started
        time.sleep(0.01)
    raise RuntimeError(f"the catalog at {url} did not show {cards} cards within 60 s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--app-seconds", type=float, default=30.0)
    parser.add_argument("--dashboards", type=int, default=1000)
    args = parser.parse_args(argv)
    with FakeGCS() as fake_gcs, RedisServer() as redis_server:
        rows = [
            measure(fake_gcs, redis_url, count, args.seconds, args.readers)
            for redis_url in (None, redis_server.url)
            for count in DATASET_COUNTS
        ]
        app_row, url, served = measure_dashboards(fake_gcs, args.dashboards, args.app_seconds)
        with chromium() as driver:
            cold = first_paint_seconds(driver, url + "/", APP_DATASETS)
            warm = [first_paint_seconds(driver, url + "/", APP_DATASETS) for _ in range(FIRST_PAINT_VISITS)]
        served.stop()
    print(
        f"## Catalog listing ({args.readers} reader threads, {args.seconds:g} s, "
        f"VERSION_CACHE_SECONDS {VERSION_CACHE_SECONDS:g}, 1 or 4 processes)\n"
    )
    headers = [
        "datasets",
        "processes",
        "catalog reads/s",
        "list calls/min",
        "bound/min",
        "ratio to bound",
        "one listing ms",
        "within bound",
    ]
    print(table(headers, rows))
    print("\nwithin bound: at most one list call per VERSION_CACHE_SECONDS in the window (+1 at its edge)")
    print(
        f"\n## The app: dashboards over {APP_DATASETS} datasets ({args.app_seconds:g} s, "
        f"checks every POLL_INTERVAL_SECONDS {POLL_INTERVAL_SECONDS:g}, one uvicorn process)\n"
    )
    app_headers = [
        "dashboards",
        "catalog pages",
        "checks/s",
        "304",
        "5xx",
        "list+metadata calls/min",
        "bound/min",
        "downloads",
        "within bound",
    ]
    print(table(app_headers, [app_row]))
    print(f"\n## Catalog page first paint, {APP_DATASETS} cards (headless Chromium, navigation to all cards shown)\n")
    print(
        table(
            ["visit", "seconds"],
            [
                ["cold (first visit: each card's data read once)", f"{cold:.2f}"],
                [f"warm, median of {FIRST_PAINT_VISITS}", f"{statistics.median(warm):.2f}"],
                [f"warm, slowest of {FIRST_PAINT_VISITS}", f"{max(warm):.2f}"],
            ],
        )
    )
    within = all(row[-1] == "yes" for row in [*rows, app_row]) and statistics.median(warm) <= 1.0
    print(f"\ntargets (calls within bound, warm first paint <= 1 s): {'met' if within else 'NOT met'}")
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
