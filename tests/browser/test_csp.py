"""The Content-Security-Policy in a real Chromium: every registered page, WebGL traces, and a control.

The ``browser`` fixture fails any test whose console shows a CSP violation, so the admin
flows (tests/browser/test_admin.py) are checked under the policy too; these tests add every
page Dash has registered — whatever other branches add — and a chart drawn with WebGL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dash
import numpy as np
import pandas as pd
from selenium.webdriver.common.by import By

from serving import PLOTLY_STRICT_PATTERN, vendored_url
from tests.browser.conftest import LiveServer, csp_violations
from tests.browser.test_live_chart import BLOB, wait_until

WEBGL_ROWS = 6_000  # above the 5,000 points where the chart switches to scattergl
FULL_TYPES_JS = """
    const gd = document.querySelector('#chart-graph .js-plotly-plot');
    return gd && gd._fullData ? gd._fullData.map(t => t.type) : null;
"""


def _large_csv(rows: int) -> bytes:
    numbers = np.arange(rows)
    frame = pd.DataFrame({"ID": numbers, "first_num": numbers * 2, "second_num": np.sqrt(numbers)})
    return frame.to_csv(index=False).encode()


def _page_paths() -> list[str]:
    """The path of every page Dash registered, plus the sign-in page (served by Flask)."""
    paths = [page["path"] for page in dash.page_registry.values() if "<" not in page["path"]]
    return [*sorted(set(paths)), "/login"]


def test_csp001_every_page_and_a_webgl_chart_run_without_violations(
    browser: Any, bucket: Any, gcs_settings: Any, make_app: Callable, live_server: Callable
):
    bucket.blob(BLOB).upload_from_string(_large_csv(WEBGL_ROWS), content_type="text/csv")
    # A budget above the WebGL threshold, so one trace really gets more than 5,000 points.
    server: LiveServer = live_server(make_app(gcs_settings.with_overrides(max_chart_points=20_000)))

    browser.get(server.url + "/")
    types = wait_until(lambda: browser.execute_script(FULL_TYPES_JS), 20, "the chart never drew")
    assert "scattergl" in types, types
    wait_until(lambda: browser.find_elements(By.CSS_SELECTOR, "#chart-graph canvas"), 10, "no WebGL canvas was drawn")
    assert server.count(vendored_url(PLOTLY_STRICT_PATTERN)) == 1
    assert not [path for _, path, _ in server.responses if path.endswith("/plotly.min.js")], "regular bundle loaded"
    assert csp_violations(browser) == []

    for path in _page_paths():
        browser.get(server.url + path)
        wait_until(
            lambda: browser.execute_script("return document.readyState") == "complete", 10, f"{path} did not load"
        )
        # A Dash page has run its scripts once its root has content (/admin may redirect to /login).
        wait_until(
            lambda: browser.execute_script(
                "const root = document.getElementById('react-entry-point');"
                "return root === null || root.innerText.trim().length > 0;"
            ),
            10,
            f"{path} rendered nothing",
        )
        assert csp_violations(browser) == [], path
    assert server.server_errors() == []


def test_csp002_an_unhashed_inline_script_is_reported(
    browser: Any, make_app: Callable, live_server: Callable, local_csv: Any
):
    """Control: the console check does see a violation when there is one."""
    from settings import Settings

    app = make_app(Settings.from_env({}, app_env="development", data_source="local", local_data_path=local_csv))
    server = live_server(app)
    # /login is a plain HTML page under the same policy; inject a script the policy does not list.
    browser.get(server.url + "/login")
    browser.execute_script(
        "const s = document.createElement('script'); s.textContent = 'window.injected = 1;';"
        "document.body.appendChild(s);"
    )
    violations = wait_until(lambda: csp_violations(browser), 5, "the browser reported no violation")
    assert "script-src" in violations[0]
    assert browser.execute_script("return window.injected === undefined")
