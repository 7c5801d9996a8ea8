"""The live channel in a real Chromium, served the way the gunicorn worker serves it (uvicorn,
live routes on the event loop):

* a write straight to the bucket reaches the open page by push, through fake-gcs-server's
  bucket notifications, the Pub/Sub emulator and a real pull subscription — with the periodic
  check and the page's checks both set to a minute, so nothing else could have brought it;
* with the stream blocked, the page falls back to checking ``/live/version``, says so, still
  updates, and its checks are answered on the event loop (the fast path);
* a second viewer's take-up GETs are answered on the event loop from what the first one got.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from app import create_app
from settings import Settings
from testinfra import FakeGCS, PubSubEmulator, Uvicorn, emulator_client
from tests.browser.test_live_chart import (
    FIRST_CSV,
    FIRST_Y,
    SECOND_CSV,
    SECOND_Y,
    freshness,
    open_chart,
    publish,
    seconds_until_shown,
    wait_until,
    watch_for_y,
)

PROJECT = "live-test"
TOPIC = "bucket-events"
BUCKET = "notified-bucket"


@pytest.fixture(scope="module")
def pubsub() -> Iterator[PubSubEmulator]:
    with PubSubEmulator() as emulator:
        yield emulator


def _served(app: Any) -> Uvicorn:
    return Uvicorn(app).start()


def test_a_write_to_the_bucket_reaches_the_page_by_push_through_pubsub(browser, pubsub, monkeypatch, tmp_path):
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub.host)
    topic = pubsub.create_topic(PROJECT, TOPIC)
    subscription = pubsub.create_subscription(PROJECT, "dashboard", topic)
    with FakeGCS(notify=(pubsub, PROJECT, TOPIC, BUCKET)) as gcs:
        client = emulator_client(gcs)
        bucket = client.create_bucket(BUCKET)
        publish(bucket, FIRST_CSV)
        settings = Settings.from_env(
            {},
            app_env="development",
            data_source="gcs",
            gcs_bucket=BUCKET,
            storage_emulator_host=gcs.url,
            gcp_project=PROJECT,
            poll_interval_seconds=60,  # neither the page's checks ...
            version_cache_seconds=60,  # ... nor the server's periodic check can bring the write in time
            cache_dir=tmp_path / "cache",
            pubsub_subscription=subscription,
        )
        app = create_app(settings, storage_client=client)
        server = _served(app)
        try:
            open_chart(browser, server, FIRST_Y)
            wait_until(lambda: "Live · push" in freshness(browser), 10, "the page did not say it is pushed to")
            listener = app.server.extensions["live_pubsub"]
            received = listener.received

            watch_for_y(browser, SECOND_Y)
            written_at = time.time()
            publish(bucket, SECOND_CSV)
            latency = seconds_until_shown(browser, written_at, timeout=20)
            print(f"\nwrite -> chart through Pub/Sub push: {latency:.2f} s")
            assert listener.received > received  # the notification is what brought it
            assert "Live · push" in freshness(browser)
        finally:
            server.stop()
            listener = app.server.extensions.get("live_pubsub")
            if listener is not None:
                listener.close()
            app.server.extensions["live_feed"].stop()


def test_with_the_stream_blocked_the_page_checks_on_the_fast_path(browser, bucket, gcs_settings, make_app):
    publish(bucket, FIRST_CSV)
    app = make_app(gcs_settings)  # checks every 1 s
    server = _served(app)
    try:
        # A front end that never lets the stream through (as a buffering proxy would not).
        browser.execute_cdp_cmd("Network.enable", {})
        browser.execute_cdp_cmd("Network.setBlockedURLs", {"urls": ["*/live/events*"]})
        open_chart(browser, server, FIRST_Y)
        mode = f"Live · checks every {gcs_settings.poll_interval_seconds:g} s"
        wait_until(lambda: mode in freshness(browser), 10, f"the status line never said {mode!r}")
        answered = server.answered
        wait_until(lambda: server.answered >= answered + 2, 10, "the page's checks did not reach the event loop")

        watch_for_y(browser, SECOND_Y)
        written_at = time.time()
        publish(bucket, SECOND_CSV)
        seconds_until_shown(browser, written_at, timeout=10)
        assert mode in freshness(browser)
        # Every /live/version the browser sent was answered on the loop: none reached Flask.
        entries = browser.execute_script(
            "return performance.getEntriesByType('resource').filter(e => e.name.includes('/live/version')).length;"
        )
        assert entries > 0 and server.answered - answered >= 2
    finally:
        server.stop()


def test_a_second_viewer_takes_the_version_up_from_the_event_loop(browser, bucket, gcs_settings, make_app):
    publish(bucket, FIRST_CSV)
    app = make_app(gcs_settings)
    server = _served(app)
    try:
        browser.execute_cdp_cmd("Network.enable", {})
        # Another viewer's browser has nothing cached: its take-up GETs reach the server.
        browser.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        open_chart(browser, server, FIRST_Y)
        answered = server.take_ups_answered
        open_chart(browser, server, FIRST_Y)
        # Chromium drew the chart from the answer the event loop kept (its bytes, encoding and headers).
        assert server.take_ups_answered > answered
    finally:
        browser.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": False})
        server.stop()
