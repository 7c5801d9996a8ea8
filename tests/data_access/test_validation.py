"""Upload validation: every bad file gets its own clear message; good files pass."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from data_access.validation import Schema, SchemaError, validate_file, validate_upload
from tests.bad_files import BAD_FILES, CORPUS_MAX_BYTES, CORPUS_MAX_ROWS, TOO_LARGE

SCHEMA = Schema.parse("first_num:numeric,second_num:numeric", max_rows=CORPUS_MAX_ROWS)
SCHEMA_WITHOUT_ROW_LIMIT = Schema.parse("first_num:numeric,second_num:numeric", None)


@pytest.mark.parametrize(
    ("case", "filename", "content", "expected"),
    [*BAD_FILES, TOO_LARGE],
    ids=[case[0] for case in [*BAD_FILES, TOO_LARGE]],
)
def test_bad_file_is_rejected_with_its_own_message(case, filename, content, expected):
    report = validate_upload(content, filename, SCHEMA, CORPUS_MAX_BYTES)
    assert not report.ok
    assert any(expected in problem for problem in report.problems), report.problems


def test_corpus_is_large_and_messages_are_distinct():
    messages = {
        validate_upload(content, filename, SCHEMA, CORPUS_MAX_BYTES).problems[0]
        for _, filename, content, _ in BAD_FILES
    }
    assert len(BAD_FILES) >= 25
    assert len(messages) >= 28  # a few causes share a sentence (e.g. two empty files)


def test_good_csv_passes_and_is_transformed():
    report = validate_upload(b"ID,first_num,second_num\n1,2,3\n2,4,5\n", "fine.csv", SCHEMA, CORPUS_MAX_BYTES)
    assert report.ok and report.problems == []
    assert list(report.frame["multiply_num"]) == [6, 20]
    assert list(report.table.columns) == ["ID", "first_num", "second_num"]


def test_good_parquet_passes():
    buffer = io.BytesIO()
    pd.DataFrame({"first_num": [1.5], "second_num": [2]}).to_parquet(buffer)
    assert validate_upload(buffer.getvalue(), "fine.parquet", SCHEMA, CORPUS_MAX_BYTES).ok


def test_many_bad_cells_are_summarised():
    content = b"first_num,second_num\n" + b"x,1\n" * 50
    problems = validate_upload(content, "d.csv", SCHEMA, CORPUS_MAX_BYTES).problems
    assert problems == ["Line 2, column 'first_num' ('x') is not a number — and 49 more rows in this column."]


def test_schema_is_configurable():
    schema = Schema.parse("region:text, sales:numeric", max_rows=10)
    assert validate_upload(b"region,sales\nnorth,3\n", "d.csv", schema, CORPUS_MAX_BYTES).ok
    with pytest.raises(SchemaError):
        Schema.parse("sales:money", max_rows=10)


@pytest.mark.parametrize(
    "content",
    [
        b"ID,first_num,second_num\n1,2,3\n\n2,two,3\n",  # a blank line before the bad row
        b'ID,first_num,second_num\n1,2,"a quoted\nvalue"\n2,two,3\n',  # a field spanning two lines
    ],
)
def test_line_numbers_match_what_an_editor_shows(content):
    problems = validate_upload(content, "d.csv", SCHEMA, CORPUS_MAX_BYTES).problems
    assert problems[0].startswith("Line 4, column 'first_num' ('two')"), problems


def test_parquet_problems_name_the_row():
    buffer = io.BytesIO()
    pd.DataFrame({"first_num": ["1", "x"], "second_num": [1, 2]}).to_parquet(buffer)
    problems = validate_upload(buffer.getvalue(), "d.parquet", SCHEMA, CORPUS_MAX_BYTES).problems
    assert problems == ["Row 2, column 'first_num' ('x') is not a number."]


@pytest.mark.parametrize(
    ("case", "filename", "content", "expected"),
    [*BAD_FILES, TOO_LARGE],
    ids=[case[0] for case in [*BAD_FILES, TOO_LARGE]],
)
def test_a_file_on_disk_gets_the_same_message_as_the_same_bytes(case, filename, content, expected, tmp_path):
    path = tmp_path / "staged"
    path.write_bytes(content)
    from_disk = validate_file(path, filename, SCHEMA, CORPUS_MAX_BYTES)
    assert from_disk.problems == validate_upload(content, filename, SCHEMA, CORPUS_MAX_BYTES).problems
    assert any(expected in problem for problem in from_disk.problems), from_disk.problems


def test_a_good_file_on_disk_passes_with_the_same_table(tmp_path):
    content = b"ID,first_num,second_num,region\n1, 2,3, north\n2,4,5,\n"
    path = tmp_path / "staged.csv"
    path.write_bytes(content)
    from_disk = validate_file(path, "fine.csv", SCHEMA, CORPUS_MAX_BYTES)
    assert from_disk.ok
    pd.testing.assert_frame_equal(from_disk.frame, validate_upload(content, "fine.csv", SCHEMA, CORPUS_MAX_BYTES).frame)
    assert list(from_disk.frame["multiply_num"]) == [6, 20]


def test_missing_columns_message_says_an_empty_schema_accepts_any_table():
    problems = validate_upload(b"region,sales\nnorth,3\n", "d.csv", SCHEMA, CORPUS_MAX_BYTES).problems
    assert "DATA_SCHEMA= (empty) accepts any table with a header row" in problems[0]
    assert validate_upload(b"region,sales\nnorth,3\n", "d.csv", Schema.parse("", max_rows=10), CORPUS_MAX_BYTES).ok


def _refuse_to_parse(*_args, **_kwargs):
    raise AssertionError("the whole table was parsed")


def test_a_csv_over_max_rows_is_refused_with_its_row_count_before_the_table_is_parsed(monkeypatch):
    content = b"first_num,second_num\n" + b"1,2\n\n" * 1_001  # blank lines are not rows
    monkeypatch.setattr("data_access.validation.read_csv_arrow", _refuse_to_parse)
    monkeypatch.setattr("data_access.validation.read_csv", _refuse_to_parse)
    report = validate_upload(content, "data.csv", SCHEMA, CORPUS_MAX_BYTES)
    assert report.problems == ["The file has 1,001 rows; the limit is 1,000 (MAX_ROWS)."]


def test_a_csv_with_more_line_breaks_than_max_rows_but_fewer_rows_passes():
    content = b"first_num,second_num\r\n" + b"1,2\r\n" * 1_000  # 2,002 line-break bytes
    assert validate_upload(content, "data.csv", SCHEMA, CORPUS_MAX_BYTES).ok


def test_a_parquet_file_over_max_rows_is_refused_from_its_footer(monkeypatch):
    content = io.BytesIO()
    pd.DataFrame({"first_num": range(1_001), "second_num": range(1_001)}).to_parquet(content)
    monkeypatch.setattr("data_access.validation.read_parquet_arrow", _refuse_to_parse)
    report = validate_upload(content.getvalue(), "data.parquet", SCHEMA, CORPUS_MAX_BYTES)
    assert report.problems == ["The file has 1,001 rows; the limit is 1,000 (MAX_ROWS)."]


def _numbers_csv(rows: int) -> bytes:
    return b"first_num,second_num\n" + b"".join(b"%d,%d\n" % (number, number % 7) for number in range(rows))


def test_a_csv_whose_table_would_not_fit_frame_memory_is_refused_from_its_first_rows():
    content = _numbers_csv(600_000)  # ~7 MB; its table, derived columns included, ~19 MB
    frame_mb = validate_upload(content, "data.csv", SCHEMA_WITHOUT_ROW_LIMIT, 2**30).frame.memory_usage().sum() / 2**20
    tight = Schema.parse("first_num:numeric,second_num:numeric", None, max_frame_bytes=int(frame_mb / 2 * 2**20))
    (problem,) = validate_upload(content, "data.csv", tight, 2**30).problems
    assert problem.startswith("The file's 600,000 rows would take about ")
    assert problem.endswith(f"more than FRAME_MEMORY_MB ({frame_mb / 2:,.0f} MB): the dashboards could not hold it.")
    # Within the margin the whole file is parsed (and the exact size is checked where it is held).
    roomy = Schema.parse("first_num:numeric,second_num:numeric", None, max_frame_bytes=int(frame_mb * 0.9 * 2**20))
    assert validate_upload(content, "data.csv", roomy, 2**30).ok


def test_a_parquet_file_whose_table_would_not_fit_frame_memory_is_refused_from_its_first_rows():
    content = io.BytesIO()
    pd.DataFrame({"first_num": [1] * 600_000, "second_num": [2] * 600_000}).to_parquet(content)  # a few kB
    content = content.getvalue()
    tight = Schema.parse("first_num:numeric,second_num:numeric", None, max_frame_bytes=2 * 2**20)
    (problem,) = validate_upload(content, "data.parquet", tight, 2**30).problems
    assert problem.startswith("The file's 600,000 rows would take about ") and "FRAME_MEMORY_MB (2 MB)" in problem


def test_a_first_line_longer_than_the_header_window_is_refused_as_such():
    # One huge line (a JSON dump, a file without line breaks): read in a 1 MiB window, its
    # header was cut mid-name and refused as "Column 'c14496' appears twice".
    one_line = b",".join(b"c%d" % number for number in range(200_000)) + b"\n1\n"
    assert len(one_line) > 2**20
    report = validate_upload(one_line, "wide.csv", Schema.parse("", None), 2 * len(one_line))
    assert report.problems == [
        "The first line is longer than 1 MiB: is this a CSV? A CSV starts with a header line naming its columns."
    ]


def test_a_long_header_within_the_window_is_still_read():
    header = b",".join(b"column_%d" % number for number in range(50_000))
    assert 2**19 < len(header) < 2**20
    schema = Schema.parse("", None, max_columns=50_000)  # about the read window, not the column limit
    report = validate_upload(header + b"\n" + b",".join([b"1"] * 50_000) + b"\n", "wide.csv", schema, 2**22)
    assert report.ok, report.problems


MIXED_CSV = b"when,price,name\n1,2.5,a\n2,n/a,b\n3,x1,c\n4,7,d\n5,8,e\n6,--,f\n7,9,g\n8,10,h\n9,?,i\n10,11,j\n"


def test_a_column_mixing_numbers_and_text_passes_with_a_warning_naming_its_text_cells():
    report = validate_upload(MIXED_CSV, "d.csv", Schema.parse("", None), CORPUS_MAX_BYTES)
    assert report.ok and report.problems == []  # publishing stays possible
    assert report.warnings == [
        "Column 'price' mixes numbers and text: 3 cells are not numbers (line 4 ('x1'), line 7 ('--'), "
        "line 10 ('?')). The column is read as text, so it cannot be charted as numbers. "
        "Fix those cells and upload again, or publish it as it is."
    ]


def test_mixed_column_warning_counts_every_text_cell_and_numbers_lines_as_an_editor_does():
    # A blank line and a value spanning two lines: the lines are counted as an editor shows them.
    content = (
        b'when,price,note\n1,2,a\n\n2,3,"two\nlines"\n3,x,c\n4,5,d\n5,6,e\n6,y,f\n7,z,g\n8,w,h\n'
        b"9,9,i\n10,10,j\n11,11,k\n"
    )
    report = validate_upload(content, "d.csv", Schema.parse("", None), CORPUS_MAX_BYTES)
    assert report.ok
    assert report.warnings[0].startswith(
        "Column 'price' mixes numbers and text: 4 cells are not numbers (line 6 ('x'), line 9 ('y'), line 10 ('z'), …)."
    ), report.warnings


def test_text_columns_and_clean_numbers_get_no_warning():
    content = b"city,code,value\nParis,A1,1\nOslo,B2,2\nRome,33,3\n"
    report = validate_upload(content, "d.csv", Schema.parse("", None), CORPUS_MAX_BYTES)
    assert report.ok and report.warnings == []


def test_parquet_mixed_column_warning_names_rows():
    buffer = io.BytesIO()
    pd.DataFrame({"price": ["1", "2", "oops", "4"], "n": [1, 2, 3, 4]}).to_parquet(buffer)
    report = validate_upload(buffer.getvalue(), "d.parquet", Schema.parse("", None), CORPUS_MAX_BYTES)
    assert report.ok
    assert report.warnings[0].startswith(
        "Column 'price' mixes numbers and text: 1 cell is not a number (row 3 ('oops'))."
    )


@pytest.mark.parametrize(
    ("content", "file_name", "place"),
    [
        (b"x\n" + b"9" * 400 + b"\n", "one-cell.csv", "Line 2, column 'x'"),  # read as infinity
        (b"a,b\n1,2\n3,1e400\n", "big.csv", "Line 3, column 'b'"),
        ("parquet", "inf.parquet", "Row 2, column 'v'"),
    ],
)
def test_a_number_too_large_to_hold_in_any_column_is_refused_with_its_place(content, file_name, place):
    if content == "parquet":
        import numpy as np
        import pyarrow as pa
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(pa.table({"v": [1.0, np.inf]}), buffer)
        content = buffer.getvalue()
    report = validate_upload(content, file_name, Schema.parse("", None), CORPUS_MAX_BYTES)
    assert not report.ok
    assert report.problems == [f"{place} ('inf') is not a finite number."]


def test_the_warning_names_only_cells_the_reader_could_not_take_as_numbers_or_blanks():
    # As the chart reads it: "1,234.50", " 42 ", "N/A" and "-" are numbers or blanks; only "€15" is text.
    content = b'day,amount\n1,"1,234.50"\n2,N/A\n3,  42 \n4,-\n5,1e3\n6,\xe2\x82\xac15\n'
    report = validate_upload(content, "d.csv", Schema.parse("", None), CORPUS_MAX_BYTES)
    assert report.ok and len(report.warnings) == 1
    assert "1 cell is not a number (line 7 ('€15'))" in report.warnings[0]
    fixed = validate_upload(content.replace(b"\xe2\x82\xac", b""), "d.csv", Schema.parse("", None), CORPUS_MAX_BYTES)
    assert fixed.ok and fixed.warnings == [] and fixed.table["amount"].dtype == "float64"


def test_a_row_with_more_fields_than_the_header_is_refused_with_its_line():
    content = b"first_num,second_num,note\n1,234.50,7,paid\n2,3,ok\n"  # an unquoted "1,234.50"
    report = validate_upload(content, "data.csv", SCHEMA, CORPUS_MAX_BYTES)
    assert report.problems == ["Line 2 has 4 fields; the header has 3. Check for a stray comma or quote."]
