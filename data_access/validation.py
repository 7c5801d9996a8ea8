"""Checking an uploaded file before anything is published: every problem is a sentence a person can act on.

Nothing here writes anywhere: a rejected file leaves storage exactly as it was.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import io
import mmap
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data_access.frame_store import frame_bytes
from data_access.parsing import (
    DEFAULT_MAX_CELL_CHARS,
    DEFAULT_MAX_COLUMNS,
    MAX_HEADER_BYTES,
    Content,
    ShapeError,
    arrow_to_frame,
    count_csv_rows,
    count_parquet_rows,
    format_for,
    has_content,
    line_count_bound,
    long_cell_problem,
    plain_table,
    read_csv,
    read_csv_arrow,
    read_parquet_arrow,
    text_among_numbers,
    transform,
    width_problem,
)
from data_access.roles import parse_time_columns
from data_access.units import MB, count, megabytes

ACCEPTED_SUFFIXES = (".csv", ".parquet", ".pq")
COLUMN_TYPES = ("numeric", "text", "any")
MAX_REPORTED_PROBLEMS = 10
# How much of a file is parsed to estimate its table's memory before the whole file is.
_SAMPLE_BYTES = 2**20
# An estimate refuses a file only this far over FRAME_MEMORY_MB (the first rows may be
# unlike the rest); nearer ones get the full parse and the exact check.
_ESTIMATE_MARGIN = 1.25

# Leading bytes of formats people upload by mistake, and what to tell them.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "This is a ZIP archive (or an Excel .xlsx workbook), not a CSV. Export or unzip the CSV first."),
    (b"\x1f\x8b", "This file is gzip-compressed. Decompress it and upload the CSV inside."),
    (b"BZh", "This file is bzip2-compressed. Decompress it and upload the CSV inside."),
    (b"\xfd7zXZ\x00", "This file is xz-compressed. Decompress it and upload the CSV inside."),
    (b"7z\xbc\xaf\x27\x1c", "This is a 7-Zip archive, not a CSV. Extract the CSV first."),
    (b"Rar!", "This is a RAR archive, not a CSV. Extract the CSV first."),
    (b"\x89PNG", "This is a PNG image, not a CSV."),
    (b"\xff\xd8\xff", "This is a JPEG image, not a CSV."),
    (b"GIF8", "This is a GIF image, not a CSV."),
    (b"%PDF", "This is a PDF document, not a CSV."),
    (b"\xd0\xcf\x11\xe0", "This is an old Excel/Office file (.xls), not a CSV. Save it as CSV (UTF-8) first."),
    (b"SQLite format 3", "This is an SQLite database, not a CSV."),
    (b"\x7fELF", "This is a program, not a CSV."),
    (b"MZ", "This is a Windows program, not a CSV."),
)


class SchemaError(ValueError):
    """``DATA_SCHEMA`` cannot be read."""


@dataclass(frozen=True)
class Schema:
    """Required columns and their types, plus the row and memory limits."""

    required: dict[str, str]
    #: Upload limit (MAX_ROWS); ``None`` for stored data, whose limit is memory (FRAME_MEMORY_MB).
    max_rows: int | None
    #: False for data that is already stored: any table may be shown, but the schema's
    #: columns, where present, must still hold the right types.
    columns_required: bool = True
    #: FRAME_MEMORY_MB in bytes: a table the dashboards could not hold is refused.
    max_frame_bytes: int | None = None
    #: MAX_COLUMNS: more columns are refused before the file is parsed.
    max_columns: int = DEFAULT_MAX_COLUMNS
    #: MAX_CELL_CHARS: a longer text cell is refused, naming its row and column.
    max_cell_chars: int = DEFAULT_MAX_CELL_CHARS

    @classmethod
    def parse(
        cls,
        spec: str,
        max_rows: int | None,
        max_frame_bytes: int | None = None,
        max_columns: int = DEFAULT_MAX_COLUMNS,
        max_cell_chars: int = DEFAULT_MAX_CELL_CHARS,
    ) -> Schema:
        """Read ``name:type,name:type`` (types: numeric, text, any); empty means any table with a header row."""
        required: dict[str, str] = {}
        for entry in filter(None, (part.strip() for part in spec.split(","))):
            name, _, column_type = entry.partition(":")
            column_type = column_type.strip() or "any"
            if not name.strip() or column_type not in COLUMN_TYPES:
                raise SchemaError(f"DATA_SCHEMA entry {entry!r} is not name:type with type one of {COLUMN_TYPES}")
            required[name.strip()] = column_type
        return cls(
            required, max_rows, max_frame_bytes=max_frame_bytes, max_columns=max_columns, max_cell_chars=max_cell_chars
        )

    def for_stored_data(self) -> Schema:
        """The same checks, except that tables without the schema's columns are allowed."""
        return dataclasses.replace(self, max_rows=None, columns_required=False)

    def describe(self) -> str:
        if not self.required:
            return "Any table with a header row."
        columns = ", ".join(
            f"{name} ({'number' if kind == 'numeric' else kind})" for name, kind in self.required.items()
        )
        return f"Required columns: {columns}."


@dataclass
class ValidationReport:
    """What an upload check found: problems (any means rejected) and the parsed table."""

    problems: list[str] = field(default_factory=list)
    frame: pd.DataFrame | None = None  # transformed, as the chart will show it
    table: pd.DataFrame | None = None  # as uploaded (typed), for converting between formats
    #: What an admin should know before publishing a file that passed (publishing stays possible).
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems and self.frame is not None


def validate_upload(content: bytes, filename: str, schema: Schema, max_bytes: int) -> ValidationReport:
    """Check ``content`` (the uploaded file named ``filename``) against ``schema``."""
    return _validate(content, filename, schema, max_bytes, lambda: io.BytesIO(content))


def validate_file(path: Path | str, filename: str, schema: Schema, max_bytes: int) -> ValidationReport:
    """:func:`validate_upload` for a file on disk, memory-mapped so a large staged file is not held twice."""
    path = Path(path)
    if path.stat().st_size == 0:
        return validate_upload(b"", filename, schema, max_bytes)
    with path.open("rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    # Not closed here: pyarrow may hold a view of it a moment longer (closing would raise);
    # the mapping goes away with its last reference.
    return _validate(mapped, filename, schema, max_bytes, lambda: path.open("rb"))


def _validate(
    content: Content, filename: str, schema: Schema, max_bytes: int, reopen: Callable[[], BinaryIO]
) -> ValidationReport:
    parquet = format_for(filename) == "parquet"
    problem = (
        _check_container(content, filename, max_bytes)
        or (None if parquet else _text_problem(content))
        or width_problem(content, parquet, schema.max_columns)
        or (None if parquet else _separator_problem(content))
        or _too_big_to_parse(content, schema, parquet)
    )
    if problem:
        return ValidationReport([problem])
    if parquet:
        report = _validate_frame(*_read_parquet(content), schema, lambda row: f"Row {row + 1}")
        return _with_warnings(report, lambda rows: [f"row {row + 1}" for row in rows])
    report = _validate_frame(*_read_csv(content, reopen), schema, lambda row: _line_of(reopen, row))
    rows = len(report.table) if report.table is not None else 0
    return _with_warnings(report, lambda shown: [f"line {n}" for n in _lines_of_records(content, reopen, shown, rows)])


def upload_problem(filename: str, size: object, max_bytes: int) -> str | None:
    """Why a file named ``filename`` of ``size`` bytes is refused by its size and name alone (before it is sent too)."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return "The file size is missing. Choose the file again."
    if size > max_bytes:
        return f"The file is {megabytes(size, round_up=True)}; the limit is {max_bytes / MB:g} MB (MAX_UPLOAD_MB)."
    if size == 0:
        return "The file is empty."
    suffix = PurePath(filename or "").suffix.lower()
    if suffix == ".gz":  # what the content check would say once the bytes were sent
        return "This file is gzip-compressed. Decompress it and upload the CSV inside."
    if suffix not in ACCEPTED_SUFFIXES:
        return f"Only .csv and .parquet files are accepted (got {suffix or 'a file without an extension'})."
    return None


def _check_container(content: Content, filename: str, max_bytes: int) -> str | None:
    problem = upload_problem(filename, len(content), max_bytes)
    if problem or not has_content(content):
        return problem or "The file is empty."
    start = bytes(content[:16])
    for signature, message in _SIGNATURES:
        if start.startswith(signature):
            return message
    if format_for(filename) == "parquet" and not start.startswith(b"PAR1"):
        return "This file is named .parquet but is not a Parquet file."
    return None


def _read_parquet(content: Content) -> tuple[pd.DataFrame | None, list[str]]:
    try:
        return arrow_to_frame(read_parquet_arrow(content)), []
    except ShapeError as error:
        return None, [str(error)]
    except Exception as error:  # pyarrow raises several unrelated types for corrupt files
        return None, [f"The Parquet file cannot be read: {error}"]


def _text_problem(content: Content) -> str | None:
    """Why a CSV's bytes are not UTF-8 text of a table: UTF-16, other bytes, NUL bytes, a web page, JSON."""
    if bytes(content[:2]) in (b"\xff\xfe", b"\xfe\xff"):
        return "The file is saved as UTF-16. Save it as CSV (UTF-8) and upload again."
    problem = _encoding_problem(content)
    if problem:
        return problem
    nul = content.find(b"\x00")
    if nul >= 0:
        line = bytes(content[:nul]).count(b"\n") + 1
        return f"Line {line} contains a NUL byte: this looks like a binary file, not a CSV."
    first = bytes(content[:200]).decode("utf-8-sig", errors="ignore").lstrip()[:1]
    if first == "<":
        return "This looks like a web page or XML, not a CSV."
    if first in ("{", "["):
        return "This looks like JSON, not a CSV."
    return None


def _encoding_problem(content: Content) -> str | None:
    """Where the file stops being UTF-8, or ``None``: checked by pyarrow without decoding a copy."""
    data = pa.py_buffer(content)
    offsets = pa.py_buffer(np.array([0, len(data)], dtype=np.int64))
    try:
        pa.Array.from_buffers(pa.large_string(), 1, [None, offsets, data]).validate(full=True)
        return None
    except pa.ArrowInvalid:
        pass
    raw = bytes(content)  # only for a broken file: decode once more to learn the byte and its position
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        byte = raw[error.start : error.start + 1].hex().upper()
        return (
            f"Line {line}, column {column}: byte 0x{byte} is not valid UTF-8. "
            "Save the file as CSV (UTF-8) and upload again."
        )
    return None


def _separator_problem(content: Content) -> str | None:
    start = bytes(content[:MAX_HEADER_BYTES]).decode("utf-8-sig", errors="ignore")
    header = next(csv.reader(io.StringIO(start, newline=None)), [])
    if len(header) == 1 and ";" in header[0]:
        return "The header has one column containing ';' — the file looks semicolon-separated. Use commas."
    if len(header) == 1 and "\t" in header[0]:
        return "The header has one column containing tabs — the file looks tab-separated. Use commas."
    return None


_FIELDS_ERROR = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_QUOTE_ERROR = re.compile(r"EOF inside string starting at row (\d+)")


def _read_csv(content: Content, reopen: Callable[[], BinaryIO]) -> tuple[pd.DataFrame | None, list[str]]:
    try:
        return read_csv(content, reopen), []
    except ValueError as error:  # pandas' ParserError and EmptyDataError are ValueErrors
        message = str(error)
        if fields := _FIELDS_ERROR.search(message):
            expected, line, seen = fields.groups()
            return None, [
                f"Line {line} has {seen} fields; the header has {expected}. Check for a stray comma or quote."
            ]
        if quote := _QUOTE_ERROR.search(message):
            return None, [f"Line {int(quote.group(1)) + 1}: a quoted field is opened but never closed."]
        return None, [f"The CSV cannot be read: {message}"]


def _validate_frame(
    frame: pd.DataFrame | None, problems: list[str], schema: Schema, where: Callable[[int], str]
) -> ValidationReport:
    if frame is None:
        return ValidationReport(problems)
    if len(frame) == 0:
        return ValidationReport(["The file has a header but no data rows."])
    problem = (
        _rows_problem(len(frame), schema)
        or long_cell_problem(frame, schema.max_cell_chars, where)
        or _missing_columns_problem(frame, schema)
    )
    if problem:
        return ValidationReport([problem])
    frame, problems = _check_types(frame, schema, where)
    if problems:
        return ValidationReport(problems[:MAX_REPORTED_PROBLEMS] + _more(problems))
    return ValidationReport([], transform(frame), frame)


def _too_big_to_parse(content: Content, schema: Schema, parquet: bool) -> str | None:
    """``MAX_ROWS`` or ``FRAME_MEMORY_MB`` refusing the file, found without parsing all of it (costly)."""
    footer_rows = count_parquet_rows(content) if parquet else None
    # A CSV's rows: bounded by its line breaks, else counted by pyarrow (5x slower); each at most once.
    bound = functools.cache(lambda: (footer_rows or 0) if parquet else line_count_bound(content))
    counted = functools.cache(lambda: footer_rows if parquet else count_csv_rows(content))
    if schema.max_rows is not None and bound() > schema.max_rows and (problem := _rows_problem(counted(), schema)):
        return problem
    # A small CSV is parsed whole anyway; a small Parquet file can still hold a big table.
    if schema.max_frame_bytes is None or (not parquet and len(content) <= _SAMPLE_BYTES):
        return None
    sample = _first_rows(content, parquet)
    if sample is None:
        return None
    frame, sample_bytes = sample
    per_row = frame_bytes(parse_time_columns(transform(frame))) / len(frame)
    limit = schema.max_frame_bytes * _ESTIMATE_MARGIN
    # Rows guessed from the first rows' length, then bounded, then counted: each step only when
    # the one before comes near the limit (a take-up of data that fits pays the guess alone).
    guessed = footer_rows if parquet else len(content) * len(frame) / sample_bytes
    if guessed is None or per_row * guessed <= schema.max_frame_bytes or per_row * bound() <= limit:
        return None
    rows = counted()
    if rows is None or per_row * rows <= limit:
        return None
    return (
        f"The file's {rows:,} rows would take about {per_row * rows / 2**20:,.0f} MB in memory, more than "
        f"FRAME_MEMORY_MB ({schema.max_frame_bytes / 2**20:,.0f} MB): the dashboards could not hold it."
    )


def _first_rows(content: Content, parquet: bool) -> tuple[pd.DataFrame, int] | None:
    """The file's first rows as a frame, and the bytes they took in the file (``None`` if unreadable)."""
    try:
        if parquet:
            batches = pq.ParquetFile(pa.BufferReader(pa.py_buffer(content))).iter_batches(batch_size=65_536)
            frame = arrow_to_frame(plain_table(pa.Table.from_batches([next(batches)])))
            return (frame, 1) if len(frame) else None  # the bytes are not used: Parquet knows its rows
        with memoryview(content) as view:
            head = view[: bytes(view[:_SAMPLE_BYTES]).rfind(b"\n") + 1]
            frame = arrow_to_frame(read_csv_arrow(head))
            return (frame, len(head)) if len(frame) else None
    except (pa.ArrowException, StopIteration, ValueError, OSError):
        return None


def _line_of(reopen: Callable[[], BinaryIO], row: int) -> str:
    """Where data row ``row`` is in a CSV, for people (e.g. ``Line 12``)."""
    try:
        return f"Line {_scan_lines(reopen, [row])[0]}"
    except csv.Error:  # the csv module refuses fields over 128 KiB: name the data row instead
        return f"Data row {row + 1:,}"


def _rows_problem(rows: int | None, schema: Schema) -> str | None:
    if rows is None or schema.max_rows is None or rows <= schema.max_rows:
        return None
    return f"The file has {rows:,} rows; the limit is {schema.max_rows:,} (MAX_ROWS)."


def _missing_columns_problem(frame: pd.DataFrame, schema: Schema) -> str | None:
    found = [str(column) for column in frame.columns]
    missing = [name for name in schema.required if name not in found]
    if not missing or not schema.columns_required:
        return None
    names = ", ".join(f"'{name}'" for name in missing)
    noun = "column" if len(missing) == 1 else "columns"
    return (
        f"Required {noun} {names} missing. The header has: {', '.join(found)}. "
        "(DATA_SCHEMA names the required columns; DATA_SCHEMA= (empty) accepts any table with a header row.)"
    )


def _check_types(frame: pd.DataFrame, schema: Schema, where: Callable[[int], str]) -> tuple[pd.DataFrame, list[str]]:
    problems: list[str] = []
    converted = {}
    for name, column_type in schema.required.items():
        if column_type != "numeric" or name not in frame.columns:
            continue
        column = frame[name]
        if pd.api.types.is_integer_dtype(column.dtype) and not column.hasnans:
            continue  # whole numbers without blanks (the common case): nothing can be wrong
        numbers = pd.to_numeric(column, errors="coerce")
        blank = column.isna()
        bad = numbers.isna() & ~blank
        problems += _cell_problems(column, blank, name, "is empty; a number is needed", where)
        problems += _cell_problems(column, bad, name, "is not a number", where)
        infinite = ~numbers.isna() & ~numbers.between(-1e300, 1e300)
        problems += _cell_problems(column, infinite, name, "is not a finite number", where)
        converted[name] = numbers
    for name in frame.select_dtypes("number").columns.difference(list(converted)):
        # Any other number column: a number too long to hold was read as infinity (nothing can chart it).
        infinite = np.isinf(frame[name].to_numpy(dtype="float64", na_value=np.nan))
        problems += _cell_problems(frame[name], pd.Series(infinite), name, "is not a finite number", where)
    return frame.assign(**converted), problems


def _cell_problems(column: pd.Series, mask: pd.Series, name: str, what: str, where: Callable[[int], str]) -> list[str]:
    rows = mask.to_numpy().nonzero()[0]
    if len(rows) == 0:
        return []
    first = int(rows[0])
    value = column.iloc[first]
    shown = "" if pd.isna(value) else f" ('{str(value)[:40]}')"
    more = f" — and {len(rows) - 1:,} more rows in this column" if len(rows) > 1 else ""
    return [f"{where(first)}, column '{name}'{shown} {what}{more}."]


def _more(problems: list[str]) -> list[str]:
    hidden = len(problems) - MAX_REPORTED_PROBLEMS
    return [f"… and {hidden} more problems."] if hidden > 0 else []


# -- warnings: a file that passed, with something an admin should know ---------------------

#: Offending cells named in a warning (the count says how many more there are).
WARNING_EXAMPLES = 3


def _with_warnings(report: ValidationReport, places: Callable[[list[int]], list[str]]) -> ValidationReport:
    """``report`` with the warnings a file that passed deserves; ``places`` names records (0-based) for people."""
    if report.ok and report.table is not None:
        report.warnings = mixed_column_warnings(report.table, places)
    return report


def mixed_column_warnings(table: pd.DataFrame, places: Callable[[list[int]], list[str]]) -> list[str]:
    """One warning per text column that mostly holds numbers (so charts cannot use it), naming its first text cells."""
    warnings = []
    for name in table.columns:
        column = table[name]
        if not pd.api.types.is_string_dtype(column.dtype):
            continue
        text_rows = text_among_numbers(column)
        if len(text_rows) == 0:
            continue
        shown = [int(row) for row in text_rows[:WARNING_EXAMPLES]]
        examples = ", ".join(
            f"{place} ('{str(column.iloc[row])[:40]}')" for place, row in zip(places(shown), shown, strict=True)
        )
        more = ", …" if len(text_rows) > len(shown) else ""
        cells = f"{count(len(text_rows), 'cell')} {'is not a number' if len(text_rows) == 1 else 'are not numbers'}"
        warnings.append(
            f"Column '{name}' mixes numbers and text: {cells} ({examples}{more}). The column is read as text, "
            "so it cannot be charted as numbers. Fix those cells and upload again, or publish it as it is."
        )
    return warnings


def _lines_of_records(content: Content, reopen: Callable[[], BinaryIO], records: list[int], rows: int) -> list[int]:
    """The file lines where data records ``records`` (0-based, ascending) of ``rows`` start, as an editor shows."""
    # When every record is one line, record n is on line n + 2 without reading the file again.
    if not records:
        return []
    ends_open = bytes(content[-1:]) not in (b"\n", b"\r")
    if line_count_bound(content) + ends_open == rows + 1:
        return [record + 2 for record in records]
    return _scan_lines(reopen, records)


def _scan_lines(reopen: Callable[[], BinaryIO], records: list[int]) -> list[int]:
    """Where ``records`` start, counted like pandas: blank lines skipped, a quoted field may span lines."""
    wanted, found = set(records), {}
    with reopen() as stream:
        reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8-sig", newline=""))
        seen, previous_end = -1, 0  # the header is record -1
        for row in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not row:
                continue
            if seen in wanted:
                found[seen] = start
                if len(found) == len(wanted):
                    break
            seen += 1
    return [found.get(record, previous_end) for record in records]
