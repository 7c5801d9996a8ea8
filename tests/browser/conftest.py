"""Browser fixtures: the real app served over HTTP on 127.0.0.1, and a headless Chromium driving it.

* ``live_server(app)`` serves an app built by ``make_app`` with werkzeug in a thread and
  records the status of every response, so tests can assert that nothing answered 5xx.
* ``browser`` is Debian's Chromium through Debian's chromedriver (plain Selenium, no
  downloads), with a fresh profile per test. It always runs headless (``make test`` passes
  ``--headless``; there is no display to run a headed browser on anyway).
* Every browser test is also a Content-Security-Policy test: when the browser quits, its
  console must hold no CSP violation (Chromium reports each one there), so every page and
  flow any test opens is checked under the real policy.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from testinfra import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr: :class:`LiveServer` records what the tests need."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


@dataclass
class LiveServer:
    """One app served on 127.0.0.1 in a background thread."""

    app: Any
    url: str
    server: BaseWSGIServer
    thread: threading.Thread
    responses: list[tuple[str, str, int]] = field(default_factory=list)

    def server_errors(self) -> list[tuple[str, str, int]]:
        """Every (method, path, status) answered with a 5xx so far."""
        return [response for response in list(self.responses) if response[2] >= 500]

    def count(self, path: str) -> int:
        return sum(response[1] == path for response in list(self.responses))


def _recording(wsgi_app: Callable, responses: list[tuple[str, str, int]]) -> Callable:
    def app(environ: dict, start_response: Callable) -> Any:
        def recording_start_response(status: str, headers: list, exc_info: Any = None) -> Any:
            responses.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), int(status.split()[0])))
            return start_response(status, headers, exc_info)

        return wsgi_app(environ, recording_start_response)

    return app


@pytest.fixture()
def live_server() -> Iterator[Callable[[Any], LiveServer]]:
    """``live_server(app)`` starts serving ``app`` and returns its :class:`LiveServer`."""
    started: list[LiveServer] = []

    def start(app: Any) -> LiveServer:
        responses: list[tuple[str, str, int]] = []
        port = free_port()
        server = make_server(
            "127.0.0.1", port, _recording(app.server.wsgi_app, responses), threaded=True, request_handler=_QuietHandler
        )
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        live = LiveServer(app=app, url=f"http://127.0.0.1:{port}", server=server, thread=thread, responses=responses)
        started.append(live)
        return live

    yield start
    for live in started:
        live.server.shutdown()
        live.server.server_close()
        live.thread.join(timeout=5)


def _chromium() -> Iterator[Any]:
    """A headless Chromium (Selenium WebDriver) with a throw-away profile, quit afterwards."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("chromium and chromedriver are not installed (make system-deps installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="browser-test-profile-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--no-first-run",
        "--no-default-browser-check",
        # Timers of a page must tick at full rate: the live loop is driven by one.
        "--disable-background-timer-throttling",
        "--disable-renderer-backgrounding",
        "--lang=en-US",
        "--window-size=1300,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP violations are console errors
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(20)
    driver.set_script_timeout(10)
    try:
        yield driver
        violations = csp_violations(driver)
        assert not violations, f"Content-Security-Policy violations in the browser console: {violations}"
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def csp_violations(driver: Any) -> list[str]:
    """CSP violations Chromium logged since the last call (reading the log empties it)."""
    messages = [entry["message"] for entry in driver.get_log("browser")]
    return [message for message in messages if "Content Security Policy" in message]


@pytest.fixture()
def browser() -> Iterator[Any]:
    """A headless Chromium with a throw-away profile."""
    yield from _chromium()


@pytest.fixture()
def second_browser() -> Iterator[Any]:
    """Another headless Chromium, independent of ``browser`` (own process and profile, no shared cookies)."""
    yield from _chromium()
