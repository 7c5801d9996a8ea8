"""The unchanged poll, answered in front of Flask and Dash.

Nearly every request an instance serves is an open dashboard asking "is the generation I
show still live?" and getting HTTP 204. Through Flask and Dash that answer costs about
1 ms of CPU (a request context, a dozen hooks, Dash's dispatch); the WSGI middleware here
answers it in a fraction of that, from memory only: it recognises the chart page's poll by
the ids its body names and compares the generation the browser shows with the last version
check *this process* made, while that check is still fresh (``VERSION_CACHE_SECONDS``).

It runs on the worker's event loop (:class:`UnchangedPollASGI`, used by ``asgi_worker.py``), so
an unchanged poll never waits for or occupies one of the threads the app runs in. When the
check falls due there, one background thread renews it (the shared cache, or storage once
per period) while unchanged polls keep the previous answer, so none waits for storage either. The
WSGI form (:class:`UnchangedPollShortcut`) makes the same decision for any WSGI server, and
there a due check goes to the app, which makes it.

Everything else goes to the app untouched — another callback, a changed or unknown
generation, a status to clear, a large, chunked, malformed or cross-site
request — and the same poll callback (``pages/chart.py``) gives the full answer. The 204
carries the headers the app's own 204 carries (``tests/test_unchanged_poll.py`` compares them).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from a2wsgi.wsgi import build_environ

from data_access import LiveData

log = logging.getLogger("live_dashboard")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
ASGIApp = Callable[[dict[str, Any], Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]

#: Where the app's Flask server keeps its shortcut (``server.extensions``), for the ASGI worker.
UNCHANGED_POLL_EXTENSION = "unchanged_poll"
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
    """WSGI middleware: HTTP 204 for a chart poll whose generation is still live; else the app.

    ``trust_forwarded_proto``: behind one proxy (App Engine), whose ``X-Forwarded-Proto`` says
    whether the browser used HTTPS, as ``ProxyFix`` tells the app.
    """

    def __init__(
        self, app: WSGIApp, live_data: LiveData, callback_path: str, trust_forwarded_proto: bool = False
    ) -> None:
        self.app = app  # the app behind it (tests send requests past the shortcut)
        self.callback_path = callback_path
        self.live_data = live_data
        self._trust_forwarded_proto = trust_forwarded_proto
        self.answered = 0  # polls answered here (tests and benchmarks read it)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        headers = self.answer(environ)
        if headers is not None:
            start_response("204 NO CONTENT", headers)
            return []
        return self.app(environ, start_response)

    def may_answer(self, method: str, path: str) -> bool:
        """Whether a request to ``path`` could be a chart poll (the only requests answered here)."""
        return method == "POST" and path == self.callback_path

    def answer(self, environ: dict[str, Any]) -> list[tuple[str, str]] | None:
        """The 204's headers when ``environ`` is an unchanged chart poll; else ``None`` (its body still readable)."""
        if not self.may_answer(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")):
            return None
        body = _small_body(environ)
        if body is None:
            return None
        environ["wsgi.input"] = io.BytesIO(body)  # the app reads it again if we pass it on
        if not (_same_site(environ) and self._is_unchanged(body)):
            return None
        self.answered += 1
        return [*COMMON_HEADERS, HSTS_HEADER] if self._is_https(environ) else list(COMMON_HEADERS)

    def _is_unchanged(self, body: bytes) -> bool:
        check = self.live_data.recent_check(while_renewing=True)
        if check is None or not check.ok or check.version is None:
            return False
        shown, status = poll_state(body)
        return status is None and isinstance(shown, dict) and shown.get("generation") == check.version.generation

    def _is_https(self, environ: dict[str, Any]) -> bool:
        forwarded = environ.get("HTTP_X_FORWARDED_PROTO")
        if self._trust_forwarded_proto and forwarded:
            return forwarded.rsplit(",", 1)[-1].strip() == "https"  # the one hop we trust: the last
        return environ.get("wsgi.url_scheme") == "https"


class UnchangedPollASGI:
    """ASGI app: the shortcut's answer given on the event loop; every other request goes to ``app``.

    ``app`` is the WSGI app in a thread pool (a2wsgi). A poll that is not answered here reaches
    it with its body intact.
    """

    def __init__(self, app: ASGIApp, shortcut: UnchangedPollShortcut) -> None:
        self._app = app
        self._shortcut = shortcut
        self._renewals = ThreadPoolExecutor(max_workers=1, thread_name_prefix="version-check")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and self._shortcut.may_answer(scope["method"], scope["path"]):
            live_data = self._shortcut.live_data
            if live_data.claim_renewal():  # due: one thread renews it; polls keep the previous answer
                asyncio.get_running_loop().run_in_executor(self._renewals, _renew, live_data)
            length = _announced_length(scope)
            if length is not None and 0 < length <= MAX_POLL_BODY_BYTES:
                body = await _receive_body(receive)
                headers = self._shortcut.answer(build_environ(scope, io.BytesIO(body)))
                if headers is not None:
                    await send({"type": "http.response.start", "status": 204, "headers": _encoded(headers)})
                    await send({"type": "http.response.body", "body": b""})
                    return
                receive = _replaying(body, receive)
        await self._app(scope, receive, send)


def _renew(live_data: LiveData) -> None:
    try:
        live_data.renew_check()
    except Exception:  # a bug here must not go unseen; requests still make the check themselves
        log.exception("renewing the version check failed")


def _announced_length(scope: dict[str, Any]) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _receive_body(receive: Any) -> bytes:
    """The whole body (the server holds it to its Content-Length; small here); less if the client left."""
    parts = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


def _replaying(body: bytes, receive: Any) -> Callable[[], Awaitable[dict]]:
    """``receive`` for the app: the body already read, then whatever the server sends next."""
    sent = False

    async def replay() -> dict:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _encoded(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers]


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
