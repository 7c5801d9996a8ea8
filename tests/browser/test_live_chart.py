"""The chart page in a real Chromium against the real app and a real fake-gcs-server.

Every new generation is written straight to the emulator bucket (never through the
app), as an outside publisher would. Waits poll the page with deadlines; the only
fixed-length wait is the "nothing must happen while paused" window, which is itself
checked throughout.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By

from data_access.gcs_source import METADATA_TIMEOUT_SECONDS
from tests.browser.conftest import LiveServer

BLOB = "data/data.csv"
FIRST_CSV = b"ID,first_num,second_num\n1,1,2\n2,3,4\n3,5,6\n4,7,8\n"
FIRST_Y = [[3, 7, 11, 15], [2, 12, 30, 56]]  # add_num, multiply_num (derived by the app)
SECOND_CSV = b"ID,first_num,second_num\n1,10,20\n2,30,40\n3,50,60\n4,70,80\n"
SECOND_Y = [[30, 70, 110, 150], [200, 1200, 3000, 5600]]
# The live-update target: a new generation is on screen within one poll interval + 1 s.
LATENCY_SLACK_SECONDS = 1.0

GD = "document.querySelector('#chart-graph .js-plotly-plot')"
TRACES_JS = f"""
    const gd = {GD};
    if (!gd || !gd.data) {{ return null; }}
    return gd.data.map(t => ({{type: t.type, mode: t.mode || null, name: t.name,
                               x: Array.from(t.x || []), y: Array.from(t.y || [])}}));
"""
# Records (in the page, every 10 ms) the first moment the traces' y data equal arguments[0].
WATCH_FOR_Y_JS = f"""
    const want = JSON.stringify(arguments[0]);
    window.__yShownAt = null;
    clearInterval(window.__yWatch);
    window.__yWatch = setInterval(function () {{
        const gd = {GD};
        if (gd && gd.data && JSON.stringify(gd.data.map(t => Array.from(t.y || []))) === want) {{
            window.__yShownAt = Date.now();
            clearInterval(window.__yWatch);
        }}
    }}, 10);
"""

latencies: list[float] = []  # upload -> chart updated, seconds; printed at the end of the session (-s)


def wait_until(condition: Callable[[], Any], timeout: float, message: str, interval: float = 0.05) -> Any:
    """``condition()``'s first truthy value within ``timeout`` seconds, else fail with ``message``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = condition()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"{message} (within {timeout:.1f} s; last seen: {last!r})")


def publish(bucket: Any, content: bytes) -> str:
    """Write a new generation of the data object directly to the emulator."""
    blob = bucket.blob(BLOB)
    blob.upload_from_string(content, content_type="text/csv")
    return str(blob.generation)


def trace_visibility(browser: Any) -> list[Any]:
    return browser.execute_script(f"return {GD}._fullData.map(t => t.visible);")


def hide_trace_from_legend(browser: Any, name: str) -> None:
    """Click a legend entry with the mouse, as a user hides a series."""
    entries = browser.find_elements(By.CSS_SELECTOR, "#chart-graph .legend .traces")
    entry = next(entry for entry in entries if entry.find_element(By.CSS_SELECTOR, ".legendtext").text == name)
    entry.find_element(By.CSS_SELECTOR, ".legendtoggle").click()
    wait_until(lambda: "legendonly" in trace_visibility(browser), 5, f"clicking {name} in the legend hid nothing")


def traces(browser: Any) -> list[dict[str, Any]] | None:
    return browser.execute_script(TRACES_JS)


def trace_ys(browser: Any) -> list[list[Any]] | None:
    shown = traces(browser)
    return None if shown is None else [trace["y"] for trace in shown]


def x_range(browser: Any) -> list[float]:
    return browser.execute_script(f"return {GD}._fullLayout.xaxis.range.slice();")


def freshness(browser: Any) -> str:
    """The status line as a person reads it: state words, version label, and its details tooltip."""
    label = browser.find_element(By.ID, "freshness-text")
    return f"{browser.find_element(By.ID, 'live-state').text} · {label.text} · {label.get_attribute('title')}"


def open_chart(browser: Any, server: LiveServer, expected_y: list[list[Any]]) -> None:
    browser.get(server.url + "/")
    wait_until(lambda: trace_ys(browser) == expected_y, 15, "the chart never showed the published data")


def watch_for_y(browser: Any, expected_y: list[list[Any]]) -> None:
    browser.execute_script(WATCH_FOR_Y_JS, expected_y)


def seconds_until_shown(browser: Any, since: float, timeout: float = 10) -> float:
    """Seconds from ``since`` (time.time()) until the page's watcher saw the expected data."""
    shown_at_ms = wait_until(
        # The watcher lives in the page: if the page reloaded it is gone, and waiting is pointless.
        lambda: browser.execute_script("return window.__yWatch === undefined ? 'page reloaded' : window.__yShownAt;"),
        timeout,
        "the chart never showed the new data",
    )
    assert shown_at_ms != "page reloaded", "the page reloaded instead of updating the chart in place"
    return shown_at_ms / 1000 - since


def pause_button(browser: Any) -> Any:
    return browser.find_element(By.ID, "pause-button")


def storage_notice(browser: Any) -> str | None:
    """The notice's text when it is on screen, else None."""
    return browser.execute_script(
        """
        const notice = document.getElementById('storage-notice');
        if (!notice) { return null; }
        const style = getComputedStyle(notice);
        const visible = notice.offsetParent !== null && style.visibility !== 'hidden' && style.opacity !== '0';
        return visible ? notice.innerText.trim() : null;
        """
    )


def drag_zoom(browser: Any) -> None:
    """Box-zoom with a real mouse drag over the middle of the plot area."""
    area = browser.find_element(By.CSS_SELECTOR, "#chart-graph .nsewdrag")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", area)
    rect = browser.execute_script(
        "const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.width, r.height];", area
    )
    left, top, width, height = rect
    start = (int(left + width * 0.30), int(top + height * 0.20))
    end = (int(left + width * 0.70), int(top + height * 0.80))
    actions = ActionBuilder(browser)
    mouse = actions.pointer_action
    mouse.move_to_location(*start).pointer_down()
    for step in range(1, 6):
        mouse.move_to_location(start[0] + (end[0] - start[0]) * step // 5, start[1] + (end[1] - start[1]) * step // 5)
    mouse.pointer_up()
    actions.perform()


def pick_option(browser: Any, dropdown_id: str, label: str) -> None:
    """Open a dcc.Dropdown by clicking it and click the option with ``label``."""
    browser.find_element(By.ID, dropdown_id).click()
    option = wait_until(
        lambda: next(
            (o for o in browser.find_elements(By.CSS_SELECTOR, "[role=option]") if o.text.strip() == label), None
        ),
        5,
        f"{dropdown_id} offers no option {label!r}",
    )
    option.click()


def open_options(browser: Any, dropdown_id: str) -> list[str]:
    """The labels a dcc.Dropdown offers when a user opens it (closed again afterwards)."""
    browser.find_element(By.ID, dropdown_id).click()
    labels = wait_until(
        lambda: [o.text.strip() for o in browser.find_elements(By.CSS_SELECTOR, "[role=option]") if o.is_displayed()],
        5,
        f"{dropdown_id} did not open",
    )
    ActionChains(browser).send_keys("\ue00c").perform()  # Escape
    wait_until(
        lambda: not any(o.is_displayed() for o in browser.find_elements(By.CSS_SELECTOR, "[role=option]")),
        5,
        f"{dropdown_id} did not close",
    )
    return labels


@pytest.fixture()
def chart_app(bucket: Any, gcs_settings: Any, make_app: Callable, live_server: Callable) -> LiveServer:
    """The app (poll 1 s, version cache 0.2 s) serving a bucket that holds FIRST_CSV."""
    publish(bucket, FIRST_CSV)
    return live_server(make_app(gcs_settings))


@pytest.fixture(scope="module", autouse=True)
def _report_latencies() -> Any:
    yield
    if latencies:
        figures = ", ".join(f"{value:.2f}" for value in latencies)
        print(f"\nupload -> chart updated (s): {figures}")


def test_chart001_updates_without_reload_and_keeps_zoom(browser, chart_app, bucket, gcs_settings):
    open_chart(browser, chart_app, FIRST_Y)
    browser.execute_script("window.__noReload = 42;")
    initial_range = x_range(browser)
    assert initial_range == pytest.approx([0.5, 4.5])  # autorange over IDs 1..4

    drag_zoom(browser)
    zoomed = wait_until(
        lambda: (lambda r: r if r != initial_range else None)(x_range(browser)), 5, "the mouse drag did not zoom"
    )
    assert initial_range[0] < zoomed[0] < zoomed[1] < initial_range[1]
    assert browser.execute_script(f"return {GD}._fullLayout.xaxis.autorange;") is False
    hide_trace_from_legend(browser, "multiply_num")

    watch_for_y(browser, SECOND_Y)
    uploaded_at = time.time()
    generation = publish(bucket, SECOND_CSV)
    latency = seconds_until_shown(browser, uploaded_at)
    latencies.append(latency)
    limit = gcs_settings.poll_interval_seconds + LATENCY_SLACK_SECONDS
    assert latency <= limit, f"the update took {latency:.2f} s (limit {limit:.1f} s)"

    assert browser.execute_script("return window.__noReload;") == 42  # same page, no reload
    assert chart_app.count("/") == 1 and chart_app.count("/_dash-layout") == 1
    wait_until(lambda: f"generation {generation}" in freshness(browser), 2, "freshness text lacks the new generation")
    assert x_range(browser) == zoomed  # the user's zoom survived the update
    assert trace_visibility(browser) == [True, "legendonly"]  # and so did the legend choice
    assert trace_ys(browser) == SECOND_Y
    assert chart_app.server_errors() == []


def test_chart002_pause_stops_updates_and_resume_catches_up(browser, chart_app, bucket, gcs_settings):
    interval = gcs_settings.poll_interval_seconds
    open_chart(browser, chart_app, FIRST_Y)

    pause_button(browser).click()
    wait_until(lambda: pause_button(browser).text == "Resume live updates", 2, "pause button did not switch")
    wait_until(lambda: "Paused" in freshness(browser), 2, "the status does not say paused")
    time.sleep(0.3)  # let a check that was already in flight finish before counting
    requests_before = live_requests(chart_app)

    generation = publish(bucket, SECOND_CSV)
    window_ends = time.monotonic() + 2.5 * interval
    while time.monotonic() < window_ends:
        assert trace_ys(browser) == FIRST_Y, "the chart changed while live updates were paused"
        time.sleep(0.1)
    assert live_requests(chart_app) == requests_before, "the page kept checking while paused"
    assert f"generation {generation}" not in freshness(browser)

    watch_for_y(browser, SECOND_Y)
    resumed_at = time.time()
    pause_button(browser).click()
    latency = seconds_until_shown(browser, resumed_at)
    latencies.append(latency)
    limit = interval + LATENCY_SLACK_SECONDS
    assert latency <= limit, f"catching up after resume took {latency:.2f} s (limit {limit:.1f} s)"
    assert pause_button(browser).text == "Pause live updates"
    wait_until(lambda: f"generation {generation}" in freshness(browser), 2, "freshness text lacks the new generation")
    assert "Paused" not in freshness(browser)
    assert chart_app.server_errors() == []


SET_VISIBILITY_JS = """
    Object.defineProperty(document, 'visibilityState', {value: arguments[0], configurable: true});
    document.dispatchEvent(new Event('visibilitychange'));
"""


def live_requests(server: LiveServer) -> int:
    """Requests the page made to the live channel (streams opened, versions checked)."""
    return server.count("/live/events") + server.count("/live/version")


@pytest.mark.parametrize("live_push", ["auto", "off"])
def test_chart005_hidden_tab_does_not_check_and_catches_up_when_shown(
    browser, bucket, gcs_settings, make_app, live_server, live_push
):
    """A hidden tab closes its stream (or stops checking); shown again, it catches up at once."""
    interval = 3.0  # long enough to tell "at once" from "at the next tick"
    publish(bucket, FIRST_CSV)
    settings = gcs_settings.with_overrides(poll_interval_seconds=interval, live_push=live_push)
    server = live_server(make_app(settings))
    open_chart(browser, server, FIRST_Y)
    mode = "Live · push" if live_push == "auto" else f"Live · checks every {interval:g} s"
    wait_until(lambda: mode in freshness(browser), 10, f"the status line never said {mode!r}")

    # Headless Chromium never hides a tab by itself: report "hidden" the way the browser would.
    browser.execute_script(SET_VISIBILITY_JS, "hidden")
    time.sleep(0.3)  # a check already in flight may still land
    before = live_requests(server)
    publish(bucket, SECOND_CSV)
    window_ends = time.monotonic() + 2.2 * interval
    while time.monotonic() < window_ends:
        assert trace_ys(browser) == FIRST_Y, "the hidden tab updated its chart"
        time.sleep(0.1)
    assert live_requests(server) == before, "the hidden tab kept checking"

    watch_for_y(browser, SECOND_Y)
    visible_at_ms = browser.execute_script(SET_VISIBILITY_JS + "return Date.now();", "visible")
    seconds_until_shown(browser, visible_at_ms / 1000, timeout=20)
    assert live_requests(server) > before  # it asked again as soon as it was shown
    assert server.server_errors() == []


def test_chart003_storage_outage_shows_notice_and_keeps_chart(browser, chart_app, bucket, gcs_settings):
    from data_access import GCSSource, make_storage_client
    from testinfra import free_port

    open_chart(browser, chart_app, FIRST_Y)
    assert storage_notice(browser) is None

    live_data = chart_app.app.server.extensions["live_data"]
    working_source = live_data.source
    # A port where nothing listens: a real connection failure, as when storage is unreachable.
    dead_client = make_storage_client("test-project", f"http://127.0.0.1:{free_port()}")
    try:
        live_data.source = GCSSource(bucket.name, BLOB, dead_client)
        live_data.invalidate_version()
        notice = wait_until(
            lambda: (storage_notice(browser) or "") if trace_ys(browser) == FIRST_Y else "CHART CHANGED",
            10,
            "no storage notice appeared",
        )
        assert notice != "CHART CHANGED", "the chart lost its data during the outage"
        assert re.fullmatch(r"Showing data from \d{2}:\d{2} — storage unreachable, retrying\.", notice)
        assert trace_ys(browser) == FIRST_Y  # the last good data stays on screen
        assert "generation" in freshness(browser)
    finally:
        live_data.source = working_source
        live_data.invalidate_version()

    # A check that began on the dead source keeps retrying it for its whole budget (its port never
    # comes back, unlike real storage), and the next check waits for it: allow for it.
    recovery_seconds = 2 * gcs_settings.poll_interval_seconds + 2 * METADATA_TIMEOUT_SECONDS + 1
    wait_until(lambda: storage_notice(browser) is None, recovery_seconds, "notice stayed")
    assert trace_ys(browser) == FIRST_Y
    assert chart_app.server_errors() == []
    # The browser's own view of the same requests (Resource Timing carries the HTTP status).
    statuses = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => [e.name, e.responseStatus]);"
    )
    assert [name for name, status in statuses if status >= 500] == []


def test_chart004_changing_chart_type_and_columns(browser, bucket, gcs_settings, make_app, live_server):
    publish(bucket, b"date,sales,costs\n2024-01-01,10,4\n2024-01-02,12,5\n2024-01-03,9,7\n")
    server = live_server(make_app(gcs_settings))
    browser.get(server.url + "/")
    shown = wait_until(lambda: traces(browser), 15, "the chart never showed the published data")
    # A time column on x: lines of the measures over time (dates travel as epoch milliseconds).
    assert [(trace["type"], trace["mode"], trace["name"], trace["y"]) for trace in shown] == [
        ("scatter", "lines", "sales", [10, 12, 9]),
        ("scatter", "lines", "costs", [4, 5, 7]),
    ]
    assert shown[0]["x"] == [1704067200000, 1704153600000, 1704240000000]

    assert open_options(browser, "chart-x") == ["date", "sales", "costs"]
    assert open_options(browser, "chart-y") == ["sales", "costs"]  # only numeric columns can be plotted
    assert open_options(browser, "chart-kind") == ["Lines", "Bars", "Points", "Area"]

    pick_option(browser, "chart-kind", "Bars")
    wait_until(
        lambda: [(t["type"], t["mode"]) for t in traces(browser)] == [("bar", None)] * 2,
        5,
        "choosing Bars did not redraw the traces as bars",
    )
    pick_option(browser, "chart-kind", "Points")
    wait_until(
        lambda: [(t["type"], t["mode"]) for t in traces(browser)] == [("scatter", "markers")] * 2,
        5,
        "choosing Points did not redraw the traces as markers",
    )

    pick_option(browser, "chart-x", "sales")
    wait_until(
        lambda: [(t["name"], t["x"]) for t in traces(browser)] == [("sales", [10, 12, 9]), ("costs", [10, 12, 9])],
        5,
        "choosing sales as x did not redraw the chart",
    )
    assert {t["mode"] for t in traces(browser)} == {"markers"}  # the chart type choice is kept
    assert server.server_errors() == []
