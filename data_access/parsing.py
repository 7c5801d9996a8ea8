"""Turning stored bytes into a DataFrame, and the one vectorised transform step.

CSV and Parquet are read by file-name suffix, both with pyarrow straight from the
bytes (or a memory-mapped file): no text copy of the file is ever made. CSV is read
with the meaning pandas gave it before (``skipinitialspace``, pandas' missing-value
words, text stays text), so switching parsers changed no table. :func:`transform`
adds the sample's derived columns with column arithmetic (never a row loop).
"""

from __future__ import annotations

import io
import re
from pathlib import Path, PurePath

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

SUPPORTED_FORMATS = ("csv", "parquet")

#: Bytes, or anything exposing the buffer protocol (``mmap`` of a staged file).
Content = bytes | bytearray | memoryview

# The words pandas' read_csv treats as missing, so both parsers agree on blanks.
PANDAS_NA_VALUES = [
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
]  # fmt: skip
# A format no cell matches: pyarrow would otherwise turn ISO dates into timestamps,
# where pandas (and so the published data so far) kept them as text.
_NO_TIMESTAMPS = ["never a timestamp"]
# Blocks big enough that numeric columns come out in few chunks: a file of one block (up to
# 64 MB) becomes a frame without a copy; smaller blocks parsed a 1M-row file on both cores but
# then cost the same time again, and memory the allocator kept, copying the chunks together.
# Re-measured on glibc's malloc (2026-12-03): one block per core took 1M rows up in 142 ms
# instead of ~155 ms, but the take-up's peak rose to 2.5x the frame (one block: 1.7-2.1x).
_CSV_BLOCK_BYTES = 64 * 2**20
# Arrow on glibc's malloc: buffers this large are mapped and unmapped, so memory freed after a
# take-up goes back to the system at once. Measured over 20 generations of 1M rows, worker RSS
# stayed within 1% (jemalloc with decay 0: +15%; mimalloc, Arrow's default, kept every peak).
pa.set_memory_pool(pa.system_memory_pool())
# bytes.strip()'s whitespace set, searched for instead of stripping (which copies).
_NOT_WHITESPACE = re.compile(rb"[^ \t\n\r\x0b\x0c]")


class ParseError(ValueError):
    """The bytes are not a table we can read; the message says why."""


def format_for(name: str) -> str:
    """The data format implied by a file or object name (``csv`` unless it says Parquet)."""
    suffix = PurePath(name).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    return "csv"


def read_csv_arrow(content: Content) -> pa.Table:
    """Parse CSV bytes with pyarrow (multi-threaded, no copy of the input).

    Raises ``pyarrow.ArrowInvalid`` for anything pyarrow's stricter reader refuses
    (ragged rows, an unclosed quote, quoted line breaks); callers that need pandas'
    exact wording fall back to it then.
    """
    table = pa_csv.read_csv(
        pa.BufferReader(pa.py_buffer(content)),
        read_options=pa_csv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
        parse_options=pa_csv.ParseOptions(newlines_in_values=False),
        convert_options=pa_csv.ConvertOptions(
            null_values=PANDAS_NA_VALUES, strings_can_be_null=True, timestamp_parsers=_NO_TIMESTAMPS
        ),
    )
    names = [str(name).strip() for name in table.column_names]
    columns = [_skip_initial_space(column) for column in table.columns]
    return pa.table(columns, names=names)


def _skip_initial_space(column: pa.ChunkedArray) -> pa.ChunkedArray:
    # pandas' skipinitialspace drops spaces after a comma; pyarrow already does for numbers.
    is_text = pa.types.is_string(column.type) or pa.types.is_large_string(column.type)
    # Trimming copies the column's text: only done where a value starts with a space.
    if is_text and pc.any(pc.starts_with(column, " ")).as_py():
        return pc.utf8_ltrim(column, characters=" ")
    return column


def line_count_bound(content: Content, piece: int = 16 * 2**20) -> int:
    """An upper bound on the data rows of a CSV in ``content``, counted without a copy.

    Every data row but the last ends with a line break, and so does the header: the count of
    ``\\n`` and ``\\r`` bytes together is at least the rows (``\\r\\n`` counts twice). 1 GB: ~0.3 s.
    """
    breaks = 0
    with memoryview(content) as view:
        for start in range(0, len(view), piece):
            part = np.frombuffer(view[start : start + piece], np.uint8)
            breaks += int(np.count_nonzero(part == 10)) + int(np.count_nonzero(part == 13))
    return breaks


def count_csv_rows(content: Content) -> int | None:
    """The data rows pyarrow reads from CSV ``content``, a block at a time (no table is kept).

    Memory stays at a block whatever the file's size. ``None`` when pyarrow refuses the
    file; the full parse then says why.
    """
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
    """Parse Parquet bytes with pyarrow."""
    return pq.read_table(pa.BufferReader(pa.py_buffer(content)))


def arrow_to_frame(table: pa.Table) -> pd.DataFrame:
    """A DataFrame over ``table``; numeric columns without blanks are not copied."""
    # split_blocks keeps one array per column (no consolidation copy); self_destruct frees
    # each Arrow column as soon as it is converted, so the two never both stay whole.
    # Dates as datetime64 (not Python date objects), so roles see a time column.
    return table.to_pandas(split_blocks=True, self_destruct=True, date_as_object=False)


def parse_table(content: Content, data_format: str = "csv") -> pd.DataFrame:
    """Parse ``content`` as ``data_format`` into a DataFrame (no checks; see validation)."""
    if data_format not in SUPPORTED_FORMATS:
        raise ParseError(f"unsupported format {data_format!r}; use one of {', '.join(SUPPORTED_FORMATS)}")
    if not has_content(content):
        raise ParseError("the file is empty")
    try:
        if data_format == "parquet":
            return arrow_to_frame(read_parquet_arrow(content))
        try:
            return arrow_to_frame(read_csv_arrow(content))
        except pa.ArrowInvalid:
            return read_csv_pandas(io.BytesIO(content))
    except (ValueError, UnicodeDecodeError, OSError, pa.ArrowException) as error:
        # pandas' ParserError and EmptyDataError are ValueErrors.
        raise ParseError(f"cannot read {data_format.upper()}: {error}") from error


def read_csv_pandas(stream: io.BufferedIOBase | Path) -> pd.DataFrame:
    """pandas' reader, for the files pyarrow refuses: it gives the line-numbered messages."""
    frame = pd.read_csv(stream, skipinitialspace=True, encoding="utf-8-sig")
    frame.columns = [str(column).strip() for column in frame.columns]
    return frame


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
