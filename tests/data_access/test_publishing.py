"""Conflict-safe publishing, history and rollback, on both back ends (real emulator, real disk)."""

from __future__ import annotations

import threading

import pandas as pd
import pytest

from data_access import GCSSource, LocalFileSource, VersionConflict, build_live_data, staging_for
from data_access.publishing import (
    Audit,
    Publication,
    Publisher,
    RestoreRefused,
    clean_filename,
    convert_table,
    diff_summary,
)
from testinfra import SAMPLE_CSV

NEW_CSV = b"ID,first_num,second_num\n1,10,10\n"


@pytest.fixture(params=["gcs", "local"])
def publisher(request, gcs_settings, gcs_client, tmp_path) -> Publisher:
    if request.param == "gcs":
        settings = gcs_settings
    else:
        (tmp_path / "data.csv").write_bytes(SAMPLE_CSV)
        settings = gcs_settings.with_overrides(data_source="local", local_data_path=tmp_path / "data.csv")
    live_data = build_live_data(settings, gcs_client)
    if request.param == "gcs":
        live_data.source.write(SAMPLE_CSV, None, {"uploaded_by": "seed"})
    return Publisher(live_data)


def _publication(content: bytes, name: str = "upload.csv") -> Publication:
    return Publication(content, content.count(b"\n") - 1, name)


def test_publish_records_audit_metadata(publisher):
    base = publisher.live_version()
    version = publisher.publish(_publication(NEW_CSV, "../../etc/passwd.csv"), "alice", base.generation)

    live = publisher.live_version()
    assert live.generation == version.generation != base.generation
    assert publisher.live_data.source.read(live.generation) == NEW_CSV
    metadata = live.metadata
    assert metadata["uploaded_by"] == "alice"
    assert metadata["original_filename"] == "passwd.csv"  # a name for people, never a path
    assert metadata["rows"] == "1"
    assert metadata["action"] == "publish"
    assert metadata["previous_generation"] == base.generation
    assert len(metadata["sha256"]) == 64 and metadata["uploaded_at"]


def test_two_admins_on_the_same_base_exactly_one_wins(publisher):
    base = publisher.live_version().generation
    results: list[object] = []
    start = threading.Barrier(2)

    def admin(name: str, content: bytes) -> None:
        start.wait()
        try:
            results.append(publisher.publish(_publication(content), name, base))
        except VersionConflict as conflict:
            results.append(conflict)

    threads = [
        threading.Thread(target=admin, args=(name, content))
        for name, content in (("alice", NEW_CSV), ("bob", NEW_CSV + b"2,2,2\n"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    conflicts = [result for result in results if isinstance(result, VersionConflict)]
    assert len(conflicts) == 1 and len(results) == 2
    winner = next(result for result in results if not isinstance(result, VersionConflict))
    assert publisher.live_version().generation == winner.generation
    assert conflicts[0].current is not None


def test_stale_base_is_refused_and_writes_nothing(publisher):
    base = publisher.live_version().generation
    publisher.publish(_publication(NEW_CSV), "alice", base)
    live_after_alice = publisher.live_version()

    with pytest.raises(VersionConflict):
        publisher.publish(_publication(b"ID,first_num,second_num\n9,9,9\n"), "bob", base)

    assert publisher.live_version() == live_after_alice


def test_restore_republishes_old_content_as_a_new_generation(publisher):
    original = publisher.live_version()
    publisher.publish(_publication(NEW_CSV), "alice", original.generation)
    bad = publisher.live_version()

    restored = publisher.restore(original.generation, "bob", bad.generation)

    assert restored.generation not in (original.generation, bad.generation)
    assert publisher.live_data.source.read(restored.generation) == SAMPLE_CSV
    live = publisher.live_version()
    assert live.metadata["action"] == "restore"
    assert live.metadata["restored_from"] == original.generation
    assert live.metadata["uploaded_by"] == "bob"


def test_restore_runs_the_upload_checks(publisher):
    """An old version the checks reject (written around the app) cannot be made live again."""
    base = publisher.live_version()
    broken = publisher.live_data.source.write(b"ID,first_num,second_num\n1,oops,2\n", base.generation, {})
    fixed = publisher.publish(_publication(NEW_CSV), "alice", broken.generation)

    with pytest.raises(RestoreRefused, match="first_num"):
        publisher.restore(broken.generation, "bob", fixed.generation)
    assert publisher.live_version() == fixed


def test_restore_with_a_stale_view_is_refused(publisher):
    original = publisher.live_version()
    publisher.publish(_publication(NEW_CSV), "alice", original.generation)

    with pytest.raises(VersionConflict):
        publisher.restore(original.generation, "bob", original.generation)


def test_history_lists_every_version_newest_first(publisher):
    first = publisher.live_version()
    second = publisher.publish(_publication(NEW_CSV), "alice", first.generation)
    third = publisher.publish(_publication(NEW_CSV + b"2,1,1\n"), "bob", second.generation)

    history = publisher.history(10)

    assert [version.generation for version in history[:3]] == [third.generation, second.generation, first.generation]
    assert history[0].metadata["uploaded_by"] == "bob"


def test_publishing_invalidates_the_version_cache(publisher):
    publisher.live_data.version_cache_seconds = 3600
    before = publisher.live_data.check_version().version
    published = publisher.publish(_publication(NEW_CSV), "alice", before.generation)
    assert publisher.live_data.check_version().version.generation == published.generation


def test_local_history_is_kept_next_to_the_data_file(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(SAMPLE_CSV)
    source = LocalFileSource(path)
    edited_on_disk = source.current_version()

    source.write(NEW_CSV, edited_on_disk.generation, {"uploaded_by": "alice"})

    assert (tmp_path / "data.csv.history").is_dir()
    assert source.read(edited_on_disk.generation) == SAMPLE_CSV  # the version edited by hand is kept too
    assert not list(tmp_path.glob(".data.csv.*.tmp"))


def test_local_history_lists_the_live_file_edited_on_disk_newest(tmp_path):
    path = tmp_path / "data.csv"
    path.write_bytes(SAMPLE_CSV)
    source = LocalFileSource(path)
    published = source.write(NEW_CSV, source.current_version().generation, {"version": "1"})
    path.write_bytes(NEW_CSV + b"2,1,1\n")  # an editor saves over the published file
    edited = source.current_version()

    history = source.history(10)

    assert [version.generation for version in history[:2]] == [edited.generation, published.generation]
    assert history[0].metadata == {}  # written outside the app, like an object written around it in a bucket
    assert source.read(history[0].generation) == NEW_CSV + b"2,1,1\n"
    assert len(source.history(10)) == 3  # listing does not keep a copy of the live file


def test_format_follows_the_configured_object_name():
    table = pd.DataFrame({"first_num": [1], "second_num": [2]})
    assert convert_table(table, "data/data.parquet").startswith(b"PAR1")
    assert convert_table(table, "data/data.csv") == b"first_num,second_num\n1,2\n"


def test_clean_filename_strips_paths_and_control_characters():
    assert clean_filename("C:\\Users\\me\\report\x07.csv") == "report.csv"
    assert clean_filename("") == "unnamed"


def test_diff_counts_added_removed_and_unchanged_rows():
    old = pd.DataFrame({"a": [1, 2, 3]})
    new = pd.DataFrame({"a": [2, 3, 4, 5], "b": [0, 0, 0, 0]})
    diff = diff_summary(old, new)
    assert (diff["added"], diff["removed"], diff["unchanged"]) == (2, 1, 2)
    assert diff["columns_added"] == ["b"]


def test_gcs_history_follows_the_audit_chain(bucket, gcs_client):
    source = GCSSource(bucket.name, "data/data.csv", gcs_client)
    first = source.write(SAMPLE_CSV, None, {"previous_generation": ""})
    second = source.write(NEW_CSV, first.generation, {"previous_generation": first.generation})
    assert [version.generation for version in source.history(10)] == [second.generation, first.generation]


def test_diff_matches_rows_across_number_types_and_sees_changed_cells():
    old = pd.DataFrame({"id": [1, 2, 3], "value": [1.0, 2.5, None], "region": ["n", "s", "e"]})
    new = pd.DataFrame({"id": [1.0, 2.0, 3.0], "value": [1, 2.5, None], "region": ["n", "s", "w"]})
    diff = diff_summary(old, new)
    # rows 1 and 2 are the same records (1 == 1.0, blanks equal); row 3 changed its region
    assert (diff["added"], diff["removed"], diff["unchanged"]) == (1, 1, 2)


def test_diff_counts_repeated_rows_as_often_as_they_occur():
    old = pd.DataFrame({"a": [7, 7, 7], "b": ["x", "x", "x"]})
    new = pd.DataFrame({"a": [7, 7], "b": ["x", "x"]})
    assert (diff_summary(old, new)["unchanged"], diff_summary(old, new)["removed"]) == (2, 1)


def test_publish_staged_copies_the_checked_generation_and_deletes_the_staged_file(publisher):
    staging = staging_for(publisher.live_data.source)
    staged = staging.stage_bytes(NEW_CSV)
    base = publisher.live_version()

    version = publisher.publish_staged(staging, staged, Audit("new.csv", "abc", 1), "alice", base.generation)

    assert publisher.live_data.source.read(version.generation) == NEW_CSV
    assert publisher.live_version().generation == version.generation
    assert staging.find(staged.upload_id) is None
    assert version.metadata["previous_generation"] == base.generation and version.metadata["sha256"] == "abc"


def test_publish_staged_over_a_stale_base_is_refused_and_keeps_the_staged_file(publisher):
    staging = staging_for(publisher.live_data.source)
    staged = staging.stage_bytes(NEW_CSV)
    base = publisher.live_version().generation
    publisher.publish(_publication(NEW_CSV + b"2,2,2\n"), "bob", base)
    live = publisher.live_version()

    with pytest.raises(VersionConflict):
        publisher.publish_staged(staging, staged, Audit("new.csv", "abc", 1), "alice", base)

    assert publisher.live_version() == live
    assert staging.find(staged.upload_id) == staged  # "Review again" can still publish it


def test_version_numbers_count_up_from_the_replaced_version_with_a_description(publisher):
    base = publisher.live_version()
    assert "version" not in base.metadata  # written outside the app
    first = publisher.publish(_publication(NEW_CSV), "alice", base.generation, "March\x07 figures " + "x" * 600)
    second = publisher.publish(_publication(NEW_CSV + b"2,1,1\n"), "bob", first.generation)
    restored = publisher.restore(first.generation, "carol", second.generation)

    assert [v.metadata["version"] for v in (first, second, restored)] == ["1", "2", "3"]
    assert first.metadata["description"].startswith("March figures xx") and len(first.metadata["description"]) == 500
    assert "description" not in second.metadata
    assert publisher.live_version().metadata["version"] == "3"


def test_diff_against_nothing_counts_every_row_and_column_as_added():
    new = pd.DataFrame({"a": [1, 2, 2], "b": ["x", "y", "y"]})
    assert diff_summary(None, new) == {
        "added": 3,
        "removed": 0,
        "unchanged": 0,
        "columns_added": ["a", "b"],
        "columns_removed": [],
    }
