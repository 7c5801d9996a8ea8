"""Any table read right, in a real Chromium: real public tables published one after another.

A long table (prices per symbol) is one line per symbol over dates; a wide table that holds
more measures than are drawn says so; measures of very different sizes never share an axis;
whole-number years get whole-number ticks. The tables come from ``vega_datasets`` (bundled
with the package, no network) and are written straight to the emulator bucket; assertions
read ``gd._fullData`` / ``gd._fullLayout`` (what plotly drew) and the tick labels on screen.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tests.browser.test_chart_view import APPEAR_SECONDS, csv_of, drawn, names
from tests.browser.test_live_chart import GD, publish, wait_until
from tests.shapes import many_symbols, vega

# Per trace: its axis and its largest absolute y; the x axis's type and first x values.
SHAPE_JS = f"""
    const gd = {GD};
    if (!gd || !gd._fullData || !gd._fullLayout || !gd._fullLayout.xaxis) {{ return null; }}
    return {{
        traces: gd._fullData.map(t => ({{name: t.name, yaxis: t.yaxis,
            peak: Math.max(...Array.from(t.y || []).filter(Number.isFinite).map(Math.abs)),
            first_x: Array.from(t.x || []).slice(0, 2)}})),
        x_type: gd._fullLayout.xaxis.type,
        x_ticks: Array.from(document.querySelectorAll('#chart-graph .xtick text')).map(t => t.textContent),
    }};
"""


def shape(browser: Any) -> dict[str, Any] | None:
    return browser.execute_script(SHAPE_JS)


def flat_axes(traces: list[dict[str, Any]]) -> list[str]:
    """The y axes on which one trace peaks more than 100× above another."""
    peaks: dict[str, list[float]] = {}
    for trace in traces:
        peaks.setdefault(trace["yaxis"], []).append(trace["peak"])
    return [axis for axis, values in peaks.items() if max(values) > 100 * min(values)]


# Each line of the chart's title, the plot's SVG and the toolbar, as boxes on screen.
TITLE_BOXES_JS = """
    const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
    const title = document.querySelector('#chart-graph .gtitle');
    if (!title) { return null; }
    const lines = Array.from(title.querySelectorAll('tspan.line'));
    return {lines: (lines.length ? lines : [title]).map(box),
            svg: box(document.querySelector('#chart-graph .main-svg')),
            modebar: box(document.querySelector('#chart-graph .modebar')),
            plot: box(document.querySelector('#chart-graph .nsewdrag'))};
"""


def title_fits_a_phone(browser: Any) -> None:
    """At 390 px every title line ends inside the chart, above the plot, and runs under no toolbar button."""
    browser.set_window_size(390, 844)
    wait_until(lambda: browser.execute_script("return window.innerWidth;") <= 390, 5, "the window did not shrink")
    wait_until(
        lambda: (browser.execute_script(TITLE_BOXES_JS) or {}).get("svg", [0, 0, 9999])[2] <= 390,
        10,
        "the chart did not follow the window",
    )
    boxes = browser.execute_script(TITLE_BOXES_JS)
    assert len(boxes["lines"]) >= 2, boxes  # what is left out is on a line of its own
    for _left, top, right, bottom in boxes["lines"]:
        assert right <= boxes["svg"][2], ("a title line is cut off", boxes)
        assert bottom <= boxes["plot"][1], ("a title line runs into the plot", boxes)
        modebar = boxes["modebar"]
        assert bottom <= modebar[1] or top >= modebar[3] or right <= modebar[0], (
            "a title line is under the toolbar",
            boxes,
        )
    browser.set_window_size(1300, 900)


def test_shape001_long_wide_and_whole_number_tables_published_one_after_another(
    browser, bucket, gcs_settings, make_app, live_server
):
    stocks = vega("stocks")  # long: symbol, date, price; GOOG's prices start in 2004
    publish(bucket, csv_of(stocks))
    server = live_server(make_app(gcs_settings))
    browser.get(server.url + "/")
    symbols = ["MSFT", "AMZN", "IBM", "AAPL", "GOOG"]
    wait_until(lambda: names(browser) == symbols, APPEAR_SECONDS, "the long stocks table was not one line per symbol")
    chart, seen = drawn(browser), shape(browser)
    assert {(t["type"], t["mode"]) for t in chart["traces"]} == {("scatter", "lines")}
    assert chart["x_type"] == "date" and chart["x_title"] == "date"
    goog = next(trace for trace in seen["traces"] if trace["name"] == "GOOG")
    assert goog["first_x"][0] == np.datetime64("2004-08-01", "ms").astype("int64")  # its own years, not a mean
    # The view first drawn is pinned in the link (a new version keeps it), its series colour included.
    wait_until(lambda: "x=date" in browser.current_url and "color=symbol" in browser.current_url, 5, "not pinned")

    publish(bucket, csv_of(many_symbols()))  # 41 symbols: the 8 largest + other, and the page says so
    wait_until(
        lambda: "8 of 41 symbols + other" in ((drawn(browser) or {}).get("title") or ""),
        APPEAR_SECONDS,
        "the left-out symbols were not said",
    )
    assert len(names(browser)) == 9 and names(browser)[-1] == "other"

    publish(bucket, csv_of(vega("us_employment")))  # wide: 23 measures, 6 drawn
    wait_until(
        lambda: "6 of 23 measures — choose in Chart options" in ((drawn(browser) or {}).get("title") or ""),
        APPEAR_SECONDS,
        "the left-out measures were not said",
    )
    assert flat_axes(shape(browser)["traces"]) == []
    assert {trace["yaxis"] for trace in shape(browser)["traces"]} == {"y", "y2"}
    title_fits_a_phone(browser)

    publish(bucket, csv_of(vega("cars")))  # Cylinders (max 8) beside Weight_in_lbs (max 5,140)
    # Its default is one measure per origin over the model years: ask for all six.
    browser.get(server.url + "/?x=Year&y=Miles_per_Gallon,Cylinders,Displacement,Horsepower,Weight_in_lbs,Acceleration")
    wait_until(
        lambda: len((shape(browser) or {}).get("traces", [])) == 6 and "Weight_in_lbs" in names(browser),
        APPEAR_SECONDS,
        "the cars chart never appeared",
    )
    assert flat_axes(shape(browser)["traces"]) == []

    publish(bucket, csv_of(vega("barley")))  # year 1931, 1932 on a numeric axis
    browser.get(server.url + "/?x=year&y=yield&kind=bar")
    wait_until(lambda: names(browser) == ["yield"], APPEAR_SECONDS, "the barley chart never appeared")
    ticks = wait_until(lambda: (shape(browser) or {}).get("x_ticks"), APPEAR_SECONDS, "no x ticks drawn")
    assert ticks == ["1931", "1932"]
    assert server.server_errors() == []
