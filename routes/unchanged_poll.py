"""The unchanged poll, answered in front of Flask and Dash.

Nearly every request an instance serves is an open dashboard asking "is the generation I
show still live?" and getting HTTP 204. Through Flask and Dash that answer costs about
1 ms of CPU (a request context, a dozen hooks, Dash's dispatch); the WSGI middleware here
answers it in a fraction of that, from memory only: it recognises the chart page's poll by
the ids its body names and compares the generation the browser shows with the last version
check *this process* made, while that check is still fresh (``VERSION_CACHE_SECONDS``).

Everything else goes to the app untouched — another callback, a changed or unknown
generation, a status to clear, a check that is due (the app makes it, so storage and the
shared cache are still asked once per period), a large, chunked, malformed or cross-site
request — and the same poll callback (``pages/chart.py``) gives the full answer. The 204
carries the headers the app's own 204 carries (``tests/test_unchanged_poll.py`` compares them).
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

from data_access import LiveData

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: A poll body is well under 1 KiB; anything larger is not one and goes to the app.
MAX_POLL_BODY_BYTES = 8 * 1024
#: What the browser's poll names: outputs, its one input, its state (components/live_status.py).
POLL_OUTPUTS = [("shown-version", "data"), ("storage-status", "data")]
POLL_INPUTS = [("poll-trigger", "data")]
SHOWN_VERSION_ID = "shown-version"
STORAGE_STATUS_ID = "storage-status"
#: The headers flask-talisman puts on callback answers (serving.py gives them no page policy).
COMMON_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
]
# flask-talisman's default HSTS (one year, subdomains), as serving.py configures it.
HSTS_HEADER = ("Strict-Transport-Security", "max-age=31556926; includeSubDomains")


class UnchangedPollShortcut:
    """WSGI middleware: HTTP 204 for a chart poll whose generation is still live; else the app."""

    def __init__(self, app: WSGIApp, live_data: LiveData, callback_path: str) -> None:
        self.app = app  # the app behind it (tests send requests past the shortcut)
        self._live_data = live_data
        self._callback_path = callback_path
        self.answered = 0  # polls answered here (tests and benchmarks read it)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == self._callback_path and environ.get("REQUEST_METHOD") == "POST":
            body = _small_body(environ)
            if body is not None:
                environ["wsgi.input"] = io.BytesIO(body)  # the app reads it again if we pass it on
                if _same_site(environ) and self._is_unchanged(body):
                    self.answered += 1
                    start_response("204 NO CONTENT", _headers(environ))
                    return []
        return self.app(environ, start_response)

    def _is_unchanged(self, body: bytes) -> bool:
        check = self._live_data.recent_check()
        if check is None or not check.ok or check.version is None:
            return False
        shown, status = poll_state(body)
        return status is None and isinstance(shown, dict) and shown.get("generation") == check.version.generation


def poll_state(body: bytes) -> tuple[Any, Any]:
    """``(shown-version, storage-status)`` of a chart poll body; ``(None, "not a poll")`` otherwise."""
    not_a_poll = (None, "not a poll")
    try:
        request = json.loads(body)
    except ValueError:  # bad JSON or bad UTF-8
        return not_a_poll
    if not isinstance(request, dict) or _pairs(request.get("outputs")) != POLL_OUTPUTS:
        return not_a_poll
    if _pairs(request.get("inputs")) != POLL_INPUTS:
        return not_a_poll
    state = request.get("state")
    if _pairs(state) is None:
        return not_a_poll
    values = {item["id"]: item.get("value") for item in state if item.get("property") == "data"}
    if set(values) != {SHOWN_VERSION_ID, STORAGE_STATUS_ID}:
        return not_a_poll
    return values[SHOWN_VERSION_ID], values[STORAGE_STATUS_ID]


def _pairs(items: Any) -> list[tuple[Any, Any]] | None:
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        return None
    return [(item.get("id"), item.get("property")) for item in items]


def _small_body(environ: dict[str, Any]) -> bytes | None:
    """The request body when its announced length is small, else ``None`` (left unread)."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None
    if not 0 < length <= MAX_POLL_BODY_BYTES:
        return None
    body = environ["wsgi.input"].read(length)
    return body if len(body) == length else None


def _same_site(environ: dict[str, Any]) -> bool:
    """Cross-site posts go to the app, which refuses them (auth.web) exactly as before."""
    if environ.get("HTTP_SEC_FETCH_SITE") == "cross-site":
        return False
    origin = environ.get("HTTP_ORIGIN")
    if origin is None:
        return True
    host = environ.get("HTTP_HOST", "")
    return origin.partition("://")[2] == host


def _headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    if environ.get("wsgi.url_scheme") == "https":
        return [*COMMON_HEADERS, HSTS_HEADER]
    return list(COMMON_HEADERS)
