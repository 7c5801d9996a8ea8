"""Storage faults under a live Chromium: slow, slower than the deadline, down, and back.

The app reaches fake-gcs-server only through a TCP proxy started here on 127.0.0.1
(``testinfra.TcpProxy``), which adds latency or refuses connections. New data
is written straight to the emulator, as an outside publisher would. Every wait is a
condition with a deadline.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app import create_app
from data_access import make_storage_client
from data_access.live_data import VERSION_LOCK_SECONDS
from testinfra import SAMPLE_CSV, FakeGCS, TcpProxy
from tests.browser.conftest import LiveServer
from tests.browser.test_admin import (
    NEW_CSV,
    choose_file,
    click,
    live_generation,
    publish_button,
    sign_in,
    text_of,
    wait_for_preview_chart,
    write,
)
from tests.browser.test_admin import admin_users as admin_users  # fixture
from tests.browser.test_live_chart import (
    BLOB,
    FIRST_CSV,
    FIRST_Y,
    SECOND_CSV,
    SECOND_Y,
    open_chart,
    publish,
    storage_notice,
    trace_ys,
    wait_until,
)

STORAGE_DEADLINE_SECONDS = 3
NOTICE = re.compile(r"Showing data from \d{2}:\d{2} — storage unreachable, retrying\.")


@pytest.fixture()
def proxy(fake_gcs: FakeGCS) -> Iterator[TcpProxy]:
    with TcpProxy(fake_gcs.port) as running:
        yield running


@pytest.fixture()
def serve_through_proxy(gcs_settings: Any, proxy: TcpProxy, live_server: Callable) -> Callable[..., LiveServer]:
    """``serve_through_proxy(**overrides)``: the app, reaching storage only through ``proxy``."""

    def start(**overrides: Any) -> LiveServer:
        settings = gcs_settings.with_overrides(
            storage_emulator_host=proxy.url, storage_deadline_seconds=STORAGE_DEADLINE_SECONDS, **overrides
        )
        client = make_storage_client(settings.gcp_project, proxy.url)
        return live_server(create_app(settings, storage_client=client))

    return start


def _no_server_errors(browser: Any, server: LiveServer) -> None:
    assert server.server_errors() == []
    statuses = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => [e.name, e.responseStatus]);"
    )
    assert [name for name, status in statuses if status >= 500] == []


def _notice_while_chart_keeps(browser: Any, expected_y: list[list[Any]], timeout: float) -> str:
    notice = wait_until(
        lambda: (storage_notice(browser) or "") if trace_ys(browser) == expected_y else "CHART CHANGED",
        timeout,
        "no storage notice appeared",
    )
    assert notice != "CHART CHANGED", "the chart lost its data during the fault"
    return notice


def test_faults001_slow_and_down_storage_keep_the_chart_and_recover(
    browser, bucket, gcs_settings, proxy, serve_through_proxy
):
    publish(bucket, FIRST_CSV)
    server = serve_through_proxy()
    open_chart(browser, server, FIRST_Y)
    poll = gcs_settings.poll_interval_seconds

    # Slow (every chunk delayed, within the deadline): the chart still follows, no notice.
    proxy.latency = 0.4
    publish(bucket, SECOND_CSV)
    wait_until(lambda: trace_ys(browser) == SECOND_Y, 20, "with slow storage the new data never showed")
    assert storage_notice(browser) is None

    # Slower than the deadline: "unreachable", the last good data stays on screen.
    proxy.latency = STORAGE_DEADLINE_SECONDS + 2
    assert NOTICE.fullmatch(_notice_while_chart_keeps(browser, SECOND_Y, 6 * STORAGE_DEADLINE_SECONDS))
    proxy.latency = 0
    # Recovers at the first poll after the check in flight gives up (its lock expires by then).
    recovery = poll + max(STORAGE_DEADLINE_SECONDS, VERSION_LOCK_SECONDS) + 1
    wait_until(lambda: storage_notice(browser) is None, recovery, "the notice stayed after storage recovered")

    # Down (connections refused): the same notice, the same data; back within one poll.
    proxy.set_down(True)
    assert NOTICE.fullmatch(_notice_while_chart_keeps(browser, SECOND_Y, 4 * STORAGE_DEADLINE_SECONDS))
    proxy.set_down(False)
    wait_until(lambda: storage_notice(browser) is None, 2 * poll + 1, "the notice stayed after storage came back")
    assert trace_ys(browser) == SECOND_Y
    _no_server_errors(browser, server)


def test_faults002_admin_publish_while_storage_is_down_explains_and_loses_nothing(
    browser, bucket, proxy, serve_through_proxy, admin_users, tmp_path
):
    bucket.blob(BLOB).upload_from_string(SAMPLE_CSV, content_type="text/csv")
    server = serve_through_proxy(admin_users=admin_users)
    sign_in(browser, server)
    base = live_generation(bucket)
    choose_file(browser, write(tmp_path, "march.csv", NEW_CSV))
    wait_until(lambda: publish_button(browser).is_enabled(), 10, "Publish stayed disabled after a valid preview")
    wait_for_preview_chart(browser)

    proxy.set_down(True)
    click(browser, publish_button(browser))
    result = wait_until(
        lambda: (lambda text: text if "Nothing was published" in text else None)(
            text_of(browser, "admin-publish-result")
        ),
        4 * STORAGE_DEADLINE_SECONDS,
        "publishing during the outage gave no explanation",
    )
    assert "storage" in result and "Try again" in result
    assert live_generation(bucket) == base
    # Nothing lost: the previewed file and the Publish button are still there.
    assert text_of(browser, "admin-valid").startswith("march.csv: 4 rows")
    assert publish_button(browser).is_enabled()

    proxy.set_down(False)
    click(browser, publish_button(browser))
    wait_until(
        lambda: "Published v1 · march.csv · " in text_of(browser, "admin-publish-result"),
        4 * STORAGE_DEADLINE_SECONDS,
        "publishing again after the outage did not succeed",
    )
    assert bucket.get_blob(BLOB).download_as_bytes() == NEW_CSV
    _no_server_errors(browser, server)
