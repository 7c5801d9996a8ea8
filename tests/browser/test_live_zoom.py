"""Zoom and legend kept across live updates on every axis type, for lines and bars (real mouse).

Each case opens the chart, box-zooms with a real mouse drag, hides a series from the legend,
then writes a new generation straight to the bucket; the axis range read from
``gd._fullLayout`` must be unchanged while ``gd._fullData`` shows the new data. One case's
update makes the series' sizes 1,000× apart, so a second y axis appears, and another's makes
three series 1,000× apart each, so panels appear (the traces change): that used to replace
the whole figure and snap the axis back to its full range.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.test_live_chart import GD, drag_zoom, hide_trace_from_legend, publish, trace_visibility, wait_until

CITIES = ["Oslo", "Lima", "Rome", "Kyiv", "Bern", "Riga", "Baku", "Doha"]


def _identifier(rows: int, seed: int, scale: int = 1) -> bytes:
    lines = [f"{i},{(i * seed) % 37 * scale},{((i * 3 + seed) % 19 + 1) * scale}" for i in range(1, rows + 1)]
    return ("ID,first_num,second_num\n" + "\n".join(lines) + "\n").encode()


def _category(seed: int) -> bytes:
    lines = [f"{CITIES[i % 8]},{(i * seed) % 37},{(i * 3 + seed) % 19}" for i in range(40)]
    return ("city,sales,costs\n" + "\n".join(lines) + "\n").encode()


def _numeric(seed: int) -> bytes:
    lines = [f"{i * 0.5 + 0.25},{(i * seed) % 37},{(i * 3 + seed) % 19}" for i in range(30)]
    return ("distance,sales,costs\n" + "\n".join(lines) + "\n").encode()


def _three(seed: int, spread: int = 1) -> bytes:
    lines = [
        f"{i * 0.5 + 0.25},{(i * seed) % 37 + 1},{((i + seed) % 19 + 1) * spread},{(i % 7 + 1) * spread**2}"
        for i in range(30)
    ]
    return ("distance,sales,costs,visits\n" + "\n".join(lines) + "\n").encode()


def _dates(seed: int) -> bytes:
    lines = [f"2024-01-{i + 1:02d},{(i * seed) % 37},{(i * 3 + seed) % 19}" for i in range(28)]
    return ("day,sales,costs\n" + "\n".join(lines) + "\n").encode()


# name: (first version, query, second version, the x axis type plotly draws, series to hide)
CASES = {
    "identifier-bars": (_identifier(24, 5), "", _identifier(24, 7), "linear", "multiply_num"),
    "identifier-lines": (_identifier(24, 5), "?kind=line", _identifier(20, 7), "linear", "multiply_num"),
    "identifier-bars-second-axis-appears": (
        _identifier(24, 5),
        "",
        _identifier(24, 7, scale=1000),
        "linear",
        "add_num",
    ),
    "category-bars": (_category(5), "", _category(7), "category", "costs"),
    "category-lines": (_category(5), "?kind=line", _category(7), "category", "costs"),
    "numeric-lines": (_numeric(5), "?kind=line", _numeric(7), "linear", "costs"),
    "numeric-bars": (_numeric(5), "?kind=bar", _numeric(7), "linear", "costs"),
    # Sizes 1 : 1,000 : 1,000,000 after the update: one panel per measure (small multiples).
    "numeric-lines-panels-appear": (_three(5), "?kind=line", _three(7, spread=1000), "linear", "visits"),
    "date-lines": (_dates(5), "", _dates(7), "date", "costs"),
    "date-bars": (_dates(5), "?kind=bar", _dates(7), "date", "costs"),
}

AXES_JS = f"""
    const gd = {GD};
    if (!gd || !gd._fullLayout || !gd._fullLayout.xaxis) {{ return null; }}
    return {{type: gd._fullLayout.xaxis.type, x: gd._fullLayout.xaxis.range.slice(),
             autorange: gd._fullLayout.xaxis.autorange,
             y: gd._fullData.map(t => Array.from(t.y || []))}};
"""


def axes(browser: Any) -> dict[str, Any] | None:
    return browser.execute_script(AXES_JS)


@pytest.mark.parametrize("case", list(CASES))
def test_zoom001_zoom_and_legend_survive_a_new_generation(browser, bucket, gcs_settings, make_app, live_server, case):
    first, query, second, axis_type, series = CASES[case]
    publish(bucket, first)
    server = live_server(make_app(gcs_settings))
    browser.get(server.url + "/" + query)
    before = wait_until(lambda: (lambda a: a if a and a["y"] else None)(axes(browser)), 20, "no chart appeared")
    assert before["type"] == axis_type

    drag_zoom(browser)
    zoomed = wait_until(
        lambda: (lambda a: a if a["x"] != before["x"] else None)(axes(browser)), 5, "the mouse drag did not zoom"
    )
    assert zoomed["autorange"] is False
    hide_trace_from_legend(browser, series)
    hidden = trace_visibility(browser)
    # The zoom's own detail request may still be in flight: take the state once it has settled.
    zoomed = wait_until(lambda: (lambda a: a if a == axes(browser) else None)(axes(browser)), 5, "never settled")

    publish(bucket, second)
    after = wait_until(
        lambda: (lambda a: a if a["y"] != zoomed["y"] else None)(axes(browser)), 20, "the new data never showed"
    )
    assert after["x"] == zoomed["x"], f"{case}: the zoom was lost ({zoomed['x']} became {after['x']})"
    assert after["autorange"] is False
    assert trace_visibility(browser) == hidden, f"{case}: the legend choice was lost"
    assert server.server_errors() == []


def _sales(extra: str = "") -> bytes:
    rows = [
        (region, product) for region in ("north", "south", "east", "west") for product in ("tea", "coffee", "cocoa")
    ]
    lines = [f"{region},{product},{index * 3 % 17 + 1}" for index, (region, product) in enumerate(rows)]
    return ("region,product,sales\n" + "\n".join(lines) + "\n" + extra).encode()


def test_zoom002_a_page_opened_without_a_view_keeps_its_axes_and_zoom_when_new_data_would_change_them(
    browser, bucket, gcs_settings, make_app, live_server
):
    # The default x is the category with the fewest values: product (3) before, region (4 vs 4) after one new row.
    publish(bucket, _sales())
    server = live_server(make_app(gcs_settings))
    browser.get(server.url + "/")
    x_title = f"const gd = {GD}; return gd && gd._fullLayout.xaxis ? (gd._fullLayout.xaxis.title || {{}}).text : null;"
    wait_until(lambda: browser.execute_script(x_title) == "product", 20, "the default chart never drew product")
    before = axes(browser)
    drag_zoom(browser)
    zoomed = wait_until(
        lambda: (lambda a: a if a["x"] != before["x"] else None)(axes(browser)), 5, "the mouse drag did not zoom"
    )
    zoomed = wait_until(lambda: (lambda a: a if a == axes(browser) else None)(axes(browser)), 5, "never settled")

    publish(bucket, _sales("north,mate,5\n"))
    after = wait_until(
        lambda: (lambda a: a if a["y"] != zoomed["y"] else None)(axes(browser)), 20, "the new data never showed"
    )
    assert browser.execute_script(x_title) == "product", "a new version switched the page's x axis"
    assert after["x"] == zoomed["x"], f"the zoom was lost ({zoomed['x']} became {after['x']})"
    assert "x=product" in browser.current_url  # the pinned view: a reload or a copied link shows the same
    assert server.server_errors() == []
