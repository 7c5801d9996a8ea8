"""The catalog of datasets: one listing of the prefix (or folder) gives every dataset's version."""

from __future__ import annotations

import pytest
from cachelib import FileSystemCache

from data_access import LocalFileSource, StorageError
from data_access.catalog import DatasetCatalog, FolderLister, GCSPrefixLister, _say_once, dataset_name
from data_access.live_data import ResilientCache


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("object_name", "expected"),
    [
        ("sales.csv", "sales"),
        ("Sales-2026.parquet", "Sales-2026"),
        ("notes.txt", None),
        ("sales.csv.staging", None),
        ("../x.csv", "x"),
        (".hidden.csv", None),
        ("with space.csv", None),
    ],
)
def test_dataset_names_come_from_data_file_names_that_fit_a_url_segment(object_name, expected):
    assert dataset_name(object_name) == expected


def test_gcs_prefix_lists_each_data_object_directly_under_it_with_its_generation(bucket, gcs_client):
    for name in (
        "dashboards/sales.csv",
        "dashboards/stock.parquet",
        "dashboards/readme.txt",
        "dashboards/sales.csv.staging/u1",
        "dashboards/archive/old.csv",
        "elsewhere/other.csv",
    ):
        bucket.blob(name).upload_from_string(b"a\n1\n")
    sales = bucket.blob("dashboards/sales.csv")
    sales.metadata = {"description": "Daily sales"}
    sales.upload_from_string(b"a\n2\n")

    datasets = GCSPrefixLister(bucket.name, "dashboards/", gcs_client).list_datasets()

    assert sorted(datasets) == ["sales", "stock"]
    assert datasets["sales"].object_name == "dashboards/sales.csv"
    assert datasets["sales"].version.generation == str(bucket.get_blob("dashboards/sales.csv").generation)
    assert datasets["sales"].description == "Daily sales"


def test_gcs_catalog_costs_one_list_call_per_period_and_no_metadata_or_download(bucket, gcs_client, fake_gcs):
    for number in range(5):
        bucket.blob(f"dashboards/d{number}.csv").upload_from_string(b"a\n1\n")
    clock = _Clock()
    catalog = DatasetCatalog(GCSPrefixLister(bucket.name, "dashboards/", gcs_client), 5.0, clock)
    lists = f"GET /storage/v1/b/{bucket.name}/o?"
    before = (fake_gcs.count_requests(lists), fake_gcs.metadata_gets(bucket.name), fake_gcs.downloads(bucket.name))

    for _ in range(20):
        assert len(catalog.datasets()) == 5
    clock.now = 5.0
    bucket.blob("dashboards/d5.csv").upload_from_string(b"a\n1\n")
    assert len(catalog.datasets()) == 6

    after = (fake_gcs.count_requests(lists), fake_gcs.metadata_gets(bucket.name), fake_gcs.downloads(bucket.name))
    assert after == (before[0] + 2, before[1], before[2])


def test_a_removed_object_leaves_the_catalog_after_the_period(bucket, gcs_client):
    bucket.blob("p/a.csv").upload_from_string(b"a\n1\n")
    bucket.blob("p/b.csv").upload_from_string(b"a\n1\n")
    clock = _Clock()
    catalog = DatasetCatalog(GCSPrefixLister(bucket.name, "p/", gcs_client), 1.0, clock)
    assert sorted(catalog.datasets()) == ["a", "b"]

    bucket.blob("p/b.csv").delete()
    assert catalog.find("b") is not None  # still within the period
    clock.now = 1.0

    assert catalog.find("b") is None
    assert sorted(catalog.datasets()) == ["a"]


def test_a_missing_bucket_is_a_storage_error(gcs_client):
    catalog = DatasetCatalog(GCSPrefixLister("no-such-bucket-here", "p/", gcs_client), 1.0)
    with pytest.raises(StorageError):
        catalog.datasets()


def test_folder_lists_each_data_file_with_its_version(tmp_path):
    (tmp_path / "sales.csv").write_text("a\n1\n")
    (tmp_path / "stock.parquet").write_bytes(b"PAR1")
    (tmp_path / "notes.md").write_text("hello")
    (tmp_path / "sales.csv.history").mkdir()

    datasets = FolderLister(tmp_path).list_datasets()

    assert sorted(datasets) == ["sales", "stock"]
    assert datasets["sales"].version == LocalFileSource(tmp_path / "sales.csv").current_version()


def test_processes_sharing_a_cache_list_once_per_period_for_the_whole_deployment(
    bucket, gcs_client, fake_gcs, tmp_path
):
    bucket.blob("p/a.csv").upload_from_string(b"a\n1\n")
    clock = _Clock()
    clock.now = 1_000.0

    def process_catalog() -> DatasetCatalog:
        shared = ResilientCache(FileSystemCache(str(tmp_path / "shared-cache")))
        return DatasetCatalog(GCSPrefixLister(bucket.name, "p/", gcs_client), 60.0, clock, shared=shared)

    catalogs = [process_catalog() for _ in range(4)]
    lists = f"GET /storage/v1/b/{bucket.name}/o?"
    before = fake_gcs.count_requests(lists)

    assert all(list(catalog.datasets()) == ["a"] for catalog in catalogs)

    assert fake_gcs.count_requests(lists) == before + 1


class _FlakyLister:
    """A folder lister whose storage can be taken down."""

    def __init__(self, folder) -> None:
        self.lister = FolderLister(folder)
        self.down = False

    def list_datasets(self):
        if self.down:
            raise StorageError("storage could not be listed (down)")
        return self.lister.list_datasets()


def test_a_failed_listing_keeps_the_last_one_and_every_process_sharing_the_cache_reports_it(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.csv").write_bytes(b"a\n1\n")
    clock = _Clock()
    listers = [_FlakyLister(folder), _FlakyLister(folder)]
    shared_dir = str(tmp_path / "shared-cache")
    catalogs = [
        DatasetCatalog(lister, 1.0, clock, shared=ResilientCache(FileSystemCache(shared_dir))) for lister in listers
    ]
    assert [list(catalog.last_known()[0]) for catalog in catalogs] == [["a"], ["a"]]

    clock.now = 2.0
    for lister in listers:
        lister.down = True
    first, second = (catalog.last_known() for catalog in catalogs)  # the first lists (and fails), the second reads
    assert list(first[0]) == ["a"] and isinstance(first[1], StorageError)
    assert list(second[0]) == ["a"] and isinstance(second[1], StorageError)  # not the stored listing as if live

    clock.now = 3.0
    for lister in listers:
        lister.down = False
    assert all(catalog.last_known()[1] is None for catalog in catalogs)


def test_names_that_cannot_be_datasets_are_logged_once_not_every_listing(tmp_path, caplog):
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("dup.csv", "dup.parquet", "has space.csv", "ok.csv"):
        (folder / name).write_bytes(b"a\n1\n")
    catalog = DatasetCatalog(FolderLister(folder), refresh_seconds=0)
    _say_once.cache_clear()  # another test may have listed files of these names in this process
    with caplog.at_level("WARNING", logger="data_access.catalog"):
        for _ in range(5):
            assert sorted(catalog.datasets()) == ["dup", "ok"]
    messages = [record.getMessage() for record in caplog.records]
    assert sum("both name dataset 'dup'" in message for message in messages) == 1
    assert sum("has space.csv is not shown" in message for message in messages) == 1
