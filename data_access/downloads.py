"""The data as a file to download: CSV or Parquet, written in chunks so memory stays bounded.

CSV cells a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, carriage return first) get a
leading quote, as OWASP advises; numbers, and text that is just a number, stay as they are.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import PurePosixPath

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

CSV_CHUNK_ROWS = 100_000
PARQUET_ROW_GROUP_ROWS = 500_000
FORMATS = {"csv": "text/csv; charset=utf-8", "parquet": "application/vnd.apache.parquet"}

FORMULA_START = r"^[=+\-@\t\r]"
PLAIN_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"


def neutralise_formulas(values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Text cells a spreadsheet would evaluate, prefixed with ``'``; other cells untouched."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return values  # numbers, dates and booleans cannot carry a formula
    risky = pc.and_(
        pc.match_substring_regex(values, FORMULA_START),
        pc.invert(pc.match_substring_regex(values, f"^{PLAIN_NUMBER}$")),
    )
    if not pc.any(risky).as_py():
        return values
    quote, nothing = pa.scalar("'", values.type), pa.scalar("", values.type)
    return pc.if_else(risky, pc.binary_join_element_wise(quote, values, nothing), values)


def csv_chunks(frame: pd.DataFrame, chunk_rows: int = CSV_CHUNK_ROWS) -> Iterator[bytes]:
    """``frame`` as UTF-8 CSV with a header row, ``chunk_rows`` rows per piece, by pyarrow (text always quoted)."""
    names = neutralise_formulas(pa.array([str(column) for column in frame.columns], pa.string())).to_pylist()
    yield (",".join(_quoted(name) for name in names) + "\n").encode()
    dates_only = [position for position in range(frame.shape[1]) if _is_date_only(frame.iloc[:, position])]
    options = pacsv.WriteOptions(include_header=False)
    for start in range(0, len(frame), chunk_rows):
        chunk = _arrow_table(frame.iloc[start : start + chunk_rows], dates_only)
        safe = pa.table([neutralise_formulas(column) for column in chunk.columns], names=names)
        buffer = io.BytesIO()
        pacsv.write_csv(safe, buffer, options)
        yield buffer.getvalue()


def _quoted(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


def _is_date_only(values: pd.Series) -> bool:
    """A datetime column whose times are all midnight: written as plain dates (2024-01-31)."""
    if not pd.api.types.is_datetime64_any_dtype(values) or getattr(values.dt, "tz", None) is not None:
        return False
    for start in range(0, len(values), CSV_CHUNK_ROWS):  # in slices: no 10M-row temporaries
        present = values.iloc[start : start + CSV_CHUNK_ROWS].dropna()
        if not (present == present.dt.normalize()).all():
            return False
    return True


def _arrow_table(chunk: pd.DataFrame, dates_only: list[int]) -> pa.Table:
    """``chunk`` as an Arrow table with positional names (column names are written separately)."""
    arrays = []
    for position in range(chunk.shape[1]):
        values = chunk.iloc[:, position]
        if pd.api.types.is_object_dtype(values):
            values = values.astype("str")  # mixed Python objects: write what they print as
        array = pa.array(values, from_pandas=True)
        arrays.append(pc.cast(array, pa.date32()) if position in dates_only else array)
    return pa.table(arrays, names=[str(position) for position in range(len(arrays))])


def parquet_chunks(frame: pd.DataFrame, row_group_rows: int = PARQUET_ROW_GROUP_ROWS) -> Iterator[bytes]:
    """``frame`` as a Parquet file, one row group (``row_group_rows`` rows) per piece."""
    buffer = io.BytesIO()
    schema = pa.Schema.from_pandas(frame.iloc[:row_group_rows], preserve_index=False)
    with pq.ParquetWriter(buffer, schema) as writer:
        for start in range(0, max(len(frame), 1), row_group_rows):
            chunk = frame.iloc[start : start + row_group_rows]
            writer.write_table(pa.Table.from_pandas(chunk, schema=schema, preserve_index=False))
            yield _drain(buffer)
    yield _drain(buffer)  # the footer, written on close


def _drain(buffer: io.BytesIO) -> bytes:
    data = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return data


def file_chunks(frame: pd.DataFrame, file_format: str) -> Iterator[bytes]:
    """The pieces of ``frame`` as a ``csv`` or ``parquet`` file."""
    return {"csv": csv_chunks, "parquet": parquet_chunks}[file_format](frame)


def version_label(metadata: dict[str, str], updated: str) -> str:
    """The short name people use for a version: ``v12``, or the time it was written when unnumbered."""
    number = str(metadata.get("version", "")).strip()
    if number.isdecimal():
        return f"v{int(number)}"
    try:
        written = datetime.fromisoformat(updated)
    except ValueError:
        return "latest"
    return written.strftime("%Y%m%d-%H%M")


def download_name(source_name: str, label: str, file_format: str, filtered: bool = False) -> str:
    """``data-v12.csv`` (``data-v12-filtered.csv`` for a subset): dataset name and version label."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", PurePosixPath(source_name).stem).strip("._") or "data"
    suffix = "-filtered" if filtered else ""
    return f"{stem}-{label}{suffix}.{file_format}"
