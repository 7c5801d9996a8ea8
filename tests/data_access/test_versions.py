"""Version labels: the short names What changed gives two compared versions."""

from __future__ import annotations

from datetime import UTC, datetime

from data_access import DataVersion
from data_access.versions import compared_labels

TODAY = datetime.now(UTC).date().isoformat()


def version(generation: str, time: str, number: str = "") -> DataVersion:
    return DataVersion(generation, f"{TODAY}T{time}+00:00", 10, {"version": number} if number else {})


def test_versions001_compared_labels_name_the_version_and_time_never_the_generation():
    assert compared_labels(version("1733412345678902", "14:07:31", "12"), version("17", "13:02:00", "11")) == (
        "v12 · 14:07",
        "v11 · 13:02",
    )
    # Written outside the app: the time alone, to the second when both were written in the same minute.
    assert compared_labels(version("1733412345678902", "14:07:31"), version("1733412345678901", "14:07:02")) == (
        "14:07:31",
        "14:07:02",
    )
    assert compared_labels(version("1733412345678902", "14:07:31"), version("1733412345678901", "14:07:31")) == (
        "this version",
        "the compared version",
    )
