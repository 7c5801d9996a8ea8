"""A version as the admin page shows it: its label, with the exact time and the generation in a tooltip."""

from __future__ import annotations

import functools
import zoneinfo
from datetime import UTC, tzinfo

from dash import html

from data_access import DataVersion
from data_access.versions import version_details, version_label

_MAX_ZONE_NAME = 64


@functools.cache
def _known_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def reader_zone(name: object) -> tzinfo:
    """The browser's IANA time zone (sent by the page), or UTC when it is missing or unknown here."""
    if isinstance(name, str) and len(name) <= _MAX_ZONE_NAME and name in _known_zones():
        return zoneinfo.ZoneInfo(name)
    return UTC


def version_text(version: DataVersion, zone: tzinfo, **props: object) -> html.Span:
    """The label, with the exact time and the generation in its tooltip."""
    return html.Span(version_label(version, zone), title=version_details(version, zone), **props)
