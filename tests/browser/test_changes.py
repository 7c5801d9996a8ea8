""" "What changed" in a real Chromium: versions with known changes written straight to fake-gcs-server.

The summary, the ghost traces (``gd._fullData``) and the changed-rows table are read from the
browser and checked against what was written; a third version arriving while the switch is on
shows what it changed, and the user's zoom survives it.
"""

from __future__ import annotations

import csv
import io
import re
import urllib.request
from typing import Any

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from tests.browser.test_live_chart import GD, drag_zoom, publish, wait_until, x_range

V1 = b"id,name,price\n1,a,10\n2,b,20\n3,c,30\n4,d,40\n5,e,50\n"
# id 2 removed, id 6 added, id 3 price 30 -> 33 and id 5 name e -> E (2 changed values).
V2 = b"id,name,price\n1,a,10\n3,c,33\n4,d,40\n5,E,50\n6,f,60\n"
V2_SUMMARY = "+1 row · −1 row · 2 changed values"
# then: id 1 removed, id 4 price 40 -> 44.
V3 = b"id,name,price\n3,c,33\n4,d,44\n5,E,50\n6,f,60\n"
V3_SUMMARY = "−1 row · 1 changed value"
VIEW = "/?x=id&y=price&kind=line&changes=1"

FULL_TRACES_JS = f"""
    const gd = {GD};
    if (!gd || !gd._fullData) {{ return null; }}
    return gd._fullData.map(t => ({{name: t.name, dash: (t.line || {{}}).dash, opacity: t.opacity,
                                    x: Array.from(t.x || []), y: Array.from(t.y || [])}}));
"""
GRID_ROWS_JS = """
    const api = window.dash_ag_grid && dash_ag_grid.getApi('changes-table');
    if (!api) { return null; }
    const rows = [];
    api.forEachNode(node => rows.push(node.data));
    return rows;
"""


def full_traces(browser: Any) -> list[dict[str, Any]] | None:
    return browser.execute_script(FULL_TRACES_JS)


def summary(browser: Any) -> str:
    found = browser.find_elements(By.ID, "changes-summary")
    return found[0].text if found else ""


def grid_rows(browser: Any, first_change: str) -> list[dict[str, Any]] | None:
    """The changed-rows table's rows once its first row is ``first_change``."""
    rows = browser.execute_script(GRID_ROWS_JS)
    return rows if rows and rows[0]["change"] == first_change else None


def test_changes001_summary_ghosts_and_changed_rows(browser, bucket, gcs_settings, make_app, live_server):
    first = publish(bucket, V1)
    server = live_server(make_app(gcs_settings.with_overrides(data_schema="")))
    browser.get(server.url + VIEW)
    wait_until(lambda: "first version" in summary(browser), 15, "the page never said there is nothing before v1")

    second = publish(bucket, V2)
    wait_until(lambda: V2_SUMMARY in summary(browser), 15, "the summary of v2's changes never appeared")
    assert " vs " in summary(browser) and second not in summary(browser)  # versions by time, not generation
    assert "Rows matched on id" in browser.find_element(By.ID, "changes-matching").text
    link = browser.find_element(By.ID, "download-changes").get_attribute("href")
    with urllib.request.urlopen(link, timeout=10) as response:  # the link the page drew, as a browser follows it
        downloaded = list(csv.reader(io.StringIO(response.read().decode())))
    assert downloaded == [
        ["change", "id", "name", "price"],
        ["added", "6", "f", "60"],
        ["removed", "2", "b", "20"],
        ["changed", "3", "c", "30 → 33"],
        ["changed", "5", "e → E", "50"],
    ]

    traces = wait_until(
        lambda: (lambda shown: shown if shown and len(shown) == 2 else None)(full_traces(browser)),
        10,
        "the chart never drew the ghost of v1",
    )
    now, ghost = traces
    labels = summary(browser).split(": ")[0].split(" vs ")
    assert [now["name"], ghost["name"]] == [f"price · {label}" for label in labels] and first not in ghost["name"]
    assert (now["x"], now["y"]) == ([1, 3, 4, 5, 6], [10, 33, 40, 50, 60])
    assert (ghost["x"], ghost["y"]) == ([1, 2, 3, 4, 5], [10, 20, 30, 40, 50])
    assert ghost["dash"] == "dash" and ghost["opacity"] < 1 and now["dash"] == "solid"
    legend = [entry.text for entry in browser.find_elements(By.CSS_SELECTOR, "#chart-graph .legendtext")]
    assert legend == [now["name"], ghost["name"]]

    switch = browser.find_element(By.ID, "changes-only-rows")
    ActionChains(browser).scroll_to_element(switch).move_to_element(switch).click().perform()
    rows = wait_until(lambda: grid_rows(browser, "added"), 10, "the changed-rows table stayed empty")
    assert [(row["change"], row["c0"]) for row in rows] == [
        ("added", "6"),
        ("removed", "2"),
        ("changed", "3"),
        ("changed", "5"),
    ]
    assert rows[2]["c2"] == "30 → 33" and rows[3]["c1"] == "e → E"
    assert browser.find_element(By.ID, "data-table-area").get_attribute("hidden") is not None
    struck = browser.execute_script(
        "const row = document.querySelector('#changes-table .ag-row.change-removed');"
        "return row && getComputedStyle(row.querySelector('.ag-cell')).textDecorationLine;"
    )
    assert struck == "line-through"
    wait_until(
        lambda: (
            sorted(cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "#changes-table .change-cell"))
            == ["30 → 33", "e → E"]
        ),
        10,
        "the changed cells were not marked",
    )

    drag_zoom(browser)
    zoomed = wait_until(lambda: (lambda r: r if r != [0.5, 6.5] else None)(x_range(browser)), 5, "no zoom")
    third = publish(bucket, V3)
    wait_until(lambda: V3_SUMMARY in summary(browser), 15, "a new version while on did not show what it changed")
    assert third not in summary(browser)
    wait_until(
        lambda: (lambda traces: traces and len(traces) == 2 and traces[1]["x"] == [1, 3, 4, 5, 6])(
            full_traces(browser)
        ),
        10,
        "the ghost did not move on to v2",
    )
    assert x_range(browser) == zoomed  # the zoom survived the new version
    rows = wait_until(lambda: grid_rows(browser, "removed"), 10, "the changed rows did not follow v3")
    assert [(row["change"], row["c0"]) for row in rows] == [("removed", "1"), ("changed", "4")]
    assert server.server_errors() == []


def test_changes002_an_edit_on_disk_is_compared_with_the_version_published_before(
    browser, tmp_path, make_app, live_server
):
    from data_access.local_source import LocalFileSource
    from settings import Settings

    path = tmp_path / "data.csv"
    path.write_bytes(b"id,name,price\n1,a,1\n")
    source = LocalFileSource(path)
    source.write(V1, source.current_version().generation, {"version": "1", "action": "publish"})
    settings = Settings.from_env({}, app_env="development", data_source="local", local_data_path=path, data_schema="")
    server = live_server(make_app(settings))
    browser.get(server.url + VIEW)
    wait_until(lambda: summary(browser).startswith("v1 · "), 15, "the page never compared v1 with the one before")

    path.write_bytes(V2)  # README's quick start: edit data/data.csv in an editor
    edited = source.current_version().generation
    wait_until(lambda: V2_SUMMARY in summary(browser), 15, "an edit on disk was not compared with v1")
    assert re.match(r"\d\d:\d\d vs v1 · \d\d:\d\d: ", summary(browser)) and edited not in summary(browser)
