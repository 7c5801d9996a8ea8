"""The registry of many datasets: a LiveData per dataset from the catalog, card summaries, one frame budget."""

from __future__ import annotations

import pandas as pd
from cachelib import SimpleCache

from data_access import LiveData
from data_access.catalog import DatasetCatalog, FolderLister
from data_access.datasets import DatasetRegistry
from data_access.frame_store import FramePool, LocalFrames, frame_bytes
from data_access.live_data import ResilientCache
from data_access.local_source import LocalFileSource

CSV = b"ID,first_num,second_num\n1,1,2\n2,3,4\n3,5,6\n"


def _registry(folder, budget_bytes: int = 2**30) -> tuple[DatasetRegistry, list[int]]:
    shared = ResilientCache(SimpleCache())
    catalog = DatasetCatalog(FolderLister(folder), refresh_seconds=60, shared=shared)
    reads: list[int] = []
    pool = FramePool(budget_bytes)

    class CountingSource(LocalFileSource):
        def read(self, generation: str) -> bytes:
            reads.append(1)
            return super().read(generation)

    def make_live_data(_dataset, source) -> LiveData:
        return LiveData(source, SimpleCache(), 60, frame_pool=pool, share_frames=False)

    registry = DatasetRegistry(
        catalog,
        lambda dataset: CountingSource(dataset.object_name),
        make_live_data,
        shared,
        2**20,
        lambda name: str(folder / f"{name}.csv"),
    )
    return registry, reads


def test_a_dataset_s_version_is_the_listing_s_and_unknown_names_have_none(tmp_path):
    (tmp_path / "sales.csv").write_bytes(CSV)
    registry, _reads = _registry(tmp_path)
    live = registry.live_data("sales")
    assert live is not None and registry.live_data("sales") is live  # made once
    assert live.check_version().version == registry.catalog.find("sales").version
    assert registry.live_data("nope") is None
    new = registry.live_data("new", create=True)  # named on the admin page: nothing published yet
    assert new is not None and new.source.name == "new.csv" and new.check_version().version is None
    assert registry.live_data("../up", create=True) is None


def test_a_dataset_follows_the_object_the_catalog_lists_for_its_name(tmp_path):
    (tmp_path / "dup.csv").write_bytes(CSV)
    pd.DataFrame({"ID": [7], "first_num": [8], "second_num": [9]}).to_parquet(tmp_path / "dup.parquet")
    registry, _reads = _registry(tmp_path)
    live = registry.live_data("dup")
    shown = live.check_version().version
    assert live.source.name == "dup.csv" and len(live.frame(shown.generation)) == 3

    (tmp_path / "dup.csv").unlink()  # the dataset switches from CSV to Parquet while a page is open on it
    registry.catalog.forget()
    live.invalidate_version()
    now = live.check_version().version

    assert now == registry.catalog.find("dup").version and now.generation != shown.generation
    assert live.source.name == "dup.parquet" and live.source.location.endswith("/dup.parquet")
    assert live.frame(now.generation)["ID"].tolist() == [7]


def test_a_card_summary_is_read_once_per_generation(tmp_path):
    (tmp_path / "sales.csv").write_bytes(CSV)
    registry, reads = _registry(tmp_path)
    dataset = registry.catalog.find("sales")
    summary = registry.summary(dataset)
    assert (summary.rows, summary.columns) == (3, 5)  # the derived add_num and multiply_num included
    assert summary.header[:3] == ["ID", "first_num", "second_num"] and summary.preview[0][:3] == ["1", "1", "2"]
    registry.summary(dataset)
    assert len(reads) == 1


def test_frames_of_all_datasets_share_one_budget_least_recently_used_first():
    frame = pd.DataFrame({"value": range(10_000)})
    pool = FramePool(int(frame_bytes(frame) * 2.5))
    clock = iter(range(100)).__next__
    first, second, third = (LocalFrames(2**30, clock=clock, pool=pool) for _ in range(3))
    first.put("1", frame)
    second.put("1", frame)
    assert first.get("1") is not None  # used again: now the most recent
    third.put("1", frame)  # over the shared budget: the least recently used goes
    assert second.generations() == [] and first.generations() == ["1"] and third.generations() == ["1"]
    assert pool.held_bytes() <= pool.budget_bytes


def test_a_card_summary_reads_as_people_write_cells_and_names_no_internal_error():
    from data_access.datasets import summarize

    content = b"day,price,note\n2024-01-01,0.1234567891,a\n2024-01-02,,b\n"
    summary = summarize(content, "d.csv")
    assert (summary.rows, summary.columns) == (2, 3)
    assert summary.preview == [["2024-01-01", "0.123457", "a"], ["2024-01-02", "", "b"]]
    broken = summarize(b"PAR1\x00\x00garbage", "d.parquet")
    assert broken.rows is None and broken.error == "This file cannot be read as a table; its page says why."
