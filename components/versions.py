"""Versions in people's words: "v7 · stocks.csv · 14:07 · alice", the generation in a tooltip only.

The status line (``versionLabel`` in ``assets/live_dashboard.js``) uses the same order; the admin
page adds the file name, and the date when it is not today.
"""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, datetime, tzinfo

from dash import html

from data_access import DataVersion

SEPARATOR = " · "
OUTSIDE_THE_APP = "written outside the app"
_MAX_ZONE_NAME = 64


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def reader_zone(name: object) -> tzinfo:
    """The browser's IANA time zone (sent by the page), or UTC when it is missing or unknown here."""
    if isinstance(name, str) and len(name) <= _MAX_ZONE_NAME and name in _known_zones():
        return zoneinfo.ZoneInfo(name)
    return UTC


def _moment(updated: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(updated)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def clock_time(updated: str, zone: tzinfo, now: datetime | None = None) -> str:
    """'14:07' today, '3 Dec 14:07' earlier this year, '3 Dec 2025 14:07' before (in ``zone``)."""
    moment = _moment(updated)
    if moment is None:
        return "at an unknown time"
    local, today = moment.astimezone(zone), (now or datetime.now(UTC)).astimezone(zone)
    if local.date() == today.date():
        return f"{local:%H:%M}"
    if local.year == today.year:
        return f"{local.day} {local:%b %H:%M}"
    return f"{local.day} {local:%b %Y %H:%M}"


def version_number(version: DataVersion) -> str:
    """ "v12" for a version published from this app, "" for data written outside it."""
    number = version.metadata.get("version", "")
    return f"v{number}" if number.isdigit() else ""


def version_label(version: DataVersion, zone: tzinfo, now: datetime | None = None) -> str:
    """ "v7 · stocks.csv · 14:07 · alice"; without a number: "updated 14:07 · written outside the app"."""
    metadata = version.metadata
    when = clock_time(version.updated, zone, now)
    number, filename = version_number(version), metadata.get("original_filename", "")
    who = metadata.get("uploaded_by", "")
    if number:
        return SEPARATOR.join(part for part in (number, filename, when, who) if part)
    # Published by this app before version numbers existed, or not by this app: still say who.
    return SEPARATOR.join(part for part in (filename, f"updated {when}", who or OUTSIDE_THE_APP) if part)


def version_details(version: DataVersion, zone: tzinfo) -> str:
    """The tooltip: the exact moment with its zone, and the storage generation (for operators)."""
    moment = _moment(version.updated)
    exact = f"{moment.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}" if moment else version.updated
    return f"{exact}{SEPARATOR}generation {version.generation}"


def version_text(version: DataVersion, zone: tzinfo, **props: object) -> html.Span:
    """The label, with the exact time and the generation in its tooltip."""
    return html.Span(version_label(version, zone), title=version_details(version, zone), **props)
