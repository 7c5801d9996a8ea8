"""Many datasets under ``GCS_PREFIX`` in a real Chromium: a dataset's page follows its own object, the catalog is live.

Every object is written straight to the emulator bucket, as an outside publisher would.
"""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from tests.browser.test_live_chart import FIRST_CSV, FIRST_Y, GD, SECOND_CSV, SECOND_Y, wait_until

PREFIX = "dashboards/"
OTHER_CSV = b"ID,first_num,second_num\n1,100,200\n2,300,400\n"


def write(bucket: Any, name: str, content: bytes) -> None:
    bucket.blob(PREFIX + name).upload_from_string(content, content_type="text/csv")


def shown_y(browser: Any) -> Any:
    return browser.execute_script(
        f"const gd = {GD}; return gd && gd._fullData ? gd._fullData.map(t => Array.from(t.y || [])) : null;"
    )


def card_names(browser: Any) -> list[str]:
    # Read in one script: the cards are redrawn whenever the catalog changes.
    return browser.execute_script(
        "return Array.from(document.querySelectorAll('.catalog-card .card-title a')).map(a => a.textContent);"
    )


def card_text(browser: Any, name: str) -> str:
    return browser.execute_script(
        "const link = Array.from(document.querySelectorAll('.catalog-card .card-title a'))"
        ".find(a => a.textContent === arguments[0]); return link ? link.closest('.catalog-card').innerText : '';",
        name,
    )


@pytest.fixture()
def prefix_server(bucket, gcs_settings, make_app, live_server):
    settings = gcs_settings.with_overrides(gcs_prefix=PREFIX, poll_interval_seconds=0.5)
    return live_server(make_app(settings))


def test_datasets001_a_write_under_the_prefix_updates_its_page_and_not_another(browser, bucket, prefix_server):
    write(bucket, "sales.csv", FIRST_CSV)
    write(bucket, "costs.csv", OTHER_CSV)
    browser.get(prefix_server.url + "/d/sales")
    wait_until(lambda: shown_y(browser) == FIRST_Y, 10, "the sales chart never showed its data")
    assert browser.find_element(By.ID, "dashboard-title").text == "sales"

    write(bucket, "costs.csv", SECOND_CSV)  # another dataset changes: this page does not
    catalog = prefix_server.app.server.extensions["datasets"].catalog
    wait_until(lambda: catalog.find("costs").version.size == len(SECOND_CSV), 5, "the new costs were not listed")
    write(bucket, "sales.csv", SECOND_CSV)
    wait_until(lambda: shown_y(browser) == SECOND_Y, 5, "the sales chart did not take up its new version")
    asked = [path for _method, path, _status in list(prefix_server.responses)]
    assert not any(path.startswith("/d/costs") for path in asked)
    assert any(path.startswith("/d/sales/live/") for path in asked)
    assert prefix_server.server_errors() == []


def test_datasets002_the_catalog_shows_new_objects_drops_removed_ones_and_filters(browser, bucket, prefix_server):
    write(bucket, "sales.csv", FIRST_CSV)
    write(bucket, "costs.csv", OTHER_CSV)
    browser.get(prefix_server.url + "/")
    wait_until(lambda: card_names(browser) == ["costs", "sales"], 10, "the catalog never showed both datasets")
    costs_card = card_text(browser, "costs")
    assert "2 rows · 5 columns" in costs_card and "300" in costs_card  # size and preview

    write(bucket, "extra.csv", FIRST_CSV)
    wait_until(lambda: card_names(browser) == ["costs", "extra", "sales"], 5, "a new object did not appear")
    bucket.blob(PREFIX + "costs.csv").delete()
    wait_until(lambda: card_names(browser) == ["extra", "sales"], 5, "a removed object did not leave")

    browser.find_element(By.ID, "catalog-filter").send_keys("SAL" + Keys.TAB)
    wait_until(lambda: card_names(browser) == ["sales"], 5, "the name filter did not filter")
    browser.find_element(By.LINK_TEXT, "sales").click()
    wait_until(lambda: shown_y(browser) == FIRST_Y, 10, "the card's link did not open the dataset's chart")
    assert prefix_server.server_errors() == []


def test_datasets003_a_dataset_removed_while_its_page_is_open_says_so_and_keeps_its_data(
    browser, bucket, prefix_server
):
    write(bucket, "sales.csv", FIRST_CSV)
    browser.get(prefix_server.url + "/d/sales")
    wait_until(lambda: shown_y(browser) == FIRST_Y, 10, "the sales chart never showed its data")

    bucket.blob(PREFIX + "sales.csv").delete()
    live_state = browser.find_element(By.ID, "live-state")
    wait_until(lambda: live_state.text == "Data removed", 5, "the page did not say the dataset was removed")
    assert shown_y(browser) == FIRST_Y  # the last data stays
    browser.get(prefix_server.url + "/d/sales")  # a new visit finds no such dataset
    wait_until(lambda: "Page not found" in browser.page_source, 10, "the removed dataset's page still opened")
