"""Versions in people's words: "v7 · stocks.csv · 14:07 · alice" (``versionLabel`` in ``live_dashboard.js`` too)."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from data_access.sources import DataVersion

SEPARATOR = " · "
OUTSIDE_THE_APP = "written outside the app"


def _moment(updated: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(updated)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def clock_time(updated: str, zone: tzinfo = UTC, now: datetime | None = None) -> str:
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


def version_label(version: DataVersion, zone: tzinfo = UTC, now: datetime | None = None, with_file: bool = True) -> str:
    """ "v7 · stocks.csv · 14:07 · alice"; without a number: "updated 14:07 · written outside the app"."""
    when = clock_time(version.updated, zone, now)
    filename = version.metadata.get("original_filename", "") if with_file else ""
    number, who = version_number(version), version.metadata.get("uploaded_by", "")
    if number:
        return SEPARATOR.join(part for part in (number, filename, when, who) if part)
    # Published by this app before version numbers existed, or not by this app: still say who.
    return SEPARATOR.join(part for part in (filename, f"updated {when}", who or OUTSIDE_THE_APP) if part)


def version_details(version: DataVersion, zone: tzinfo) -> str:
    """The tooltip: the exact moment with its zone, and the storage generation (for operators)."""
    moment = _moment(version.updated)
    exact = f"{moment.astimezone(zone):%Y-%m-%d %H:%M:%S %Z}" if moment else version.updated
    return f"{exact}{SEPARATOR}generation {version.generation}"


def compared_labels(current: DataVersion, before: DataVersion) -> tuple[str, str]:
    """Short names of two compared versions ("v12 · 14:07", "14:05"), to the second when the minutes coincide."""
    labels = [SEPARATOR.join(filter(None, (version_number(v), clock_time(v.updated)))) for v in (current, before)]
    if labels[0] == labels[1]:
        moments = [_moment(version.updated) for version in (current, before)]
        labels = [f"{label}:{moment:%S}" if moment else label for label, moment in zip(labels, moments, strict=True)]
    # Two edits within one second: the labels must still tell the chart's traces apart.
    return (labels[0], labels[1]) if labels[0] != labels[1] else ("this version", "the compared version")
