"""Storage that stops answering: every call ends within its deadline, and a failed publish never lands later.

The app talks to fake-gcs-server through a TCP proxy started here (tests/servers.py):
"paused", the proxy holds every byte sent to the emulator and delivers it on resume,
exactly as a storage that received a request but processed it late.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from data_access import StorageError, build_live_data, make_storage_client
from data_access.publishing import Publication, Publisher
from tests.conftest import SAMPLE_CSV
from tests.servers import FakeGCS, TcpProxy

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
    return Publisher(build_live_data(settings, Flask(__name__), client))


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
