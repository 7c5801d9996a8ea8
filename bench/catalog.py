"""What a catalog of many datasets costs storage: list calls per minute, listing latency, reader throughput.

Run: ``python -m bench.catalog [--seconds S] [--readers R]`` (default 6 s, 100 reader threads).

fake-gcs-server holds 1 or 100 small CSV objects under a prefix; R threads stand in for open
dashboards and ask :class:`data_access.catalog.DatasetCatalog` for the datasets in a loop, bounded
by the duration: either one catalog (one process, no shared cache) or 4 catalogs sharing one
real redis-server as production's processes do (the threads spread over them).
List calls are counted at fake-gcs-server's side (its access log);
the target is at most ``60 / VERSION_CACHE_SECONDS`` per minute for the deployment, the same for 100
datasets as for one. Throughput (catalog reads/s) and the latency of one listing come from the same run.
This measures the data layer only: the ``/d/<name>`` pages and the ``/`` catalog page are not built yet.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time

from bench.bench import table
from bench.data import create_bucket, sample_csv
from data_access.catalog import DatasetCatalog, GCSPrefixLister
from data_access.live_data import ResilientCache
from settings import Settings
from testinfra import FakeGCS, RedisServer, emulator_client

PREFIX = "dashboards/"
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
        catalogs.append(
            DatasetCatalog(lister, Settings.version_cache_seconds, shared=shared, key=f"catalog:{id(lister)}")
        )
    return catalogs


def measure(fake_gcs: FakeGCS, redis_url: str | None, datasets: int, seconds: float, readers: int) -> list[str]:
    """One row: datasets, processes, reads/s, list calls/min, the bound, listing latency."""
    client = emulator_client(fake_gcs)
    bucket = create_bucket(client, f"catalog-bench-{datasets}-{'shared' if redis_url else 'alone'}")
    _fill(bucket, datasets)
    refresh = Settings.version_cache_seconds
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--readers", type=int, default=100)
    args = parser.parse_args(argv)
    with FakeGCS() as fake_gcs, RedisServer() as redis_server:
        rows = [
            measure(fake_gcs, redis_url, count, args.seconds, args.readers)
            for redis_url in (None, redis_server.url)
            for count in DATASET_COUNTS
        ]
    print(
        f"## Catalog listing ({args.readers} reader threads, {args.seconds:g} s, "
        f"VERSION_CACHE_SECONDS {Settings.version_cache_seconds:g}, 1 or 4 processes)\n"
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
    within = all(row[-1] == "yes" for row in rows)
    print("\nwithin bound: at most one list call per VERSION_CACHE_SECONDS in the window (+1 at its edge)")
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
