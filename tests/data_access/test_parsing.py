"""Parsing and the vectorised transform."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pytest

from data_access.parsing import (
    NUMBER_SAMPLE_CELLS,
    ParseError,
    arrow_to_frame,
    count_csv_rows,
    count_parquet_rows,
    format_for,
    line_count_bound,
    load_table,
    numbers_from_text,
    parse_table,
    read_csv_arrow,
    read_csv_pandas,
    transform,
)


def test_transform_adds_sum_and_product_columns():
    frame = transform(pd.DataFrame({"ID": [1, 2], "first_num": [2, 5], "second_num": [3, 4]}))
    assert list(frame["add_num"]) == [5, 9]
    assert list(frame["multiply_num"]) == [6, 20]


def test_transform_coerces_text_numbers_and_keeps_numeric_columns_as_they_are():
    frame = transform(pd.DataFrame({"first_num": ["2", "x"], "second_num": [3.5, 4.0]}))
    assert frame["add_num"].iloc[0] == 5.5 and pd.isna(frame["add_num"].iloc[1])
    assert frame["second_num"].dtype == "float64"


def test_a_csv_in_one_block_becomes_a_frame_without_copying_its_numbers():
    rows = "".join(f"{index},{index * 2},text {index}\n" for index in range(120_000))
    content = ("ID,first_num,note\n" + rows).encode()
    table = read_csv_arrow(content)
    assert table.column("first_num").num_chunks == 1
    arrow_address = table.column("first_num").chunk(0).buffers()[1].address
    frame = arrow_to_frame(table)
    assert frame["first_num"].to_numpy().ctypes.data == arrow_address  # the frame is Arrow's memory
    assert len(frame) == 120_000 and frame["first_num"].iloc[-1] == 239_998
    assert frame["note"].iloc[119_999] == "text 119999"


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


@pytest.mark.parametrize(
    "content",
    [
        b"ID,first_num,second_num\n1,2,3\n2,4.5,-6\n",
        b"ID, first_num ,region\n1, 2, north\n2,,south\n3,NA,\n",  # spaces, blanks, missing-value words
        b'day,label,flag\n2026-01-01,"a, quoted",true\n2026-01-02 10:00,plain,False\n',  # dates stay text
        b"\xef\xbb\xbfa,b\r\n1,x\r\n\r\n2,null\r\n",  # byte order mark, CRLF, a blank line
    ],
)
def test_pyarrow_reads_csv_as_pandas_did(content):
    """The fast reader gives the table the pandas reader gave, so no published data changes meaning."""
    fast = arrow_to_frame(read_csv_arrow(content))
    pd.testing.assert_frame_equal(fast, read_csv_pandas(io.BytesIO(content)))


# A hand-kept sheet: blanks written as words or dashes, spaces around numbers, thousands grouped.
MESSY_NUMBERS = (
    b"when,amount,count,note\n"
    b'2024-01-03,"1,234.50", 1 ,ok\n'
    b"2024-01-04,N/A,-,-\n"
    b"2024-01-05,  42 ,n/a,fine\n"
    b"2024-01-06,-,3,\n"
    b"2024-01-07,1e3,\xe2\x80\x94,NA\n"
    b"2024-01-08,,+4,null\n"
)


@pytest.mark.parametrize("space_before_quote", [False, True])  # True: pyarrow refuses it, pandas reads it
def test_numbers_written_by_hand_are_read_as_numbers(space_before_quote):
    content = MESSY_NUMBERS.replace(b",ok", b', "ok"') if space_before_quote else MESSY_NUMBERS
    frame = parse_table(content)
    assert frame["amount"].dtype == "float64" and frame["count"].dtype == "float64"
    assert frame["amount"].fillna(-1).tolist() == [1234.5, -1, 42.0, -1, 1000.0, -1]
    assert frame["count"].dropna().tolist() == [1.0, 3.0, 4.0]
    assert pd.api.types.is_string_dtype(frame["note"])  # text stays text, its "-" included
    assert frame["note"].iloc[1] == "-"


@pytest.mark.parametrize(
    "cells",
    [
        ["1,234.50", "€15", "7"],  # a currency sign: text among numbers
        ["1,234", "1,5", "7"],  # "1,5" uses the comma as a decimal mark: the grouping is not consistent
        ["12", "twelve", "13"],
    ],
)
def test_a_column_that_still_mixes_text_stays_text(cells):
    content = ("a,b\n" + "".join(f'"{cell}",{n}\n' for n, cell in enumerate(cells))).encode()
    assert pd.api.types.is_string_dtype(parse_table(content)["a"])


def test_text_columns_are_only_scanned_whole_when_their_first_cells_are_numbers():
    # 1,000 leading words then numbers: refused on the first cells (no scan, no conversion of the rest).
    column = pa.chunked_array([pa.array(["word"] * NUMBER_SAMPLE_CELLS + ["1"] * 5)])
    assert numbers_from_text(column) is None
    assert numbers_from_text(pa.chunked_array([pa.array(["1"] * NUMBER_SAMPLE_CELLS + [" N/A", "2 "])])).type == "int64"


@pytest.mark.parametrize(
    "content",
    [
        b"a,b\n1,2\n3,4\n",
        b"a,b\n1,2\n3,4",  # no line break after the last row
        b"a,b\r\n1,2\r\n3,4\r\n",
        b"a,b\r1,2\r3,4\r",  # old Mac line ends
        b"\xef\xbb\xbfa,b\n1,2\n\n\n3,4\n",  # a BOM, and blank lines (not rows)
        b'a,b\n1,"x, y"\n3,"4"\n',
    ],
)
def test_row_counts_without_a_table_agree_with_the_parsed_table(content):
    rows = len(parse_table(content))
    assert count_csv_rows(content) == rows
    assert line_count_bound(content) >= rows
    assert line_count_bound(content, piece=3) == line_count_bound(content)  # pieces do not lose a line end


def test_row_count_is_none_for_a_file_pyarrow_refuses():
    assert count_csv_rows(b"a,b\n1,2\n3,4,5\n") is None  # a ragged row: the full parse says which line


def test_parquet_row_count_comes_from_its_footer(tmp_path):
    content = io.BytesIO()
    pd.DataFrame({"a": range(1234)}).to_parquet(content)
    assert count_parquet_rows(content.getvalue()) == 1234
    assert count_parquet_rows(b"PAR1 not really") is None


# An unquoted "1,234.50" in a 3-column file: its row has one field more than the header.
RAGGED = b"name,amount,note\nrent,1,234.50,paid\nfood,12.50,ok\n"


def test_a_row_with_more_fields_than_the_header_is_refused_naming_its_line():
    with pytest.raises(ParseError, match="line 2"):  # pandas would take the names as row labels, shifted
        parse_table(RAGGED)
    with pytest.raises(ParseError, match="line 3"):
        parse_table(b"name,amount,note\nfood,12.50,ok\nrent,1,234.50,paid\n")


def test_a_row_with_fewer_fields_than_the_header_reads_blanks_for_the_missing_ones():
    frame = parse_table(b"name,amount,note\nrent,1234.50\nfood,12.50,ok\n")
    assert frame["amount"].tolist() == [1234.5, 12.5] and frame["note"].isna().tolist() == [True, False]
