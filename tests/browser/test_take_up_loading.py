"""Issue 17, finding 9: a table that never fills when it asked while its version was being taken up.

The page is handed a new generation (``shown-version`` set in the browser with
``dash_clientside.set_props``, as the live channel does) while storage holds that
generation's download past its deadline: the frame cannot load yet. Every part that asked
meanwhile must say "Loading…" and be answered once the download goes through — nobody
clicks or reloads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from auth import sign
from routes.downloads import GENERATION_TOKEN_PURPOSE
from tests.browser.test_chart_table import GRID_ROWS_JS, TABLE_CSV, grid_rows, text
from tests.browser.test_faults import STORAGE_DEADLINE_SECONDS, proxy, serve_through_proxy  # noqa: F401
from tests.browser.test_live_chart import publish, wait_until

LOAD_SECONDS = 40
SECOND_CSV = b"day,city,sales,note\n" + b"".join(
    f"2024-02-{1 + i % 28:02d},Quito,{1000 + i},later{i}\n".encode() for i in range(12)
)
HEADERS_JS = "return [...document.querySelectorAll('#data-table .ag-header-cell-text')].map(e => e.textContent);"
SET_SHOWN_JS = "window.dash_clientside.set_props('shown-version', {data: arguments[0]});"


def handed_out(server: Any, generation: str) -> dict[str, Any]:
    """What the page keeps about a version it was handed (the signed generation, as the poll signs it)."""
    with server.app.server.test_request_context():
        token = sign(generation, GENERATION_TOKEN_PURPOSE)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return {
        "generation": generation,
        "token": token,
        "updated": now,
        "size": len(SECOND_CSV),
        "uploaded_by": "",
        "version": "",
        "description": "",
        "loaded_at": now,
    }


def test_takeup001_table_asked_while_the_version_loads_fills_when_it_is_ready(
    browser,
    bucket,
    proxy,  # noqa: F811
    serve_through_proxy,  # noqa: F811
):
    publish(bucket, TABLE_CSV)
    server = serve_through_proxy()
    browser.get(server.url + "/")
    wait_until(lambda: text(browser, "data-table-count") == "90 rows", LOAD_SECONDS, "the first table never filled")
    wait_until(lambda: grid_rows(browser), LOAD_SECONDS, "the first rows never showed")

    proxy.hold_requests_containing = b"alt=media"  # every download of the new generation waits
    generation = publish(bucket, SECOND_CSV)
    browser.execute_script(SET_SHOWN_JS, handed_out(server, generation))
    wait_until(lambda: text(browser, "data-table-count") == "Loading…", 10, "the table did not say it is loading")
    # Held past the storage deadline: the first attempts fail, and nothing may give up for good.
    wait_until(lambda: proxy_failed_once(server), 4 * STORAGE_DEADLINE_SECONDS + 5, "no attempt ended while held")
    assert text(browser, "data-table-count") == "Loading…"

    proxy.release_held()
    wait_until(lambda: text(browser, "data-table-count") == "12 rows", LOAD_SECONDS, "the table never filled")
    rows = wait_until(lambda: grid_rows(browser), LOAD_SECONDS, "the new rows never showed")
    assert rows[0][1:3] == ["Quito", "1000"]
    assert browser.execute_script(HEADERS_JS)[:4] == ["day", "city", "sales", "note"]
    assert browser.execute_script(GRID_ROWS_JS)
    assert server.server_errors() == []


def proxy_failed_once(server: Any) -> bool:
    """Whether a take-up GET has been told "not ready yet" (202) at least once."""
    return any(path.startswith("/live/") and status == 202 for _, path, status in list(server.responses))
