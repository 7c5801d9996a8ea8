"""Storage that stops answering: every call ends within its deadline, and a failed publish never lands later.

The app talks to fake-gcs-server through a TCP proxy started here (``testinfra.TcpProxy``):
"paused", the proxy holds every byte sent to the emulator and delivers it on resume,
exactly as a storage that received a request but processed it late.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from data_access import StorageError, VersionConflict, build_live_data, make_storage_client, staging_for
from data_access.publishing import Audit, Publication, Publisher
from data_access.sources import DataVersion, GenerationNotFound
from testinfra import SAMPLE_CSV, FakeGCS, GenerationMatchProxy, TcpProxy

BLOB = "data/data.csv"
NEW_CSV = b"ID,first_num,second_num\n1,10,10\n"


@pytest.fixture()
def proxy(fake_gcs: FakeGCS) -> Iterator[TcpProxy]:
    with TcpProxy(fake_gcs.port) as running:
        yield running


@pytest.fixture()
def publisher(bucket: Any, gcs_settings: Any, proxy: TcpProxy) -> Publisher:
    bucket.blob(BLOB).upload_from_string(SAMPLE_CSV)
    settings = gcs_settings.with_overrides(storage_emulator_host=proxy.url, storage_deadline_seconds=2)
    client = make_storage_client(settings.gcp_project, proxy.url)
    return Publisher(build_live_data(settings, client))


def test_publish_to_a_paused_storage_fails_and_never_lands_later(bucket, proxy, publisher):
    before = bucket.get_blob(BLOB)
    proxy.pause()
    try:
        with pytest.raises(StorageError, match="nothing was sent"):
            publisher.publish(Publication(NEW_CSV, 1, "new.csv"), "alice", str(before.generation))
    finally:
        proxy.resume()
    proxy.wait_idle()  # everything the app sent has now reached storage and been answered

    after = bucket.get_blob(BLOB)
    assert after.generation == before.generation
    assert after.download_as_bytes() == SAMPLE_CSV


def test_version_check_against_a_paused_storage_reports_an_error(bucket, proxy, publisher):
    proxy.pause()
    try:
        with pytest.raises(StorageError):
            publisher.live_data.source.current_version()
    finally:
        proxy.resume()
    assert publisher.live_data.source.current_version().generation == str(bucket.get_blob(BLOB).generation)


def test_publish_with_storage_down_reports_failure_and_writes_nothing(bucket, proxy, publisher):
    before = bucket.get_blob(BLOB)
    proxy.set_down(True)
    with pytest.raises(StorageError):
        publisher.publish(Publication(NEW_CSV, 1, "new.csv"), "alice", str(before.generation))
    proxy.set_down(False)
    assert bucket.get_blob(BLOB).generation == before.generation
    published = publisher.publish(Publication(NEW_CSV, 1, "new.csv"), "alice", str(before.generation))
    assert bucket.get_blob(BLOB).generation == int(published.generation)  # and works again once it is back


def test_an_upload_that_landed_but_got_no_answer_is_reported_as_published(bucket, proxy, publisher):
    before = bucket.get_blob(BLOB)
    proxy.lose_answers_to = b"uploadType=multipart"  # storage writes it; its answer is lost on the way
    published = publisher.publish(Publication(NEW_CSV, 1, "new.csv"), "alice", str(before.generation))
    proxy.lose_answers_to = None

    live = bucket.get_blob(BLOB)
    assert published.generation == str(live.generation) != str(before.generation)
    assert live.download_as_bytes() == NEW_CSV


def test_an_upload_that_reaches_storage_late_can_never_land(bucket, proxy, publisher):
    """The upload is held on its way (storage is up); the app gives up, cancels it for good, says so."""
    before = bucket.get_blob(BLOB)
    proxy.hold_requests_containing = NEW_CSV  # only the upload carries these bytes
    try:
        with pytest.raises(StorageError, match="nothing was published"):
            publisher.publish(Publication(NEW_CSV, 1, "new.csv"), "alice", str(before.generation))
    finally:
        proxy.release_held()
    proxy.wait_idle()  # the late upload has now reached storage, and been refused

    live = bucket.get_blob(BLOB)
    assert live.download_as_bytes() == SAMPLE_CSV  # the version that was live, re-written as it was
    assert live.metadata == before.metadata


# Publishing a staged upload is a copy inside storage. fake-gcs-server ignores ifGenerationMatch
# on copies, so these run through GenerationMatchProxy, which enforces it as GCS does.


@pytest.fixture()
def strict_proxy(fake_gcs: FakeGCS) -> Iterator[TcpProxy]:
    """The fault proxy in front of a stand-in that enforces ``ifGenerationMatch`` on copies."""
    with GenerationMatchProxy(fake_gcs.port) as strict, TcpProxy(strict.port) as running:
        running.strict = strict  # type: ignore[attr-defined]
        yield running


@pytest.fixture()
def strict_publisher(bucket: Any, gcs_settings: Any, strict_proxy: TcpProxy) -> Publisher:
    bucket.blob(BLOB).upload_from_string(SAMPLE_CSV)
    settings = gcs_settings.with_overrides(storage_emulator_host=strict_proxy.url, storage_deadline_seconds=2)
    client = make_storage_client(settings.gcp_project, strict_proxy.url)
    return Publisher(build_live_data(settings, client))


def _staged(publisher: Publisher, content: bytes = NEW_CSV) -> tuple[Any, Any]:
    staging = staging_for(publisher.live_data.source)
    return staging, staging.stage_bytes(content)


def test_a_copy_that_reaches_storage_late_never_lands_after_the_admin_was_told_it_failed(
    bucket, strict_proxy, strict_publisher
):
    before = bucket.get_blob(BLOB)
    staging, staged = _staged(strict_publisher)
    strict_proxy.hold_requests_containing = b"/rewriteTo/"  # the copy is held on its way; storage is up
    try:
        with pytest.raises(StorageError, match="nothing was published"):
            strict_publisher.publish_staged(
                staging, staged, Audit("new.csv", "abc", 1), "alice", str(before.generation)
            )
    finally:
        strict_proxy.release_held()
    strict_proxy.wait_idle()  # the late copy has now reached storage

    live = bucket.get_blob(BLOB)
    assert strict_proxy.strict.refused == 1  # refused by its precondition, not lost on the way
    assert live.download_as_bytes() == SAMPLE_CSV and live.metadata == before.metadata
    # The staged file is still there: the admin can publish it again, once.
    again = strict_publisher.publish_staged(staging, staged, Audit("new.csv", "abc", 1), "alice", str(live.generation))
    assert bucket.get_blob(BLOB).generation == int(again.generation)


def test_a_copy_whose_answer_is_lost_is_reported_as_published(bucket, strict_proxy, strict_publisher):
    before = bucket.get_blob(BLOB)
    staging, staged = _staged(strict_publisher)
    strict_proxy.lose_answers_to = b"/rewriteTo/"  # storage copies it; the answer never comes back
    version = strict_publisher.publish_staged(
        staging, staged, Audit("new.csv", "abc", 1), "alice", str(before.generation)
    )
    strict_proxy.lose_answers_to = None

    live = bucket.get_blob(BLOB)
    assert version.generation == str(live.generation) != str(before.generation)
    assert live.download_as_bytes() == NEW_CSV


def _publish_at_once(publisher: Publisher, jobs: list[tuple[str, Any, Any]], base: str) -> list[Any]:
    """Run every (user, staging, staged) publish over ``base`` at the same moment; each outcome in order."""
    start = threading.Barrier(len(jobs))
    outcomes: list[Any] = [None] * len(jobs)

    def run(index: int, user: str, staging: Any, staged: Any) -> None:
        start.wait()
        try:
            outcomes[index] = publisher.publish_staged(staging, staged, Audit("new.csv", "abc", 1), user, base)
        except Exception as error:  # the outcome under test
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(index, *job)) for index, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return outcomes


def test_a_double_click_publishes_one_version_once(bucket, strict_publisher):
    base = str(bucket.get_blob(BLOB).generation)
    staging, staged = _staged(strict_publisher)

    outcomes = _publish_at_once(strict_publisher, [("alice", staging, staged)] * 2, base)

    published = [outcome for outcome in outcomes if isinstance(outcome, DataVersion)]
    assert len(published) == 1, outcomes
    assert all(
        isinstance(outcome, (VersionConflict, GenerationNotFound)) for outcome in outcomes if outcome not in published
    )
    history = strict_publisher.history(10)
    assert [version.metadata.get("version") for version in history].count("1") == 1
    assert history[0].generation == published[0].generation


def test_concurrent_admins_over_one_base_publish_exactly_one_version(bucket, strict_publisher):
    base = str(bucket.get_blob(BLOB).generation)
    jobs = [
        (user, *_staged(strict_publisher, NEW_CSV + f"{n},{n},{n}\n".encode()))
        for n, user in enumerate(["alice", "bob", "carol"], 2)
    ]

    outcomes = _publish_at_once(strict_publisher, jobs, base)

    published = [outcome for outcome in outcomes if isinstance(outcome, DataVersion)]
    assert len(published) == 1, outcomes
    assert sum(isinstance(outcome, VersionConflict) for outcome in outcomes) == 2
    assert str(bucket.get_blob(BLOB).generation) == published[0].generation
