"""Sizes and counts in the words people read: megabytes of 10^6 bytes, thousands separators.

One function per thing, used by every message that shows a file size or a row count
(``admin/static/admin_upload.js`` has the browser's copy of :func:`megabytes`, with the same rounding).
"""

from __future__ import annotations

import math

#: A megabyte as people and file managers count it (and as ``MAX_UPLOAD_MB`` is read).
MB = 1_000_000
KB = 1_000


def megabytes(size: int, *, round_up: bool = False) -> str:
    """``size`` bytes as "12.35 MB" (2 decimals); ``round_up`` so a size over a limit never reads as equal."""
    value = size / MB
    if round_up:
        value = math.ceil(value * 100) / 100
    return f"{value:,.2f} MB"


def file_size(size: int) -> str:
    """A stored file's size, short: "812 bytes", "52 kB", "3.4 MB", "128 MB" (decimal units)."""
    if size < KB:
        return f"{size:,} byte{'' if size == 1 else 's'}"
    if size < MB:
        return f"{size / KB:,.0f} kB"
    value = size / MB
    return f"{value:,.1f} MB" if value < 100 else f"{value:,.0f} MB"


def count(number: int, noun: str = "") -> str:
    """``number`` with thousands separators, and ``noun`` made plural when it needs to be: "3,000,000 rows"."""
    if not noun:
        return f"{number:,}"
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
