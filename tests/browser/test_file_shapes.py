"""Strange files written straight to the bucket under an open chart page, in production configuration.

gunicorn with the app's worker class (gunicorn.conf.py), APP_ENV=production, fake-gcs-server;
Chromium holds the chart page open while each file is written to the bucket as an outside
publisher would. A file the dashboards can draw becomes live; any other becomes an
"Unreadable version" with a sentence, the chart keeps the last good data, no request of the
page answers 5xx and no worker is lost (a 2,000,000-column header aborted workers before).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from data_access.parsing import DISPLAY_CELL_CHARS
from testinfra import FakeGCS, Gunicorn, gcs_env
from tests.browser.test_chart_table import grid_rows, text
from tests.browser.test_live_chart import storage_notice, trace_ys, wait_until
from tests.file_shapes import category_parquet, long_cell_csv, nested_list_parquet, struct_parquet, wide_csv

GOOD_CSV = b"ID,first_num,second_num\n1,1,2\n2,3,4\n"
GOOD_CSV_Y = [[3, 7], [2, 12]]  # add_num, multiply_num
WAIT_SECONDS = 30
STATE_JS = "const state = document.getElementById('live-state'); return state ? state.innerText : '';"


@pytest.fixture()
def deploy(fake_gcs: FakeGCS, gcs_client: Any) -> Iterator[Callable[[str, bytes], tuple[Gunicorn, Any]]]:
    """``deploy(blob, first_content)``: a bucket holding ``first_content`` and gunicorn serving it."""
    started: list[Gunicorn] = []

    def start(blob_name: str, content: bytes) -> tuple[Gunicorn, Any]:
        bucket = gcs_client.create_bucket(f"shapes-{secrets.token_hex(4)}")
        blob = bucket.blob(blob_name)
        blob.upload_from_string(content)
        server = Gunicorn(gcs_env(fake_gcs.url, bucket.name, GCS_BLOB=blob_name, POLL_INTERVAL_SECONDS="1"))
        started.append(server)
        return server.start(), blob

    yield start
    for server in started:
        server.stop()


def _state(browser: Any) -> str:
    return browser.execute_script(STATE_JS)


def _server_errors(browser: Any) -> list[tuple[str, int]]:
    statuses = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => [e.name, e.responseStatus]);"
    )
    return [(name, status) for name, status in statuses if status >= 500]


def _refused_while_chart_keeps(browser: Any, blob: Any, content: bytes, kept_y: list, *sentence: str) -> None:
    """Write ``content``; wait for "Unreadable version" and a notice with ``sentence``; the chart keeps ``kept_y``."""
    blob.upload_from_string(content)
    wait_until(
        lambda: (
            _state(browser) == "Unreadable version"
            and all(part in (storage_notice(browser) or "") for part in sentence)
        ),
        WAIT_SECONDS,
        f"the version was not called unreadable with {sentence}",
    )
    assert trace_ys(browser) == kept_y, "the chart lost the last good data"


def test_shapes001_parquet_category_drawn_struct_and_deep_lists_unreadable(browser, deploy):
    server, blob = deploy("data/data.parquet", struct_parquet())
    browser.get(server.url + "/")
    # Nothing good was ever published: the page says why instead of answering 500.
    wait_until(lambda: _state(browser) == "Unreadable version", WAIT_SECONDS, "a struct column was not refused")
    assert "Column 'point' holds records" in (storage_notice(browser) or "")
    wait_until(
        lambda: text(browser, "data-table-count") == "The data cannot be read (see the notice above)",
        WAIT_SECONDS,
        "the table did not say why it is empty (an endless 'Loading…')",
    )
    workers = sorted(server.worker_pids())

    blob.upload_from_string(category_parquet())  # df.to_parquet() with a category column
    wait_until(lambda: _state(browser).startswith("Live"), WAIT_SECONDS, "the category Parquet did not become live")
    drawn = wait_until(lambda: trace_ys(browser), WAIT_SECONDS, "the category Parquet was not drawn")
    assert drawn[0] and all(value is not None for value in drawn[0])
    wait_until(lambda: grid_rows(browser), WAIT_SECONDS, "the table showed no rows of the readable version")

    _refused_while_chart_keeps(browser, blob, struct_parquet(), drawn, "Column 'point' holds records (a struct)")
    _refused_while_chart_keeps(browser, blob, nested_list_parquet(60), drawn, "nested too deeply")

    assert _server_errors(browser) == []
    assert sorted(server.worker_pids()) == workers, server.log_tail()


def test_shapes002_csv_too_wide_or_with_a_giant_cell_is_unreadable_and_long_text_is_cut(browser, deploy):
    server, blob = deploy("data/data.csv", GOOD_CSV)
    browser.get(server.url + "/")
    wait_until(lambda: trace_ys(browser) == GOOD_CSV_Y, WAIT_SECONDS, "the chart never showed the first data")
    workers = sorted(server.worker_pids())

    wide = wide_csv(2_000_000)  # a 16 MB header
    _refused_while_chart_keeps(browser, blob, wide, GOOD_CSV_Y, "longer than 1 MiB")
    blob.upload_from_string(GOOD_CSV)
    wait_until(lambda: _state(browser).startswith("Live"), WAIT_SECONDS, "a good version after a wide one was not live")
    giant = long_cell_csv(5 * 2**20)  # one 5 MB cell
    _refused_while_chart_keeps(browser, blob, giant, GOOD_CSV_Y, "column 'note' holds 5,242,880 characters")

    # Accepted but long: the table receives the cell cut to the display length.
    blob.upload_from_string(long_cell_csv(30_000))
    rows = wait_until(
        lambda: (shown := grid_rows(browser)) and len(shown) == 3 and len(shown[0]) == 2 and shown,
        WAIT_SECONDS,
        "the table never showed the long-celled version",
    )
    assert max(len(cell) for row in rows for cell in row) <= DISPLAY_CELL_CHARS
    assert any(cell.endswith("…") for row in rows for cell in row)

    assert _server_errors(browser) == []
    assert sorted(server.worker_pids()) == workers, server.log_tail()
