"""Server-side paging, sorting and filtering for the data table (pure logic on real frames)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from data_access import table_query
from data_access.table_query import (
    PARTITION_LIMIT,
    PageRequest,
    RowSelection,
    TableQuery,
    TableQueryError,
    filter_mask,
    smallest,
    smallest_text,
    sort_keys,
)

FRAME = pd.DataFrame(
    {
        "city": ["Oslo", "Lima", None, "Rome", "Kyiv", "Bern"],
        "temp": [3.5, 19.0, 7.0, np.nan, -2.0, 11.0],
        "day": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-06"]),
    }
)


def _page(request: dict, frame: pd.DataFrame = FRAME, selection: RowSelection | None = None, query: TableQuery = None):
    query = query or TableQuery()
    return query.page(frame, "g1", PageRequest.from_grid(request, frame), selection)


def _cities(page) -> list:
    return [record["c0"] for record in page.records]


def test_pages_follow_the_frame_order_and_report_the_total():
    page = _page({"startRow": 2, "endRow": 4})
    assert page.row_count == 6
    assert page.records == [
        {"c0": None, "c1": 7.0, "c2": "2024-01-03"},
        {"c0": "Rome", "c1": None, "c2": "2024-01-04"},
    ]


def test_sorting_both_ways_keeps_blanks_last():
    ascending = _page({"startRow": 0, "endRow": 10, "sortModel": [{"colId": "c1", "sort": "asc"}]})
    descending = _page({"startRow": 0, "endRow": 10, "sortModel": [{"colId": "c1", "sort": "desc"}]})
    assert [r["c1"] for r in ascending.records] == [-2.0, 3.5, 7.0, 11.0, 19.0, None]
    assert [r["c1"] for r in descending.records] == [19.0, 11.0, 7.0, 3.5, -2.0, None]
    text = _page({"startRow": 0, "endRow": 10, "sortModel": [{"colId": "c0", "sort": "desc"}]})
    assert _cities(text) == ["Rome", "Oslo", "Lima", "Kyiv", "Bern", None]


def test_deep_sorted_pages_match_a_full_sort_and_reuse_one_order():
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"v": rng.integers(0, 1_000_000, PARTITION_LIMIT * 3)})
    expected = np.sort(frame["v"].to_numpy())[::-1]
    query = TableQuery()
    first = _page({"startRow": 0, "endRow": 100, "sortModel": [{"colId": "c0", "sort": "desc"}]}, frame, query=query)
    assert [r["c0"] for r in first.records] == expected[:100].tolist()
    assert query._orders == {}  # a first page is partitioned, not fully sorted
    start = PARTITION_LIMIT * 2
    deep = _page(
        {"startRow": start, "endRow": start + 100, "sortModel": [{"colId": "c0", "sort": "desc"}]}, frame, query=query
    )
    assert [r["c0"] for r in deep.records] == expected[start : start + 100].tolist()
    assert list(query._orders) == [("g1", "v", True)]
    assert len(query._results) == 1  # the next block of this query reuses its ordered rows
    again = _page(
        {"startRow": start + 100, "endRow": start + 200, "sortModel": [{"colId": "c0", "sort": "desc"}]},
        frame,
        query=query,
    )
    assert [r["c0"] for r in again.records] == expected[start + 100 : start + 200].tolist()


def test_grid_filters_combine_with_the_chart_selection():
    selection = RowSelection("f.city=…", lambda rows: rows.iloc[[0, 1, 3, 4, 5]])  # the chart dropped row 2
    page = _page(
        {
            "startRow": 0,
            "endRow": 10,
            "filterModel": {"c1": {"filterType": "number", "type": "greaterThan", "filter": 0}},
            "sortModel": [{"colId": "c1", "sort": "asc"}],
        },
        selection=selection,
    )
    assert _cities(page) == ["Oslo", "Bern", "Lima"]
    assert page.row_count == 3


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"filterType": "text", "type": "contains", "filter": "O"}, ["Oslo", "Rome"]),
        ({"filterType": "text", "type": "startsWith", "filter": "b"}, ["Bern"]),
        ({"filterType": "text", "type": "blank"}, [None]),
        ({"filterType": "number", "type": "inRange", "filter": 3, "filterTo": 11}, ["Oslo", None, "Bern"]),
        ({"filterType": "date", "type": "greaterThan", "dateFrom": "2024-01-04 00:00:00"}, ["Kyiv", "Bern"]),
        (
            {
                "filterType": "text",
                "operator": "OR",
                "conditions": [
                    {"filterType": "text", "type": "equals", "filter": "lima"},
                    {"filterType": "text", "type": "endsWith", "filter": "iv"},
                ],
            },
            ["Lima", "Kyiv"],
        ),
    ],
)
def test_filter_kinds(spec, expected):
    column = {"text": "c0", "number": "c1", "date": "c2"}[spec["filterType"]]
    page = _page({"startRow": 0, "endRow": 10, "filterModel": {column: spec}})
    assert _cities(page) == expected


@pytest.mark.parametrize(
    "request_body",
    [
        None,
        {"startRow": -1, "endRow": 10},
        {"startRow": "0", "endRow": 10},
        {"startRow": 0, "endRow": 10, "sortModel": [{"colId": "c99", "sort": "asc"}]},
        {"startRow": 0, "endRow": 10, "filterModel": {"c0": {"filterType": "text", "type": "regex", "filter": ".*"}}},
        {"startRow": 0, "endRow": 10, "filterModel": {"c1": {"filterType": "number", "type": "equals", "filter": "x"}}},
    ],
)
def test_malformed_requests_are_refused_with_a_reason(request_body):
    with pytest.raises(TableQueryError):
        _page(request_body)


def test_page_size_is_capped():
    frame = pd.DataFrame({"v": range(5_000)})
    page = _page({"startRow": 0, "endRow": 5_000}, frame)
    assert len(page.records) == 1_000 and page.row_count == 5_000


def test_filter_mask_on_booleans_and_text_numbers():
    values = pd.Series(["1", "2", "x"])
    assert filter_mask(values, {"filterType": "number", "type": "greaterThan", "filter": 1}).tolist() == [
        False,
        True,
        False,
    ]


def test_first_pages_agree_with_a_stable_full_sort_even_with_ties_and_blanks():
    rng = np.random.default_rng(3)
    for _ in range(200):
        size = int(rng.integers(1, 400))
        keys = rng.integers(0, 5, size).astype(float)
        keys[rng.random(size) < 0.3] = np.nan
        count = int(rng.integers(1, size + 1))
        assert np.array_equal(smallest(keys, count), np.argsort(keys, kind="stable")[:count])


def test_first_text_pages_agree_with_the_full_sort_both_ways():
    rng = np.random.default_rng(4)
    for _ in range(200):
        size = int(rng.integers(1, 300))
        values = pd.Series(rng.choice(["b", "a", "c", "Äpfel", "aa", None], size), dtype="str")
        count = int(rng.integers(1, size + 1))
        descending = bool(rng.integers(0, 2))
        expected = np.argsort(sort_keys(values, descending), kind="stable")[:count]
        assert np.array_equal(smallest_text(pa.array(values, from_pandas=True), count, descending), expected)


@pytest.mark.parametrize("tied", [[2, 1, 3], ["b", "a", "c"]])
@pytest.mark.parametrize("direction", ["asc", "desc"])
def test_consecutive_sorted_pages_neither_repeat_nor_skip_tied_rows(tied, direction, monkeypatch):
    # Pages before row 500 are partitioned until page 600 makes the full sort order; later ones use it.
    monkeypatch.setattr(table_query, "PARTITION_LIMIT", 500)
    frame = pd.DataFrame({"v": np.tile(tied, 400), "row": np.arange(1_200)})  # every value 400 times
    query = TableQuery()
    values, rows = [], []
    for start in [0, 100, 600, 200, 300, 400, 500, 700, 800, 900, 1_000, 1_100]:  # a deep page in between
        request = {"startRow": start, "endRow": start + 100, "sortModel": [{"colId": "c0", "sort": direction}]}
        page = _page(request, frame, query=query)
        values.extend(record["c0"] for record in page.records)
        rows.extend(record["c1"] for record in page.records)
    assert sorted(values, reverse=direction == "desc") == sorted(frame["v"].tolist(), reverse=direction == "desc")
    assert sorted(rows) == list(range(1_200))  # each row exactly once, whichever way each page was found
