"""The chart page's data table, downloads, status states and phone layout in a real Chromium.

The app serves a real fake-gcs-server bucket; new generations are written straight to
it. Every wait polls the page with a deadline (no fixed sleeps).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from typing import Any

import pytest
from selenium.webdriver.common.by import By

from tests.browser.conftest import LiveServer
from tests.browser.test_admin import admin_users, click, sign_in, start_admin_app  # noqa: F401 (fixtures)
from tests.browser.test_live_chart import BLOB, freshness, publish, storage_notice, wait_until

# Generous deadlines: waits end as soon as the page is ready, and the machine may be busy.
LOAD_SECONDS = 40
STEP_SECONDS = 20
CITIES = ("Oslo", "Lima", "Rome")
SALES = [(i * 37) % 97 for i in range(90)]  # distinct, not increasing: a measure, not an identifier
LIMA_SALES = [SALES[i] for i in range(90) if i % 3 == 1]
TABLE_CSV = b"day,city,sales,note\n" + b"".join(
    f"2024-01-{1 + i % 28:02d},{CITIES[i % 3]},{SALES[i]},{'=cmd' if i == 4 else 'n' + str(i)}\n".encode()
    for i in range(90)
)
WIDE_CSV = (
    ",".join(f"a_rather_long_column_name_{i}" for i in range(30)).encode()
    + b"\n"
    + b"\n".join(",".join(str(i * j) for j in range(30)).encode() for i in range(20))
    + b"\n"
)

GRID_ROWS_JS = """
    const rows = [...document.querySelectorAll('#data-table .ag-center-cols-container .ag-row')];
    rows.sort((a, b) => Number(a.getAttribute('row-index')) - Number(b.getAttribute('row-index')));
    return rows.map(row => [...row.querySelectorAll('.ag-cell')]
        .sort((a, b) => Number(a.getAttribute('aria-colindex')) - Number(b.getAttribute('aria-colindex')))
        .map(cell => cell.textContent.trim()));
"""
FETCH_TEXT_JS = """
    const done = arguments[arguments.length - 1];
    fetch(arguments[0]).then(r => r.text().then(text => done([r.status, r.headers.get('content-disposition'), text])));
"""
OVERFLOW_JS = "return [document.documentElement.scrollWidth, window.innerWidth];"
TRACES_JS = """
    const gd = document.querySelector('#chart-graph .js-plotly-plot');
    return gd && gd._fullData ? JSON.stringify(gd._fullData.map(t => [t.type, t.name, Array.from(t.y || [])])) : null;
"""
ANNOTATION_JS = """
    const gd = document.querySelector('#chart-graph .js-plotly-plot');
    return gd && gd.layout && gd.layout.annotations ? gd.layout.annotations.map(a => a.text).join(' ') : '';
"""


def grid_rows(browser: Any) -> list[list[str]] | None:
    """The rows the grid shows, once every shown row has loaded (None while any is a placeholder)."""
    rows = browser.execute_script(GRID_ROWS_JS)
    return rows if rows and all(row and row[0] for row in rows) else None


def text(browser: Any, element_id: str) -> str:
    return browser.execute_script(
        "const e = document.getElementById(arguments[0]); return e ? e.innerText.trim() : '';", element_id
    )


def phone_sized(browser: Any) -> None:
    """A 390 × 844 phone screen (as Chromium's device emulation does it)."""
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True}
    )


def no_horizontal_overflow(browser: Any, what: str) -> None:
    scroll_width, inner_width = browser.execute_script(OVERFLOW_JS)
    assert inner_width == 390, f"{what}: the viewport is {inner_width} px wide"
    assert scroll_width <= inner_width, f"{what}: the page is {scroll_width} px wide at {inner_width} px"


@pytest.fixture()
def table_app(bucket: Any, gcs_settings: Any, make_app: Callable, live_server: Callable) -> LiveServer:
    publish(bucket, TABLE_CSV)
    return live_server(make_app(gcs_settings))


def test_table001_grid_shows_rows_follows_chart_filters_and_downloads_them(browser, table_app, bucket):
    browser.get(table_app.url + "/?f.city=Lima")
    wait_until(
        lambda: text(browser, "data-table-count") == "30 of 90 rows", LOAD_SECONDS, "the grid never counted the rows"
    )
    rows = wait_until(lambda: grid_rows(browser), LOAD_SECONDS, "the grid shows no rows")
    assert {row[1] for row in rows} == {"Lima"}
    fetched = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name);")
    assert [url for url in fetched if not url.startswith(table_app.url)] == []  # the grid comes from this app
    assert [row[2] for row in rows] == [str(value) for value in LIMA_SALES][: len(rows)]  # frame order

    # Sorting happens on the server: click the header twice for descending.
    header = browser.find_element(By.CSS_SELECTOR, "#data-table .ag-header-cell[col-id='c2'] .ag-header-cell-label")
    click(browser, header)
    click(browser, header)
    top = str(max(LIMA_SALES))
    wait_until(lambda: (grid_rows(browser) or [[None] * 3])[0][2] == top, LOAD_SECONDS, "sorting descending failed")

    # The download links carry the signed token and the page's filters.
    link = browser.find_element(By.ID, "download-csv")
    assert link.text == "Download CSV" and link.is_displayed()
    href = wait_until(
        lambda: (link.get_attribute("href") or "") if "f.city=Lima" in (link.get_attribute("href") or "") else None,
        STEP_SECONDS,
        "the CSV link does not carry the chart's filter",
    )
    assert "token=" in href
    browser.set_script_timeout(LOAD_SECONDS)  # the download is a real request to a possibly busy server
    status, disposition, content = browser.execute_async_script(FETCH_TEXT_JS, href)
    assert status == 200 and 'filename="data-' in disposition and "-filtered.csv" in disposition
    downloaded = list(csv.reader(io.StringIO(content, newline="")))
    assert downloaded[0] == ["day", "city", "sales", "note"]
    assert [row[2] for row in downloaded[1:]] == [str(value) for value in LIMA_SALES]
    assert ["2024-01-05", "Lima", str(SALES[4]), "'=cmd"] in [[row[0][:10], *row[1:]] for row in downloaded]

    # A new generation reaches the grid without a reload, keeping its sort.
    top_row = next(i for i in range(90) if i % 3 == 1 and SALES[i] == max(LIMA_SALES))
    publish(bucket, TABLE_CSV.replace(f",n{top_row}\n".encode(), b",updated\n"))
    wait_until(
        lambda: (grid_rows(browser) or [[None] * 4])[0][3] == "updated", LOAD_SECONDS, "the grid kept the old version"
    )
    assert browser.execute_script("return window.performance.getEntriesByType('navigation').length") == 1
    assert table_app.server_errors() == []


def test_table002_states_outage_on_arrival_version_label_and_removed_data(
    browser, bucket, gcs_settings, make_app, live_server
):
    from data_access import GCSSource, make_storage_client
    from testinfra import free_port

    blob = bucket.blob(BLOB)
    blob.metadata = {"version": "12", "uploaded_by": "alice", "description": "January figures, checked by Bob"}
    blob.upload_from_string(TABLE_CSV, content_type="text/csv")
    app = make_app(gcs_settings.with_overrides(dashboard_title="Sales", dashboard_description="Daily sales by city"))
    server = live_server(app)
    live_data = app.server.extensions["live_data"]
    working_source = live_data.source
    live_data.source = GCSSource(bucket.name, BLOB, make_storage_client("p", f"http://127.0.0.1:{free_port()}"))
    live_data.invalidate_version()
    try:
        browser.get(server.url + "/")
        notice = wait_until(lambda: storage_notice(browser), LOAD_SECONDS, "arriving during an outage showed no notice")
        assert notice.startswith("Storage is unreachable, so no data could be loaded yet.")
        assert text(browser, "live-state") == "Stale — storage unreachable"
        assert text(browser, "freshness-text") == ""  # the notice says why: no "Loading…" that never ends
        assert "unreachable" in wait_until(
            lambda: browser.execute_script(ANNOTATION_JS), STEP_SECONDS, "chart says nothing"
        )
        # The table stops waiting for a version and says why, like the chart: no "Loading…" that never ends.
        wait_until(
            lambda: text(browser, "data-table-count") == "Storage is unreachable — retrying",
            STEP_SECONDS,
            "the table's count does not say why it is empty",
        )
        assert grid_rows(browser) is None
    finally:
        live_data.source = working_source
        live_data.invalidate_version()

    label = wait_until(
        lambda: re.fullmatch(r"v12 · \d\d:\d\d \(.+\) · alice", text(browser, "freshness-text")),
        LOAD_SECONDS,
        "no version label",
    )
    assert label and text(browser, "live-state") == "Live · push"
    assert "generation " + str(blob.generation) in freshness(browser)  # the raw generation only in the tooltip
    assert str(blob.generation) not in browser.find_element(By.TAG_NAME, "body").text
    assert text(browser, "dashboard-title") == "Sales" and "Daily sales by city" in text(browser, "_pages_content")
    assert text(browser, "version-description") == "January figures, checked by Bob"
    assert re.fullmatch(r"checked \d\d:\d\d:\d\d", text(browser, "last-checked-text"))
    assert browser.find_element(By.ID, "live-dot").get_attribute("class") == "live-dot state-live"
    assert wait_until(lambda: grid_rows(browser), LOAD_SECONDS, "the table showed no rows once storage answered")

    drawn = browser.execute_script(TRACES_JS)
    assert drawn, "the chart drew nothing"
    blob.delete()
    notice = wait_until(lambda: storage_notice(browser), LOAD_SECONDS, "removing the data showed no notice")
    assert re.match(r"The data was removed at \d\d:\d\d\.", notice)
    assert text(browser, "live-state") == "Data removed"
    assert browser.execute_script(TRACES_JS) == drawn  # the last chart stays
    assert "No data" not in browser.execute_script(ANNOTATION_JS)
    page_text = browser.find_element(By.TAG_NAME, "body").text
    assert bucket.name not in page_text and BLOB not in page_text and "gs://" not in page_text
    assert server.server_errors() == []


def test_table003_phone_width_has_no_sideways_scroll_and_a_folding_menu(browser, bucket, start_admin_app):  # noqa: F811
    server = start_admin_app()
    publish(bucket, WIDE_CSV)
    phone_sized(browser)
    browser.get(server.url + "/")
    wait_until(lambda: grid_rows(browser), LOAD_SECONDS, "the wide table never showed rows")
    no_horizontal_overflow(browser, "chart page")
    links = browser.find_element(By.ID, "navbar-collapse")
    assert not links.is_displayed()
    click(browser, browser.find_element(By.ID, "navbar-toggler"))
    wait_until(lambda: links.is_displayed(), STEP_SECONDS, "the menu button did not open the links")

    browser.get(server.url + "/login")
    wait_until(lambda: browser.find_elements(By.ID, "password"), LOAD_SECONDS, "the sign-in page did not load")
    no_horizontal_overflow(browser, "sign-in page")
    sign_in(browser, server)
    no_horizontal_overflow(browser, "admin page")
    browser.get(server.url + "/no-such-page")
    wait_until(lambda: "Page not found" in browser.page_source, LOAD_SECONDS, "the not-found page did not render")
    no_horizontal_overflow(browser, "not-found page")
    assert server.server_errors() == []
