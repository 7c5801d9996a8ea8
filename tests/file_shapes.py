"""Generated CSV and Parquet files of every shape, from a seed (same seed, same files).

A seeded generator rather than hypothesis: the corpus is the same on every run and every
machine (a failure names its seed and case), nothing is stored between runs, and it needs
no new dependency. Each case is (name, file name, bytes).

The generator mixes column types (numbers with blanks and infinities, booleans, text with
quotes, commas, line breaks and long runs, date text, every Parquet logical type including
nested ones), awkward names (duplicates, blanks, pandas' index columns, unicode), widths and
row counts up to a little over the limits it is checked with, and damaged bytes (cut short,
bytes flipped, bytes inserted).
"""

from __future__ import annotations

import datetime
import decimal
import io
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

#: Limits the corpus is checked with: small, so that "a little over" stays fast.
FUZZ_MAX_COLUMNS = 40
FUZZ_MAX_CELL_CHARS = 300

_WORDS = [
    "north", "south", "a,b", 'say "hi"', " padded ", "", "NA", "null", "-", "1e5", "0x1F", "١٢٣", "naïve", "日本",
    "🙂", "=SUM(A1)", "line\nbreak", "tab\there", "2024-02-30", "2024-01-01", "2024-01-01T10:00:00Z", "true",
]  # fmt: skip


def _text(rng: np.random.Generator, rows: int) -> list[str | None]:
    values: list[str | None] = []
    for _ in range(rows):
        pick = rng.random()
        if pick < 0.1:
            values.append(None)
        elif pick < 0.15:
            values.append("x" * int(rng.integers(FUZZ_MAX_CELL_CHARS - 5, FUZZ_MAX_CELL_CHARS + 5)))
        else:
            values.append(_WORDS[int(rng.integers(len(_WORDS)))])
    return values


def _column(rng: np.random.Generator, kind: str, rows: int) -> pa.Array:
    """``rows`` values of one generated kind, as Arrow."""
    ints = rng.integers(-(10**6), 10**6, rows)
    blank = rng.random(rows) < 0.2
    start = datetime.datetime(2020, 1, 1)
    makers: dict[str, Callable[[], pa.Array]] = {
        "int": lambda: pa.array(ints),
        "float": lambda: pa.array(np.where(blank, np.nan, rng.normal(size=rows) * 10.0 ** rng.integers(-3, 300))),
        "inf": lambda: pa.array(np.where(blank, np.inf, rng.normal(size=rows))),
        "bool": lambda: pa.array(rng.random(rows) < 0.5, mask=blank),
        "text": lambda: pa.array(_text(rng, rows)),
        "dates": lambda: pa.array([f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(rows)]),
        "category": lambda: pa.array(_text(rng, rows)).dictionary_encode(),
        "int_category": lambda: pa.array(ints % 5).dictionary_encode(),
        "decimal": lambda: pa.array([decimal.Decimal(int(v)) / 100 for v in ints], pa.decimal128(12, 2)),
        "timestamp_tz": lambda: pa.array([start + datetime.timedelta(hours=int(v)) for v in ints % 10**4]).cast(
            pa.timestamp("us", "Europe/Paris")
        ),
        "timestamp": lambda: pa.array(np.datetime64("2020-01-01") + (ints % 10**5).astype("timedelta64[s]")),
        "date32": lambda: pa.array([datetime.date(2020, 1, 1) + datetime.timedelta(days=int(v % 900)) for v in ints]),
        "time": lambda: pa.array([datetime.time(int(v % 24), int(v % 60)) for v in ints]),
        "duration": lambda: pa.array([datetime.timedelta(seconds=int(v)) for v in ints]),
        "large_string": lambda: pa.array(_text(rng, rows), pa.large_string()),
        "binary_text": lambda: pa.array([str(v).encode() for v in ints]),
        "binary_bytes": lambda: pa.array([b"\xff\xfe" + bytes([int(v) % 256]) for v in ints]),
        "null": lambda: pa.nulls(rows),
        "float16": lambda: pa.array(rng.normal(size=rows).astype(np.float16)),
        "uint64": lambda: pa.array((ints % 7).astype(np.uint64) + np.uint64(2**63)),
        "list": lambda: pa.array([[int(v), 1] for v in ints]),
        "struct": lambda: pa.array([{"a": int(v), "b": "x"} for v in ints]),
        "map": lambda: pa.array([[("k", int(v))] for v in ints], pa.map_(pa.string(), pa.int64())),
        "constant": lambda: pa.array(["same"] * rows),
        "year": lambda: pa.array(2000 + ints % 30),
    }
    return makers[kind]()


KINDS = (
    "int", "float", "inf", "bool", "text", "dates", "category", "int_category", "decimal", "timestamp_tz",
    "timestamp", "date32", "time", "duration", "large_string", "binary_text", "binary_bytes", "null", "float16",
    "uint64", "list", "struct", "map", "constant", "year",
)  # fmt: skip
# Kinds a CSV can carry (the rest are Parquet types).
CSV_KINDS = ("int", "float", "inf", "bool", "text", "dates", "category", "constant", "year", "timestamp")


def _names(rng: np.random.Generator, count: int) -> list[str]:
    names = [f"col{index}" for index in range(count)]
    if rng.random() < 0.7:
        return names
    for index in range(count):
        pick = rng.random()
        if pick < 0.05:
            names[index] = ""
        elif pick < 0.1 and index:
            names[index] = names[index - 1]
        elif pick < 0.15:
            names[index] = rng.choice(["year", "id", "ID", "value", "__index_level_0__", "a.b[0]", "日付", " x "])
    return names


def _table(rng: np.random.Generator, kinds: tuple[str, ...]) -> pa.Table:
    wide = rng.random() < 0.08
    count = int(rng.integers(FUZZ_MAX_COLUMNS - 2, FUZZ_MAX_COLUMNS + 3)) if wide else int(rng.integers(1, 7))
    rows = int(rng.choice([0, 1, 2, 3, 17, 17, 120, 120, 120, 2_000]))
    chosen = [kinds[int(rng.integers(len(kinds)))] for _ in range(count)]
    return pa.Table.from_arrays([_column(rng, kind, rows) for kind in chosen], names=_names(rng, count))


def _damaged(rng: np.random.Generator, content: bytes) -> bytes:
    """``content`` cut short, with bytes flipped, or with bytes inserted."""
    if not content:
        return content
    at = int(rng.integers(len(content)))
    pick = rng.random()
    if pick < 0.33:
        return content[:at]
    if pick < 0.66:
        return content[:at] + bytes([int(rng.integers(256))]) + content[at + 1 :]
    return content[:at] + bytes(rng.integers(0, 256, int(rng.integers(1, 8))).astype(np.uint8)) + content[at:]


def csv_bytes(table: pa.Table, rng: np.random.Generator | None = None) -> bytes:
    """``table`` written as pandas writes CSV (sometimes with a BOM or CRLF line ends)."""
    plain = [
        column.cast(column.type.value_type) if pa.types.is_dictionary(column.type) else column
        for column in table.columns
    ]
    frame = pa.table(plain, names=table.column_names).to_pandas()
    text = frame.to_csv(index=False, lineterminator="\r\n" if rng is not None and rng.random() < 0.2 else "\n")
    bom = "\ufeff" if rng is not None and rng.random() < 0.1 else ""
    return (bom + text).encode()


def parquet_bytes(table: pa.Table, **options: object) -> bytes:
    """``table`` written as Parquet."""
    buffer = io.BytesIO()
    pq.write_table(table, buffer, **options)
    return buffer.getvalue()


def generated_files(seed: int, count: int) -> Iterator[tuple[str, str, bytes]]:
    """``count`` generated files (name, file name, bytes), the same ones for the same seed."""
    rng = np.random.default_rng(seed)
    for number in range(count):
        as_parquet = rng.random() < 0.5
        table = _table(rng, KINDS if as_parquet else CSV_KINDS)
        if as_parquet:
            options = {"compression": rng.choice(["snappy", "zstd", "none"]), "use_dictionary": rng.random() < 0.5}
            content, filename = parquet_bytes(table, row_group_size=int(rng.integers(1, 64)), **options), "d.parquet"
        else:
            content, filename = csv_bytes(table, rng), "d.csv"
        damaged = rng.random() < 0.2
        if damaged:
            content = _damaged(rng, content)
        yield f"seed{seed}-{number}{'-damaged' if damaged else ''}", filename, content


def category_parquet() -> bytes:
    """What ``df.to_parquet()`` writes for a frame with a pandas ``category`` column (finding 2)."""
    frame = pd.DataFrame(
        {
            "region": pd.Categorical(["north", "2024-01-01", "south", "north"] * 25),
            "sales": np.arange(100, dtype="float64"),
        }
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def struct_parquet() -> bytes:
    """A Parquet file whose ``point`` column holds records (a struct)."""
    return parquet_bytes(pa.table({"point": [{"x": 1, "y": 2}] * 10, "sales": list(range(10))}))


def nested_list_parquet(depth: int) -> bytes:
    """A Parquet file with one list column nested ``depth`` levels deep."""
    values: pa.Array = pa.array([1])
    for _ in range(depth):
        values = pa.ListArray.from_arrays([0, 1], values)
    return parquet_bytes(pa.table({"deep": values, "sales": [1]}))


def wide_csv(columns: int) -> bytes:
    """A CSV whose header has ``columns`` columns (2,000,000 made a worker abort) and one row."""
    return b",".join(b"c%d" % index for index in range(columns)) + b"\n" + b"1," * (columns - 1) + b"1\n"


def long_cell_csv(chars: int, rows: int = 3) -> bytes:
    """A CSV whose second data row holds a text cell of ``chars`` characters."""
    body = [b"1,short", b"2," + b"y" * chars] + [b"%d,short" % (index + 3) for index in range(rows - 2)]
    return b"ID,note\n" + b"\n".join(body) + b"\n"
