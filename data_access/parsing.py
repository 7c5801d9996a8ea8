"""Turning stored bytes into a DataFrame, and the one vectorised transform step.

CSV is read with the meaning pandas gave it, except that a text column of numbers written by hand
(" 42 ", "N/A", "-", "1,234.50") is numbers.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Callable
from pathlib import PurePath
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

#: MAX_COLUMNS' default: column pickers stay usable and what a visitor receives stays bounded.
DEFAULT_MAX_COLUMNS = 1_000
#: MAX_CELL_CHARS' default: the most a spreadsheet cell holds (Excel's limit).
DEFAULT_MAX_CELL_CHARS = 32_767
#: The column names must fit in this many bytes: a header is bounded before anything is parsed.
MAX_HEADER_BYTES = 2**20
#: Text is sent to browsers up to this many characters (downloads are whole): twice as long, a grid
#: of 100 long-text columns stayed empty in Chromium (``bench/file_shapes.py``).
DISPLAY_CELL_CHARS = 100

#: Bytes, or anything exposing the buffer protocol (``mmap`` of a staged file).
Content = bytes | bytearray | memoryview

# The words pandas' read_csv treats as missing, so both parsers agree on blanks.
PANDAS_NA_VALUES = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
]  # fmt: skip
# Hand-typed tables write "no value" in more ways than pandas knows; in a column of numbers these
# are blanks too (compared after trimming spaces).
BLANK_WORDS = sorted({*PANDAS_NA_VALUES, "-", "—", "–", "na", "none", "NONE", "Null", "N/a"})
# Whole cells: a plain number, or one with a thousands separator in every place ("1,234.50").
_PLAIN_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
_GROUPED_NUMBER = r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?$"
_WHOLE_NUMBER = r"^[+-]?[\d,]+$"
# Text columns are first checked on this many leading cells (most text columns stop there).
NUMBER_SAMPLE_CELLS = 1_000
# A format no cell matches: ISO dates stay text, as pandas kept them.
_NO_TIMESTAMPS = ["never a timestamp"]
# One block up to 64 MB becomes a frame without a copy; smaller blocks cost as much again to join
# (docs/benchmarks/workers.md, "CSV parse blocks").
_CSV_BLOCK_BYTES = 64 * 2**20
# glibc's malloc returns replaced frames' memory at once (docs/decisions/0006-memory-allocator.md).
pa.set_memory_pool(pa.system_memory_pool())
# bytes.strip()'s whitespace set, searched for instead of stripping (which copies).
_NOT_WHITESPACE = re.compile(rb"[^ \t\n\r\x0b\x0c]")


class ParseError(ValueError):
    """The bytes are not a table we can read; the message says why."""


class ShapeError(ParseError):
    """The bytes hold a table the dashboards do not take (too wide, nested columns, giant cells)."""


def format_for(name: str) -> str:
    """The data format implied by a file or object name (``csv`` unless it says Parquet)."""
    return "parquet" if PurePath(name).suffix.lower() in (".parquet", ".pq") else "csv"


def read_csv_arrow(content: Content) -> pa.Table:
    """Parse CSV bytes with pyarrow, no copy of the input; ``ArrowInvalid`` for what only pandas reads."""
    table = pa_csv.read_csv(
        pa.BufferReader(pa.py_buffer(content)),
        read_options=pa_csv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
        parse_options=pa_csv.ParseOptions(newlines_in_values=False),
        convert_options=pa_csv.ConvertOptions(
            null_values=PANDAS_NA_VALUES, strings_can_be_null=True, timestamp_parsers=_NO_TIMESTAMPS
        ),
    )
    names = [str(name).strip() for name in table.column_names]
    pairs = zip(names, table.columns, strict=True)
    columns = [_skip_initial_space(plain_column(name, column)) for name, column in pairs]
    return pa.table([numbers_from_text(column) or column for column in columns], names=names)


def _is_text(column: pa.ChunkedArray) -> bool:
    return pa.types.is_string(column.type) or pa.types.is_large_string(column.type)


def number_cells(column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.ChunkedArray, pa.ChunkedArray]:
    """A text column's cells trimmed, which are blank, which are numbers ("1,234" only if every comma groups threes)."""
    trimmed = pc.utf8_trim_whitespace(column)
    blank = pc.or_kleene(pc.is_null(trimmed), pc.is_in(trimmed, value_set=pa.array(BLANK_WORDS)))
    plain = pc.fill_null(pc.match_substring_regex(trimmed, _PLAIN_NUMBER), False)
    grouped = pc.fill_null(pc.match_substring_regex(trimmed, _GROUPED_NUMBER), False)
    has_comma = pc.fill_null(pc.match_substring(trimmed, ","), False)
    if pc.any(pc.and_(has_comma, pc.invert(grouped))).as_py():
        return trimmed, blank, plain
    return trimmed, blank, pc.or_(plain, grouped)


def numbers_from_text(column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """A text column whose every cell is a number or blank, as numbers (``None`` for any other column)."""
    if not _is_text(column):
        return None
    # The leading cells first: other text is not scanned whole.
    for part in (column.slice(0, NUMBER_SAMPLE_CELLS), column):
        trimmed, blank, number = number_cells(part)
        if not (pc.all(pc.or_(blank, number)).as_py() and pc.any(number).as_py()):  # every cell, and one number
            return None
    digits = pc.replace_substring_regex(pc.replace_substring(trimmed, ",", ""), r"^\+", "")
    values = pc.if_else(blank, pa.scalar(None, pa.string()), digits)
    whole = pc.all(pc.or_(blank, pc.fill_null(pc.match_substring_regex(trimmed, _WHOLE_NUMBER), False))).as_py()
    try:
        return values.cast(pa.int64() if whole else pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # too large for int64: as floats
        try:
            return values.cast(pa.float64())
        except pa.ArrowInvalid:
            return None


def text_among_numbers(values: pd.Series, mostly: float = 0.5) -> np.ndarray:
    """Positions of the text cells of a text column whose other cells are numbers (at least ``mostly``
    of its non-blank cells, on the leading cells and on all); none for any other column."""
    nothing = np.array([], dtype=np.int64)
    for part in (values.head(NUMBER_SAMPLE_CELLS), values):  # the leading cells first: no copy of other text
        column = _arrow_text(part)
        if column is None:
            return nothing
        _, blank, number = number_cells(column)
        present = len(column) - pc.sum(blank).as_py()
        if pc.sum(number).as_py() < mostly * present or (part is values and not present):
            return nothing
    text = pc.invert(pc.or_(blank, number))
    return np.flatnonzero(text.to_numpy(zero_copy_only=False))


def _skip_initial_space(column: pa.ChunkedArray) -> pa.ChunkedArray:
    # pandas' skipinitialspace drops spaces after a comma; trimming copies, so only where one starts with a space.
    if _is_text(column) and pc.any(pc.starts_with(column, " ")).as_py():
        return pc.utf8_ltrim(column, characters=" ")
    return column


def line_count_bound(content: Content, piece: int = 16 * 2**20) -> int:
    """An upper bound on the data rows of a CSV in ``content``: its line-break bytes, counted without a copy."""
    breaks = 0
    with memoryview(content) as view:
        for start in range(0, len(view), piece):
            part = np.frombuffer(view[start : start + piece], np.uint8)
            breaks += int(np.count_nonzero(part == 10)) + int(np.count_nonzero(part == 13))
    return breaks


def count_csv_rows(content: Content) -> int | None:
    """The data rows pyarrow reads from CSV ``content``, a block at a time; ``None`` when it refuses the file."""
    try:
        reader = pa_csv.open_csv(
            pa.BufferReader(pa.py_buffer(content)),
            read_options=pa_csv.ReadOptions(skip_rows=1, autogenerate_column_names=True),
            parse_options=pa_csv.ParseOptions(newlines_in_values=False),
            # Only the first column is kept, as text: counting must not depend on types.
            convert_options=pa_csv.ConvertOptions(include_columns=["f0"], column_types={"f0": pa.string()}),
        )
        return sum(batch.num_rows for batch in reader)
    except pa.ArrowInvalid:
        return None


def count_parquet_rows(content: Content) -> int | None:
    """The rows a Parquet file's footer declares, or ``None`` when it cannot be read."""
    try:
        return pq.ParquetFile(pa.BufferReader(pa.py_buffer(content))).metadata.num_rows
    except (pa.ArrowException, OSError, ValueError):
        return None


def read_parquet_arrow(content: Content) -> pa.Table:
    """Parse Parquet bytes with pyarrow, its columns made plain (see :func:`plain_table`)."""
    return plain_table(pq.read_table(pa.BufferReader(pa.py_buffer(content))))


def arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    """A DataFrame over ``table``; numeric columns without blanks are not copied."""
    # No consolidation copy, each Arrow column freed once converted; dates as datetime64 for the roles.
    return table.to_pandas(split_blocks=True, self_destruct=True, date_as_object=False)


def parse_table(content: Content, data_format: str = "csv") -> pd.DataFrame:
    """Parse ``content`` as ``data_format`` into a DataFrame (only the shape checks; see validation)."""
    if not has_content(content):
        raise ParseError("the file is empty")
    problem = width_problem(content, data_format == "parquet", DEFAULT_MAX_COLUMNS)
    if problem:
        raise ShapeError(problem)
    try:
        frame = arrow_to_frame(read_parquet_arrow(content)) if data_format == "parquet" else read_csv(content)
    except (ValueError, OSError, pa.ArrowException) as error:  # pandas' errors are ValueErrors
        raise ParseError(f"cannot read {data_format.upper()}: {error}") from error
    problem = long_cell_problem(frame, DEFAULT_MAX_CELL_CHARS, lambda row: f"Row {row + 1:,}")
    if problem:
        raise ShapeError(problem)
    return frame


def read_csv(content: Content, reopen: Callable[[], BinaryIO] | None = None) -> pd.DataFrame:
    """CSV bytes as a frame; pandas reads what pyarrow's stricter reader refuses, from ``reopen()`` if given."""
    try:
        return arrow_to_frame(read_csv_arrow(content))
    except pa.ArrowInvalid:  # short rows, a space before a quote, quoted line breaks
        with (reopen or (lambda: io.BytesIO(content)))() as stream:
            return read_csv_pandas(stream)


def read_csv_pandas(stream: BinaryIO) -> pd.DataFrame:
    """pandas' reader, for the files pyarrow refuses: it gives the line-numbered messages."""
    frame = pd.read_csv(stream, skipinitialspace=True, encoding="utf-8-sig")
    if not frame.index.equals(pd.RangeIndex(len(frame))):
        # The first row has more fields than the header: pandas took the first ones as row labels and
        # shifted every column. Refused in the words pandas uses for such a row further down.
        stream.seek(0)
        lines = iter(stream)
        next(lines, None)
        line = 2 + sum(1 for _ in itertools.takewhile(lambda text: not text.strip(), lines))
        fields = len(frame.columns) + frame.index.nlevels
        raise pd.errors.ParserError(f"Expected {len(frame.columns)} fields in line {line}, saw {fields}")
    frame.columns = [str(column).strip() for column in frame.columns]
    numbers = {}
    for name in frame.columns:
        text = _arrow_text(frame[name])
        converted = numbers_from_text(text) if text is not None else None
        if converted is not None:
            numbers[name] = converted.to_pandas()
    return frame.assign(**numbers) if numbers else frame


def _arrow_text(values: pd.Series) -> pa.ChunkedArray | None:
    """A text column as Arrow text (no copy for pandas' own text type); ``None`` for anything else."""
    if not pd.api.types.is_string_dtype(values.dtype):
        return None
    try:
        return pa.chunked_array([pa.array(values, type=pa.string(), from_pandas=True)])
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # cells that are not text (lists, booleans)
        return None


def has_content(content: Content) -> bool:
    """True unless ``content`` is empty or only ASCII whitespace (checked without copying it)."""
    return _NOT_WHITESPACE.search(content) is not None


def transform(frame: pd.DataFrame) -> pd.DataFrame:
    """Add derived columns: ``add_num`` and ``multiply_num`` when the sample's inputs exist."""
    if {"first_num", "second_num"} <= set(frame.columns):
        first, second = _numbers(frame["first_num"]), _numbers(frame["second_num"])
        frame = frame.assign(add_num=first + second, multiply_num=first * second)
    return frame


def _numbers(column: pd.Series) -> pd.Series:
    # A numeric column is used as it is: to_numeric would copy it (80 MB per 10M rows) for nothing.
    if pd.api.types.is_numeric_dtype(column.dtype) and not pd.api.types.is_bool_dtype(column.dtype):
        return column
    return pd.to_numeric(column, errors="coerce")


def load_table(content: Content, name: str) -> pd.DataFrame:
    """Parse bytes stored under ``name`` and apply :func:`transform`."""
    return transform(parse_table(content, format_for(name)))


# -- table shapes: bounded before parsing, Parquet types made plain ---------------------------


def width_problem(content: Content, parquet: bool, max_columns: int) -> str | None:
    """Why the file's columns are too many (or too long to name), found before its data is parsed."""
    return parquet_shape_problem(content, max_columns) if parquet else csv_width_problem(content, max_columns)


def csv_width_problem(content: Content, max_columns: int) -> str | None:
    """Why a CSV's header cannot be taken (too long, too wide, a name blank or twice), read from its first
    :data:`MAX_HEADER_BYTES` alone (a 2M-column header made pyarrow abort the process)."""
    with memoryview(content) as view:
        window = bytes(view[: MAX_HEADER_BYTES + 1])
    if len(window) > MAX_HEADER_BYTES and not re.search(rb"[\r\n]", window):
        return (
            f"The first line is longer than {MAX_HEADER_BYTES // 2**20} MiB: is this a CSV? "
            "A CSV starts with a header line naming its columns."
        )
    try:
        header = next(csv.reader(io.StringIO(window.decode("utf-8-sig", errors="replace"), newline=None)), [])
    except csv.Error:  # a field over the csv module's 128 KiB
        return "The first line is not a CSV header."
    if len(header) > max_columns:
        return _too_many_columns(len(header), max_columns)
    return _names_problem([name.strip() for name in header])


def parquet_shape_problem(content: Content, max_columns: int) -> str | None:
    """Why a Parquet file's columns cannot be shown, read from its footer (no data is read).

    Nested columns are refused, naming the column: charts cannot use them; flattening is the owner's choice.
    """
    try:
        schema = pq.ParquetFile(pa.BufferReader(pa.py_buffer(content))).schema_arrow
    except Exception as error:  # pyarrow raises several unrelated types for corrupt files
        if "nested" in str(error):
            return "The Parquet file's columns are nested too deeply to read: the dashboard takes one value per cell."
        return f"The Parquet file cannot be read: {error}"
    names = [name for name in schema.names if not _PANDAS_INDEX.fullmatch(name)]
    if len(names) > max_columns:
        return _too_many_columns(len(names), max_columns)
    if sum(len(name.encode()) for name in names) > MAX_HEADER_BYTES:
        return f"The column names take more than {MAX_HEADER_BYTES // 2**20} MiB; shorten them."
    return _names_problem(names) or next(filter(None, (_type_problem(field) for field in schema)), None)


def _too_many_columns(columns: int, max_columns: int) -> str:
    return f"The file has {columns:,} columns; the limit is {max_columns:,} (MAX_COLUMNS)."


def _names_problem(names: list[str]) -> str | None:
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name.strip():
            return f"Column {position} has no name."
        if name in seen:
            return f"Column '{name}' appears twice (columns {seen[name]} and {position})."
        seen[name] = position
    return None


# What each nested type is, for people (any other nested type is a kind of list).
_NESTED = (
    (pa.types.is_struct, "records (a struct)"),
    (pa.types.is_map, "key-value maps"),
    (pa.types.is_union, "mixed types (a union)"),
    (pa.types.is_nested, "lists"),
)
# Columns pandas wrote for an unnamed index (row labels, not data).
_PANDAS_INDEX = re.compile(r"__index_level_\d+__")


def _type_problem(field: pa.Field) -> str | None:
    kind = _storage_type(field.type)
    for is_nested, what in _NESTED:
        if is_nested(kind):
            return (
                f"Column '{field.name}' holds {what}; the dashboard takes one plain value per cell. "
                "Flatten it into plain columns (or store it as text) and upload again."
            )
    if pa.types.is_interval(kind):  # the one flat type with no plain form
        return (
            f"Column '{field.name}' has the type {kind}, which the dashboard cannot show; store numbers, text or dates."
        )
    return None


def _storage_type(kind: pa.DataType) -> pa.DataType:
    """The type a column's values have once dictionaries, run-end encoding and extensions are undone."""
    while True:
        if pa.types.is_dictionary(kind) or pa.types.is_run_end_encoded(kind):
            kind = kind.value_type
        elif isinstance(kind, pa.ExtensionType):
            kind = kind.storage_type
        else:
            return kind


def plain_table(table: pa.Table) -> pa.Table:
    """``table`` in types every later layer handles, pandas' index columns dropped (check its shape first)."""
    kept = [name for name in table.column_names if not _PANDAS_INDEX.fullmatch(name)]
    if len(kept) < table.num_columns:
        table = table.select(kept)
    columns = [_valid_text(name, plain_column(name, table.column(name))) for name in table.column_names]
    return pa.table(columns, names=table.column_names)


def _valid_text(name: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    # Parquet readers do not check that text is UTF-8 (a damaged file broke pandas later on).
    if _is_text(column):
        try:
            column.validate(full=True)
        except pa.ArrowInvalid:
            raise ShapeError(f"Column '{name}' holds text that is not valid UTF-8: the file looks damaged.") from None
    return column


def plain_column(name: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    """One column with encodings undone, decimals and durations as floats, binary and times of day as text."""
    kind = column.type
    if pa.types.is_dictionary(kind) or pa.types.is_run_end_encoded(kind):
        return plain_column(name, column.cast(kind.value_type))
    if isinstance(kind, pa.ExtensionType):
        return plain_column(name, pa.chunked_array([chunk.storage for chunk in column.chunks], kind.storage_type))
    if pa.types.is_decimal(kind):
        return column.cast(pa.float64(), safe=False)
    if pa.types.is_float16(kind):
        return column.cast(pa.float32())
    if pa.types.is_duration(kind):
        per_second = {"s": 1, "ms": 10**3, "us": 10**6, "ns": 10**9}[kind.unit]
        return pc.divide(column.cast(pa.int64()).cast(pa.float64()), float(per_second))
    if pa.types.is_time(kind) or pa.types.is_null(kind) or pa.types.is_string_view(kind):
        return column.cast(pa.string())
    binary = (pa.types.is_binary, pa.types.is_large_binary, pa.types.is_fixed_size_binary, pa.types.is_binary_view)
    if any(is_binary(kind) for is_binary in binary):
        # Some writers store text as plain binary (no UTF-8 annotation): shown as text when it is.
        try:
            return column.cast(pa.string())
        except pa.ArrowInvalid:
            raise ShapeError(f"Column '{name}' holds binary data, not text; the dashboard cannot show it.") from None
    return column


def long_cell_problem(frame: pd.DataFrame, max_chars: int, where: Callable[[int], str]) -> str | None:
    """The sentence refusing the first text cell over ``max_chars`` characters, placed by ``where(row)``."""
    for column in frame.columns:
        values = frame[column]
        if not (pd.api.types.is_string_dtype(values.dtype) or values.dtype == object):
            continue
        if values.dtype == object:
            lengths = values.map(lambda value: len(value) if isinstance(value, str) else 0)
        else:
            lengths = values.str.len()
        over = np.flatnonzero(lengths.fillna(0).to_numpy(dtype=np.int64) > max_chars)
        if len(over):
            return (
                f"{where(int(over[0]))}, column '{column}' holds {int(lengths.iloc[over[0]]):,} characters; "
                f"a cell may hold at most {max_chars:,} (MAX_CELL_CHARS)."
            )
    return None


def shorten_text(values: pd.Series, max_chars: int = DISPLAY_CELL_CHARS) -> pd.Series:
    """Text values cut to ``max_chars`` characters (ending in "…") for sending to a browser."""
    if not (pd.api.types.is_string_dtype(values.dtype) or values.dtype == object):
        return values
    text = values if pd.api.types.is_string_dtype(values.dtype) and values.dtype != object else values.astype("string")
    too_long = text.str.len() > max_chars
    if not too_long.fillna(False).any():
        return values
    return text.where(~too_long.fillna(False), text.str.slice(0, max_chars - 1) + "…")
