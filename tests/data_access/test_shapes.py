"""File shapes: Parquet logical types made plain or refused by name, widths and cells bounded."""

from __future__ import annotations

import datetime
import decimal

import pandas as pd
import pyarrow as pa
import pytest

from components.figures import _x_values, default_figure
from data_access import build_live_data
from data_access.live_data import DataUnavailable
from data_access.parsing import (
    DISPLAY_CELL_CHARS,
    MAX_HEADER_BYTES,
    ParseError,
    ShapeError,
    load_table,
    parse_table,
    shorten_text,
)
from data_access.roles import CATEGORY, TEXT, detect_roles, is_date_text, parse_time_columns
from data_access.table_query import records
from data_access.validation import Schema, validate_upload
from data_access.view_state import ViewState
from settings import Settings, SettingsError
from tests.file_shapes import (
    category_parquet,
    long_cell_csv,
    nested_list_parquet,
    parquet_bytes,
    struct_parquet,
    wide_csv,
)

STORED = Schema.parse("", None, 64 * 2**20).for_stored_data()


def _check(content: bytes, filename: str = "d.parquet", schema: Schema = STORED):
    return validate_upload(content, filename, schema, max_bytes=len(content) + 1)


def _one_column(values: pa.Array) -> bytes:
    return parquet_bytes(pa.table({"x": values, "sales": list(range(len(values)))}))


def test_a_pandas_category_column_arrives_as_plain_text_and_gets_roles():
    report = _check(category_parquet())
    assert report.ok, report.problems
    region = report.frame["region"]
    assert pd.api.types.is_string_dtype(region) and not isinstance(region.dtype, pd.CategoricalDtype)
    frame = parse_time_columns(report.frame)
    roles = detect_roles(frame)
    assert roles.roles["region"] == CATEGORY and "2024-01-01" in roles.category_values["region"]
    assert default_figure(report.frame, 100)["data"]  # the admin preview draws it


def test_a_categorical_column_with_some_date_text_is_not_dates():
    assert not is_date_text(pd.Series(pd.Categorical(["2024-01-01", "north"])))


def test_dates_with_and_without_a_zone_stay_text():
    frame = parse_time_columns(pd.DataFrame({"when": ["2024-01-01", "2024-01-01T10:00:00Z"]}))
    assert list(frame["when"]) == ["2024-01-01", "2024-01-01T10:00:00Z"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (struct_parquet(), "Column 'point' holds records (a struct)"),
        (_one_column(pa.array([[("k", 1)]], pa.map_(pa.string(), pa.int64()))), "Column 'x' holds key-value maps"),
        (_one_column(pa.array([[1, 2], [3]])), "Column 'x' holds lists"),
        (_one_column(pa.array([[1, 2]], pa.list_(pa.int64(), 2))), "Column 'x' holds lists"),
        (nested_list_parquet(40), "Column 'deep' holds lists"),
        (nested_list_parquet(60), "nested too deeply to read"),
        (_one_column(pa.array([b"\xff\xfe"])), "Column 'x' holds binary data, not text"),
        (_one_column(pa.array([1, 2]).dictionary_encode().cast(pa.dictionary(pa.int8(), pa.int64()))), None),
    ],
    ids=["struct", "map", "list", "fixed_size_list", "list_40_deep", "list_60_deep", "binary", "int_dictionary"],
)
def test_nested_and_binary_columns_are_refused_naming_the_column(content, fragment):
    report = _check(content)
    if fragment is None:
        assert report.ok, report.problems
        return
    assert not report.ok and fragment in report.problems[0], report.problems
    with pytest.raises(ParseError):  # the path without a schema refuses them too, never another error
        load_table(content, "d.parquet")


def test_parquet_logical_types_become_types_every_layer_handles():
    moments = [datetime.datetime(2024, 1, day, 12, tzinfo=datetime.UTC) for day in (1, 2)]
    table = pa.table(
        {
            "price": pa.array([decimal.Decimal("1.25"), decimal.Decimal("2.50")], pa.decimal128(10, 2)),
            "at": pa.array(moments).cast(pa.timestamp("us", "Europe/Paris")),
            "took": pa.array([datetime.timedelta(seconds=90), datetime.timedelta(milliseconds=1500)]),
            "clock": pa.array([datetime.time(8, 30), datetime.time(9, 0)]),
            "note": pa.array(["a", "b"], pa.large_string()),
            "raw": pa.array([b"plain", b"text"]),
            "half": pa.array([1.5, 2.5], pa.float16()),
            "nothing": pa.nulls(2),
        }
    )
    frame = _check(parquet_bytes(table)).frame
    assert list(frame["price"]) == [1.25, 2.5] and frame["price"].dtype == "float64"
    assert str(frame["at"].dt.tz) == "Europe/Paris"
    assert list(frame["took"]) == [90.0, 1.5]
    assert list(frame["clock"]) == ["08:30:00.000000", "09:00:00.000000"]
    assert list(frame["raw"]) == ["plain", "text"] and pd.api.types.is_string_dtype(frame["note"])
    assert frame["half"].dtype == "float32" and pd.api.types.is_string_dtype(frame["nothing"])
    roles = detect_roles(parse_time_columns(frame))
    view, _ = ViewState().resolve(roles)
    assert view.x is not None


def test_a_pandas_index_is_a_column_when_named_and_dropped_when_not():
    named = pd.DataFrame({"sales": [1, 2]}, index=pd.Index([7, 8], name="shop"))
    unnamed = pd.DataFrame({"sales": [1, 2, 3]}).iloc[[0, 2]]
    assert list(_check(_pandas_parquet(named)).frame.columns) == ["sales", "shop"]
    frame = _check(_pandas_parquet(unnamed)).frame
    assert list(frame.columns) == ["sales"] and isinstance(frame.index, pd.RangeIndex)


def _pandas_parquet(frame: pd.DataFrame) -> bytes:
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def test_duplicate_and_blank_parquet_names_are_refused():
    duplicate = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"])
    blank = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", " "])
    assert _check(parquet_bytes(duplicate)).problems == ["Column 'a' appears twice (columns 1 and 2)."]
    assert _check(parquet_bytes(blank)).problems == ["Column 2 has no name."]


def test_a_two_million_column_header_is_refused_before_parsing():
    content = wide_csv(2_000_000)  # ~16 MB: pyarrow's reader aborted the process on it
    assert len(content) > MAX_HEADER_BYTES
    problems = _check(content, "d.csv").problems
    assert problems and "longer than 1 MiB" in problems[0], problems
    with pytest.raises(ShapeError):
        parse_table(content)


@pytest.mark.parametrize("filename", ["d.csv", "d.parquet"])
def test_columns_over_max_columns_are_refused_for_csv_and_parquet(filename):
    schema = Schema.parse("", None, max_columns=50).for_stored_data()

    def make(columns: int) -> bytes:
        if filename == "d.csv":
            return wide_csv(columns)
        return parquet_bytes(pa.table({f"c{index}": [1] for index in range(columns)}))

    assert _check(make(50), filename, schema).ok
    assert _check(make(51), filename, schema).problems == ["The file has 51 columns; the limit is 50 (MAX_COLUMNS)."]


def test_a_parquet_of_10002_columns_is_refused_by_default():
    content = parquet_bytes(pa.table({f"c{index}": [1] for index in range(10_002)}))
    assert _check(content).problems == ["The file has 10,002 columns; the limit is 1,000 (MAX_COLUMNS)."]


def test_a_long_cell_is_refused_naming_its_line_or_row_and_column():
    schema = Schema.parse("", None, max_cell_chars=1_000).for_stored_data()
    problems = _check(long_cell_csv(1_001), "d.csv", schema).problems
    assert problems == ["Line 3, column 'note' holds 1,001 characters; a cell may hold at most 1,000 (MAX_CELL_CHARS)."]
    assert _check(long_cell_csv(1_000), "d.csv", schema).ok
    parquet = parquet_bytes(pa.table({"note": ["short", "y" * 1_001]}))
    assert _check(parquet, schema=schema).problems[0].startswith("Row 2, column 'note' holds 1,001 characters")


def test_a_cell_beyond_what_the_csv_module_reads_is_named_by_its_data_row():
    problems = _check(long_cell_csv(2 * 2**20), "d.csv").problems  # 2 MB in one cell
    assert problems == [
        "Data row 2, column 'note' holds 2,097,152 characters; a cell may hold at most 32,767 (MAX_CELL_CHARS)."
    ]


def test_stored_shapes_are_unreadable_versions_never_other_errors(bucket, gcs_settings, gcs_client):
    settings = gcs_settings.with_overrides(gcs_blob="data/data.parquet")
    live_data = build_live_data(settings, gcs_client)
    blob = bucket.blob("data/data.parquet")
    blob.upload_from_string(category_parquet())
    assert list(live_data.frame(str(blob.generation))["sales"])[:3] == [0.0, 1.0, 2.0]
    for content in (struct_parquet(), nested_list_parquet(60), wide_csv(2_000_000)):
        blob.upload_from_string(content)
        with pytest.raises(DataUnavailable) as caught:
            live_data.frame(str(blob.generation))
        assert caught.value.permanent and "was not accepted" in str(caught.value)


def test_text_reaches_browsers_cut_to_the_display_length():
    long_text = "z" * 5_000
    frame = pd.DataFrame({"note": [long_text, "short", None], "n": [1, 2, 3]})
    cells = records(frame)
    assert len(cells[0]["c0"]) == DISPLAY_CELL_CHARS and cells[0]["c0"].endswith("…")
    assert cells[1]["c0"] == "short" and cells[2]["c0"] is None
    assert all(len(value) <= DISPLAY_CELL_CHARS for value in _x_values(frame["note"]))
    numbers = frame["n"]
    assert shorten_text(numbers) is numbers


def test_long_labels_make_text_not_a_category():
    frame = pd.DataFrame({"label": ["a" * (DISPLAY_CELL_CHARS + 1), "b"] * 50, "n": range(100)})
    assert detect_roles(frame).roles["label"] == TEXT


@pytest.mark.parametrize(
    ("name", "value"), [("MAX_COLUMNS", "0"), ("MAX_COLUMNS", "10001"), ("MAX_CELL_CHARS", "100001")]
)
def test_shape_limits_are_settings_with_bounds(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({"DATA_SOURCE": "local", name: value}, default_app_env="development")
    assert Settings.from_env({"DATA_SOURCE": "local", name: "500"}, default_app_env="development")
