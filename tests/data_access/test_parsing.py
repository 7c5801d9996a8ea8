"""Parsing and the vectorised transform."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from data_access.parsing import ParseError, format_for, load_table, parse_table, transform


def test_transform_adds_sum_and_product_columns():
    frame = transform(pd.DataFrame({"ID": [1, 2], "first_num": [2, 5], "second_num": [3, 4]}))
    assert list(frame["add_num"]) == [5, 9]
    assert list(frame["multiply_num"]) == [6, 20]


def test_transform_leaves_other_tables_alone():
    frame = pd.DataFrame({"date": ["2026-01-01"], "sales": [3]})
    assert list(transform(frame).columns) == ["date", "sales"]


def test_parquet_is_read_by_suffix():
    buffer = io.BytesIO()
    pd.DataFrame({"first_num": [1], "second_num": [2]}).to_parquet(buffer)
    assert format_for("data/data.parquet") == "parquet"
    assert list(load_table(buffer.getvalue(), "data.parquet")["add_num"]) == [3]


def test_csv_with_byte_order_mark_keeps_clean_header():
    frame = parse_table("\ufeffID,first_num\n1,2\n".encode())
    assert list(frame.columns) == ["ID", "first_num"]


@pytest.mark.parametrize("content", [b"", b"   \n", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe"])
def test_unreadable_content_raises_parse_error(content):
    with pytest.raises(ParseError):
        parse_table(content)
