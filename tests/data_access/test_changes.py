"""The diff engine (data_access/changes.py) on versions with known added, removed and changed rows."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
from cachelib import SimpleCache

from data_access.changes import (
    DECLARED,
    FOUND,
    WHOLE_ROWS,
    ComparisonFailed,
    ComparisonStore,
    change_rows,
    compare,
)
from data_access.live_data import DataUnavailable, ResilientCache
from data_access.roles import detect_roles


def frame(rows: list[tuple], columns: str = "id,name,price") -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns.split(","))


OLD = frame([(1, "a", 1.0), (2, "b", 2.0), (3, "c", 3.0), (4, "d", np.nan)])
# 1 kept, 2 removed, 3 price changed, 4 NaN kept, 5 added; rows in another order.
NEW = frame([(5, "e", 5.0), (4, "d", np.nan), (3, "c", 3.5), (1, "a", 1.0)])


def test_changes001_declared_key_finds_added_removed_and_changed_cells():
    changes = compare(OLD, NEW, declared_key=("id",))
    assert changes.key_kind == DECLARED and changes.key_columns == ("id",)
    assert NEW["id"].iloc[changes.added].tolist() == [5]
    assert OLD["id"].iloc[changes.removed].tolist() == [2]
    assert NEW["id"].iloc[changes.changed_new].tolist() == [3]
    assert OLD["id"].iloc[changes.changed_old].tolist() == [3]
    assert {column: mask.tolist() for column, mask in changes.changed_cells.items()} == {"price": [True]}
    assert changes.summary() == "+1 row · −1 row · 1 changed value"
    assert "Rows matched on id (CHANGES_KEY)." in changes.matching()


def test_changes002_nan_equals_nan_and_ints_equal_floats():
    old = frame([(1, None, np.nan, 3), (2, "b", 2, 4)], "id,name,price,count")
    new = frame([(1, None, -np.nan, 3.0), (2, "b", 2.0, 4.0)], "id,name,price,count")
    assert old["count"].dtype.kind == "i" and new["count"].dtype.kind == "f"
    assert compare(old, new, ("id",)).summary() == "No differences"
    # whole rows too: 3 and 3.0 hash alike
    assert compare(old, new).summary() == "No differences"


def test_changes003_identifier_found_by_roles():
    changes = compare(OLD, NEW, roles=detect_roles(NEW))
    assert (changes.key_kind, changes.key_columns) == (FOUND, ("id",))
    assert changes.changed_values == 1
    assert "unique in both versions" in changes.matching()


def test_changes004_unique_time_column_is_the_key():
    old = pd.DataFrame({"date": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]), "value": [1.0, 2, 3]})
    new = pd.DataFrame({"date": pd.to_datetime(["2024-01-02", "2024-01-03", "2024-01-04"]), "value": [2.0, 9, 4]})
    changes = compare(old, new, roles=detect_roles(new))
    assert changes.key_columns == ("date",)
    assert changes.summary() == "+1 row · −1 row · 1 changed value"


def test_changes005_whole_rows_without_a_key_count_repeats():
    old = pd.DataFrame({"x": ["a", "a", "b", "c"], "y": [1, 1, 2, 3]})
    new = pd.DataFrame({"x": ["a", "b", "c", "c", "d"], "y": [1, 2, 30, 3, 4]})
    changes = compare(old, new, roles=detect_roles(new))
    assert changes.key_kind == WHOLE_ROWS
    # one of the two ("a", 1) went; ("c", 30) and ("d", 4) came.
    assert sorted(new.iloc[changes.added].itertuples(index=False, name=None)) == [("c", 30), ("d", 4)]
    assert old.iloc[changes.removed].values.tolist() == [["a", 1]]
    assert changes.summary() == "+2 rows · −1 row"
    assert "whole rows" in changes.matching()


def test_changes006_declared_key_with_duplicates_falls_back_and_says_so():
    old = frame([(1, "a", 1.0), (1, "b", 2.0)])
    new = frame([(1, "a", 1.0), (1, "b", 3.0)])
    changes = compare(old, new, declared_key=("id",), roles=None)
    assert changes.key_kind == WHOLE_ROWS
    assert "CHANGES_KEY (id) repeats" in changes.matching()
    assert (len(changes.added), len(changes.removed)) == (1, 1)


def test_changes007_columns_added_removed_and_retyped():
    old = frame([(1, "a", 1.0), (2, "b", 2.0)], "id,gone,price")
    new = pd.DataFrame({"id": [1, 2], "price": ["1.0", "two"], "fresh": [True, False]})
    changes = compare(old, new, declared_key=("id",))
    assert changes.columns.added == ("fresh",)
    assert changes.columns.removed == ("gone",)
    assert changes.columns.retyped == ("price",)
    assert (
        changes.summary() == "1 changed value · column added: fresh · column removed: gone · column changed type: price"
    )
    # compared as text: "1.0" is the same, "two" is not
    assert changes.changed_values == 1


def test_changes008_empty_frames():
    empty = OLD.iloc[:0]
    everything_new = compare(empty, NEW, ("id",))
    assert (len(everything_new.added), len(everything_new.removed)) == (4, 0)
    nothing_left = compare(OLD, empty, ("id",))
    assert (len(nothing_left.added), len(nothing_left.removed)) == (0, 4)
    assert compare(empty, empty).row_count == 0


def test_changes009_change_rows_show_old_to_new_and_blocks():
    changes = compare(OLD, NEW, ("id",))
    rows = change_rows(OLD, NEW, changes, 0, changes.row_count)
    assert rows["change"].tolist() == ["added", "removed", "changed"]
    assert rows.loc[2, "price"] == "3.0 → 3.5"
    assert rows.loc[2, "name"] == "c"
    assert rows.loc[1, "id"] == "2"
    assert change_rows(OLD, NEW, changes, 1, 2)["change"].tolist() == ["removed"]
    assert change_rows(OLD, NEW, changes, 5, 9).empty


def test_changes010_store_computes_a_pair_once_and_shares_it():
    cache = ResilientCache(SimpleCache())
    frames = {"1": OLD, "2": NEW}
    loads: list[str] = []

    def load(generation: str):
        loads.append(generation)
        if generation not in frames:
            raise DataUnavailable("gone", permanent=True)
        return frames[generation], detect_roles(frames[generation])

    first = ComparisonStore(cache, "test", load, ("id",))
    assert first.request("1", "2", wait_seconds=10).changed_values == 1
    other_worker = ComparisonStore(cache, "test", load, ("id",))
    assert other_worker.request("1", "2", wait_seconds=10).changed_values == 1
    assert loads == ["1", "2"]  # the second one read the shared cache
    assert isinstance(first.request("0", "2", wait_seconds=10), ComparisonFailed)


def test_changes011_a_pair_being_computed_elsewhere_answers_none():
    cache = ResilientCache(SimpleCache())
    store = ComparisonStore(cache, "test", lambda generation: pytest.fail("must not load"))
    assert cache.take_lock(store._key(("1", "2")) + ":lock", 60)
    assert store.request("1", "2", wait_seconds=0.1) is None


def test_changes012_times_compare_with_missing_times_equal():
    old = pd.DataFrame({"id": [1, 2, 3], "when": pd.to_datetime(["2024-01-01", None, "2024-01-03"])})
    new = pd.DataFrame({"id": [1, 2, 3], "when": pd.to_datetime(["2024-01-01", None, "2024-01-04"])})
    changes = compare(old, new, ("id",))
    assert new["id"].iloc[changes.changed_new].tolist() == [3]
    assert change_rows(old, new, changes, 0, 1).loc[0, "when"] == "2024-01-03 → 2024-01-04"


def test_changes013_declared_key_repeated_in_the_old_version_only():
    old = frame([(1, "a", 1.0), (1, "b", 2.0), (2, "c", 3.0)])
    new = frame([(1, "a", 1.0), (2, "c", 3.5)])
    changes = compare(old, new, declared_key=("id",))
    assert changes.key_kind == WHOLE_ROWS and "CHANGES_KEY (id) repeats" in changes.matching()
    assert sorted(old.iloc[changes.removed]["name"]) == ["b", "c"] and new.iloc[changes.added]["name"].tolist() == ["c"]


def test_changes014_warm_reads_a_version_once_in_the_background():
    release = threading.Event()
    loads: list[str] = []

    def load(generation: str):
        loads.append(generation)
        release.wait(10)
        if generation == "gone":
            raise DataUnavailable("gone", permanent=True)
        return OLD, detect_roles(OLD)

    store = ComparisonStore(ResilientCache(SimpleCache()), "test", load)
    assert store.warm("1") is False and store.warm("1") is False  # being read: the page asks again
    assert store.warm("gone") is False
    release.set()
    for generation in ("1", "gone"):
        store._reads[generation].result(timeout=10)
        assert store.warm(generation) is True  # a failed read is not retried here: the frame request says why
    assert loads == ["1", "gone"]
