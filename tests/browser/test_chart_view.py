"""The chart view in a real Chromium: honest defaults on public datasets, the view in the URL,
a spike in a million rows, zoom re-resolved by a 2-worker gunicorn, and a phone-sized screen.

The datasets are real public tables that plotly ships offline (``plotly.express.data``),
written to the bucket (or file) the app serves. Assertions read ``gd._fullData`` (what plotly
really drew), never ``gd.data``. Every wait is on a condition.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
from selenium.webdriver.common.by import By

from tests.browser.test_live_chart import GD, drag_zoom, pick_option, publish, wait_until
from tests.test_app import _gunicorn

# Deadlines for the page to show something: generous, because the machine may be busy (waits end as soon as
# the condition holds; only a failing test waits this long).
APPEAR_SECONDS = 30
# gapminder's continents, most rows first (the legend's order).
CONTINENTS = ["Africa", "Asia", "Europe", "Americas", "Oceania"]

DRAWN_JS = f"""
    const gd = {GD};
    if (!gd || !gd._fullData || !gd._fullLayout || !gd._fullLayout.xaxis) {{ return null; }}
    const layout = gd._fullLayout;
    return {{
        traces: gd._fullData.map(t => ({{type: t.type, mode: t.mode || null, name: t.name, yaxis: t.yaxis,
                                        fill: t.fill || null, points: (t.x || []).length}})),
        x_title: layout.xaxis.title?.text ?? null, x_type: layout.xaxis.type,
        y_title: layout.yaxis.title?.text ?? null, y2_title: layout.yaxis2?.title?.text ?? null,
        title: layout.title?.text ?? null,
        panels: (layout.annotations || []).map(a => a.text),
    }};
"""
# The largest y drawn by the first trace, and how many of its points fall inside [low, high] of x.
FIRST_TRACE_JS = f"""
    const trace = {GD}._fullData[0];
    const ys = Array.from(trace.y);
    const xs = Array.from(trace.x);
    const [low, high] = arguments.length ? arguments : [-Infinity, Infinity];
    return {{max: Math.max(...ys), inside: xs.filter(x => x >= low && x <= high).length}};
"""


def drawn(browser: Any) -> dict[str, Any] | None:
    return browser.execute_script(DRAWN_JS)


def names(browser: Any) -> list[str] | None:
    shown = drawn(browser)
    return None if shown is None else [trace["name"] for trace in shown["traces"]]


def csv_of(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def test_view001_default_charts_for_public_datasets_are_honest(browser, bucket, gcs_settings, make_app, live_server):
    """Time series → lines; country/year table → lines over the years per continent; tips, iris → bars of means.

    On the first one, also the layout: a phone-sized window and the toolbar.
    """
    publish(bucket, csv_of(px.data.stocks()))
    server = live_server(make_app(gcs_settings))
    browser.get(server.url + "/")

    stocks = ["GOOG", "AAPL", "AMZN", "FB", "NFLX", "MSFT"]
    wait_until(lambda: names(browser) == stocks, APPEAR_SECONDS, "the stocks chart never appeared")
    chart = drawn(browser)
    assert {(t["type"], t["mode"]) for t in chart["traces"]} == {("scatter", "lines")}
    assert chart["x_type"] == "date" and chart["x_title"] == "date"
    check_layout_and_toolbar(browser)

    # A new generation with other columns: the page follows it, with that table's own defaults.
    # One row per country and year: lines over the years, one per continent (never a mean over all years).
    publish(bucket, csv_of(px.data.gapminder()))
    wait_until(lambda: names(browser) == CONTINENTS, APPEAR_SECONDS, "the gapminder chart never appeared")
    chart = drawn(browser)
    assert {(t["type"], t["mode"]) for t in chart["traces"]} == {("scatter", "lines")}
    assert chart["x_title"] == "year" and chart["y_title"] == "mean of lifeExp"
    assert all(trace["points"] == 12 for trace in chart["traces"])  # one point per year
    assert "mean per year and continent" in chart["title"] and "1 of 3 measures" in chart["title"]

    publish(bucket, csv_of(px.data.iris()))
    measures = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    wait_until(
        lambda: names(browser) == measures, APPEAR_SECONDS, "the iris chart never appeared"
    )  # species_id is no measure
    chart = drawn(browser)
    assert chart["x_title"] == "species" and chart["y_title"].startswith("mean of sepal_length")

    publish(bucket, csv_of(px.data.tips()))
    wait_until(lambda: names(browser) == ["total_bill", "tip", "size"], APPEAR_SECONDS, "the tips chart never appeared")
    chart = drawn(browser)
    assert {t["type"] for t in chart["traces"]} == {"bar"} and chart["x_type"] == "category"
    assert server.server_errors() == []


def test_view002_copied_link_reproduces_the_view_and_back_forward_work(
    browser, second_browser, bucket, gcs_settings, make_app, live_server
):
    publish(bucket, csv_of(px.data.gapminder()))
    server = live_server(make_app(gcs_settings))
    browser.get(server.url + "/")
    wait_until(lambda: names(browser) == CONTINENTS, APPEAR_SECONDS, "the default chart never appeared")

    browser.get(server.url + "/?x=continent")  # a link naming x alone: bars of every measure per continent
    wait_until(lambda: names(browser) == ["lifeExp", "pop", "gdpPercap"], APPEAR_SECONDS, "x=continent not drawn")
    pick_option(browser, "chart-x", "year")
    wait_until(lambda: "x=year" in browser.current_url, 5, "choosing x did not reach the URL")
    pick_option(browser, "chart-kind", "Lines")
    pick_option(browser, "chart-color", "continent")
    wait_until(lambda: "color=continent" in browser.current_url, 5, "choosing a colour did not reach the URL")
    pick_option(browser, "chart-agg", "Median")
    wait_until(lambda: "agg=median" in browser.current_url, 5, "choosing an aggregation did not reach the URL")
    # Three measures of very different sizes: one panel each, named above it.
    wait_until(lambda: "median of lifeExp" in ((drawn(browser) or {}).get("panels") or []), 5, "median not drawn")
    assert len(names(browser)) == 15  # 3 measures × 5 continents
    assert {(t["type"], t["mode"]) for t in drawn(browser)["traces"]} == {("scatter", "lines")}
    before_filter = browser.current_url

    pick_option(browser, "chart-filter-column", "continent")
    pick_option(browser, "chart-filter-values", "Asia")
    wait_until(lambda: "f.continent=Asia" in browser.current_url, 5, "the value filter did not reach the URL")
    # One panel per measure, each trace named by its group (the panel names the measure).
    asia = ["Asia", "Asia", "Asia"]
    wait_until(lambda: names(browser) == asia, 5, "the value filter was not applied")
    assert [trace["yaxis"] for trace in drawn(browser)["traces"]] == ["y", "y2", "y3"]
    shown = drawn(browser)
    link = browser.current_url

    second_browser.get(link)  # a colleague opens the copied link: a fresh browser, no shared state
    wait_until(lambda: drawn(second_browser) == shown, APPEAR_SECONDS, "the link did not reproduce the view")
    assert second_browser.find_element(By.ID, "chart-x").text.strip() == "year"

    browser.back()
    wait_until(lambda: browser.current_url == before_filter, 5, "back did not return to the previous URL")
    wait_until(lambda: len(names(browser) or []) == 15, 15, "back did not redraw the unfiltered view")
    browser.forward()
    wait_until(lambda: drawn(browser) == shown, 15, "forward did not bring the view back")

    second_browser.get(server.url + "/?x=gone&kind=pie&y=lifeExp&utm=1")
    wait_until(lambda: names(second_browser) == CONTINENTS, 15, "a stale link did not fall back to defaults")
    assert drawn(second_browser)["y_title"] == "mean of lifeExp"
    notice = second_browser.find_element(By.ID, "chart-notice").text
    assert "gone" in notice and "kind='pie'" in notice and "utm" in notice
    assert server.server_errors() == []


def _spiky_million_rows(path: Any) -> None:
    rows = 1_000_000
    values = np.round(np.sin(np.arange(rows) / 20_000.0), 3)
    values[654_321] = 25.0
    frame = pd.DataFrame({"time": pd.date_range("2024-01-01", periods=rows, freq="s"), "reading": values})
    frame.to_parquet(path, index=False)


def test_view003_spike_in_a_million_rows_and_zoom_detail_on_two_gunicorn_workers(browser, tmp_path):
    path = tmp_path / "readings.parquet"
    _spiky_million_rows(path)
    env = {
        "DATA_SOURCE": "local",
        "LOCAL_DATA_PATH": str(path),
        "DATA_SCHEMA": "",
        "SECRET_KEY": "a-test-secret-that-is-long-and-random-0123456789",
        "ADMIN_USERS": "alice:scrypt:131072:8:1$salt$0123abcd",
        "MAX_CHART_POINTS": "4000",
    }
    with _gunicorn(env, workers=2) as base_url:
        browser.get(base_url + "/")
        wait_until(lambda: names(browser) == ["reading"], 30, "the million-row chart never appeared")
        full = browser.execute_script(FIRST_TRACE_JS)
        assert full["max"] == 25.0  # the one-row spike is drawn at full view
        assert "showing 4,000 of 1,000,000 points" in drawn(browser)["title"]

        # Keep the full view's x values in the page, to count later how many fell inside the zoomed range.
        browser.execute_script(f"window.__fullViewX = Array.from({GD}._fullData[0].x);")
        low, _ = browser.execute_script(f"const ax = {GD}._fullLayout.xaxis; return ax.range.map(v => ax.r2l(v));")
        drag_zoom(browser)  # a real mouse drag over the middle 40 % of the x axis
        zoomed = wait_until(
            lambda: (lambda r: r if abs(r[0] - low) > 1 else None)(
                browser.execute_script(f"const ax = {GD}._fullLayout.xaxis; return ax.range.map(v => ax.r2l(v));")
            ),
            10,
            "the mouse drag did not zoom",
        )
        before = browser.execute_script(
            "const [low, high] = arguments; return window.__fullViewX.filter(x => x >= low && x <= high).length;",
            *zoomed,
        )

        def zoom_detail() -> dict | None:
            # The title and the traces may be drawn a moment apart: wait for the points, not only the words.
            seen = browser.execute_script(FIRST_TRACE_JS, *zoomed)
            return seen if "in view" in drawn(browser)["title"] and seen["inside"] > 2 * before else None

        wait_until(zoom_detail, 30, f"the zoom never brought more than {2 * before} points into the zoomed range")
        assert (
            browser.execute_script(f"const ax = {GD}._fullLayout.xaxis; return ax.range.map(v => ax.r2l(v));") == zoomed
        )


def check_layout_and_toolbar(browser: Any) -> None:
    """At 390×844 the chart is above the fold with no sideways scroll; the toolbar offers no cloud, covers no legend."""
    browser.set_window_size(390, 844)
    wait_until(lambda: browser.execute_script("return window.innerWidth;") <= 390, 5, "the window did not shrink")
    # The graph follows the window (plotly redraws after a resize): then nothing may stick out sideways.
    wait_until(
        lambda: browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth;"),
        10,
        "the page scrolls sideways at 390 px",
    )
    graph_top, viewport = browser.execute_script(
        "return [document.getElementById('chart-graph').getBoundingClientRect().top, window.innerHeight];"
    )
    assert graph_top < viewport * 0.6, "the chart starts below the fold"
    assert not browser.find_element(By.ID, "chart-x").is_displayed()  # controls folded away
    browser.find_element(By.ID, "chart-options-toggle").click()
    wait_until(lambda: browser.find_element(By.ID, "chart-x").is_displayed(), 5, "the options did not open")

    browser.set_window_size(1300, 900)
    overlap = browser.execute_script(
        """
        const a = document.querySelector('#chart-graph .modebar').getBoundingClientRect();
        const b = document.querySelector('#chart-graph .legend').getBoundingClientRect();
        return !(a.right < b.left || b.right < a.left || a.bottom < b.top || b.bottom < a.top);
        """
    )
    assert not overlap, "the toolbar covers the legend"
    config = browser.execute_script(f"const c = {GD}._context; return [c.showSendToCloud, c.displaylogo];")
    assert config == [False, False]
    buttons = browser.execute_script(
        "return Array.from(document.querySelectorAll('#chart-graph .modebar-btn')).map(b => b.dataset.title);"
    )
    assert buttons and not [title for title in buttons if "Studio" in title or "cloud" in title.lower()]
