"""The gunicorn worker: uvicorn's event loop in front of the Flask app (docs/decisions/0001-uvicorn-under-gunicorn.md).

Live routes and take-up GETs answered before are served on the loop, the rest by Flask in threads (a2wsgi).
uvicorn bounds nothing itself, so request heads and bodies are bounded here before a thread is taken.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import resource
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, ClassVar

from a2wsgi import WSGIMiddleware
from a2wsgi.wsgi import build_environ
from gunicorn.arbiter import Arbiter
from uvicorn.protocols.http.flow_control import service_unavailable
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from app_context import SETTINGS_KEY
from auth.web import large_body_limit
from routes.live import DATASET_FEEDS_EXTENSION, LIVE_FEED_EXTENSION, ASGIApp, LiveRoutes, send_answer
from routes.take_up import KeptTakeUps
from serving import plain_answer_headers

log = logging.getLogger("live_dashboard")

#: gunicorn's ``limit_request_fields``.
MAX_HEADER_FIELDS = 100
#: The request line and headers together; App Engine's front end passes far less.
MAX_HEAD_BYTES = 64 * 1024
# What a request line and a header line add to the bytes of their parts ("GET ", " HTTP/1.1\r\n", ": ", "\r\n").
_REQUEST_LINE_FRAMING = 20
_HEADER_LINE_FRAMING = 4


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol with bounded request heads: too big 400, too slow 408 (both close).

    Reads are counted as well as parsed parts, so a head that never ends holds at most the limit plus one read.
    """

    #: Set once per worker from ``REQUEST_HEAD_TIMEOUT_SECONDS`` (:meth:`DashboardWorker.load_wsgi`).
    head_timeout_seconds: ClassVar[float] = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = False
        self._head_bytes = 0  # bytes read while in the head
        self._parsed_head_bytes = 0  # bytes of the head the parser has reported
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0
        self._parsed_head_bytes = _REQUEST_LINE_FRAMING
        self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._count_head(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self.headers) >= MAX_HEADER_FIELDS:
            raise ValueError("too many header fields")  # the parser reports it; uvicorn answers 400
        self._count_head(len(name) + len(value) + _HEADER_LINE_FRAMING)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_head_timer()
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self.send_400_response("Request header fields too large.")

    def send_400_response(self, msg: str, status: int = 400) -> None:
        """uvicorn's 400 for a head it cannot take (or our 408), with the app's security headers."""
        body = msg.encode("ascii")
        lines = [name + b": " + value + b"\r\n" for name, value in _closing_text_headers(body)]
        self.transport.write(b"".join([STATUS_LINE[status], *lines, b"\r\n", body]))
        self.transport.close()

    def _start_asgi_task(self, cycle: Any, app: Any) -> None:
        # Past MAX_CONNECTIONS_PER_WORKER uvicorn answers with its own 503: ours carries the headers.
        super()._start_asgi_task(cycle, _over_capacity if app is service_unavailable else app)

    def _count_head(self, size: int) -> None:
        self._parsed_head_bytes += size
        if self._parsed_head_bytes > MAX_HEAD_BYTES:
            raise ValueError("request head too large")  # the parser reports it; uvicorn answers 400

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout_seconds, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.send_400_response("Request timeout.", status=408)


class DashboardWorker(UvicornWorker):
    """uvicorn (httptools, uvloop) serving the gunicorn app: live routes on the loop, the rest in threads."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "auto",
        "http": BoundedHttpToolsProtocol,
        "interface": "asgi3",
        "access_log": False,  # ours below, in the app's JSON format
        "server_header": False,
        "proxy_headers": False,  # the app trusts App Engine's one hop itself (ProxyFix), as before
        # The Flask app has neither: so every scope the middlewares below see is an HTTP request.
        "lifespan": "off",
        "ws": "none",
    }

    #: Take-up GETs answered before are answered on the event loop (a benchmark's subclass turns it off).
    keep_take_ups: ClassVar[bool] = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config.timeout_graceful_shutdown = self.cfg.graceful_timeout

    def load_wsgi(self) -> None:
        super().load_wsgi()
        live = asgi_app(self.wsgi, threads=self.cfg.threads, keep_take_ups=self.keep_take_ups)
        self.live_routes = live if isinstance(live, LiveRoutes) else None
        # Streams pass the request bounds untouched: they bound request heads and bodies, never responses.
        app = bounded_requests(live, self.wsgi, self.config)
        self.wsgi = AccessLog(app, self.log) if self.cfg.accesslog else app
        # The app's objects (Dash, plotly, pandas: about a million) live as long as the worker;
        # left to the collector, each full collection walks them all while polls wait.
        gc.collect()
        gc.freeze()

    async def _serve(self) -> None:
        """uvicorn_worker's ``_serve``, ending open streams once told to stop (else they hold the graceful timeout)."""
        self.config.app = self.wsgi
        server = Server(config=self.config)
        self._install_sigquit_handler()
        ending = asyncio.ensure_future(_end_streams_on_exit(server, self.live_routes))
        try:
            await server.serve(sockets=self.sockets)
        finally:
            ending.cancel()
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)


async def _end_streams_on_exit(server: Server, live_routes: LiveRoutes | None) -> None:
    while not server.should_exit:
        await asyncio.sleep(0.5)
    if live_routes is not None:
        live_routes.end_streams()


def asgi_app(wsgi_app: Any, threads: int, keep_take_ups: bool = True) -> ASGIApp:
    """``wsgi_app`` in ``threads`` threads, behind its live routes (and kept take-ups) when it has them."""
    threaded = WSGIMiddleware(wsgi_app, workers=max(1, threads))
    extensions = getattr(wsgi_app, "extensions", {})
    feed = extensions.get(LIVE_FEED_EXTENSION)
    if feed is None:
        return threaded
    app = KeptTakeUps(threaded) if keep_take_ups else threaded
    return LiveRoutes(app, feed, extensions.get(DATASET_FEEDS_EXTENSION))


async def _over_capacity(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The answer past the connection cap (uvicorn's ``limit_concurrency``)."""
    await plain_answer(send, 503, "Service unavailable: too many connections.")


def bounded_requests(app: ASGIApp, wsgi_app: Any, config: Any) -> ASGIApp:
    """``app`` behind :class:`ErrorGuard` and the request bounds the app's settings name (``config``: uvicorn's)."""
    settings = wsgi_app.config[SETTINGS_KEY]
    BoundedHttpToolsProtocol.head_timeout_seconds = settings.request_head_timeout_seconds
    config.limit_concurrency = settings.max_connections_per_worker
    _allow_open_files(settings.max_connections_per_worker)
    body_limit = int(settings.max_request_kb * 1024)

    def limit_for(path: str) -> int:
        return max(body_limit, large_body_limit(wsgi_app.config, path))

    return ErrorGuard(RequestBodyDeadline(app, limit_for, body_limit, settings.request_body_timeout_seconds))


def _allow_open_files(connections: int) -> None:
    """Raise this process's open-file limit towards ``connections`` (plus room for files and storage)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 256 if hard == resource.RLIM_INFINITY else min(connections + 256, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


class _BodyTooLarge(Exception):
    """More body bytes arrived than the path allows."""


class RequestBodyDeadline:
    """ASGI middleware: a body is read whole on the loop first, so a slow client holds no thread.

    Over its path's limit: 413; not arrived within ``seconds`` per ``unit_bytes`` (at least ``seconds``): 408.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int], unit_bytes: int, seconds: float) -> None:
        self._app = app
        self._limit_for = limit_for
        self._unit_bytes = unit_bytes
        self._seconds = seconds

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        announced = _announced_body(scope)
        if announced == 0:
            await self._app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        if announced is not None and announced > limit:
            await plain_answer(send, 413, f"Request body too large (limit {limit // 1024} KiB).")
            return
        expected = announced if announced is not None else limit
        try:
            async with asyncio.timeout(self._seconds * max(1.0, expected / self._unit_bytes)):
                body = await _read_body(receive, limit)
        except TimeoutError:
            log.warning("request body too slow: %s %s refused with 408", scope["method"], scope["path"])
            await plain_answer(send, 408, "Request body timeout.")
            return
        except _BodyTooLarge:
            await plain_answer(send, 413, f"Request body too large (limit {limit // 1024} KiB).")
            return
        if body is None:
            return  # the client went away
        await self._app(scope, _replay(body, receive), send)


def _announced_body(scope: dict[str, Any]) -> int | None:
    """The body size the head announces: ``Content-Length``, ``None`` when chunked, 0 when there is none."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
        if name == b"transfer-encoding":
            return None
    return 0


async def _read_body(receive: Any, limit: int) -> bytes | None:
    """The whole body, ``None`` if the client disconnected; :class:`_BodyTooLarge` past ``limit``."""
    pieces: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        piece = message.get("body", b"")
        size += len(piece)
        if size > limit:
            raise _BodyTooLarge
        pieces.append(piece)
        if not message.get("more_body", False):
            return b"".join(pieces)


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that gives the body read already, then waits for the connection as before."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> dict[str, Any]:
        return pending.pop() if pending else await receive()

    return replayed


#: What a handler on the event loop raises for a request it cannot read: the client's error.
MALFORMED_REQUEST_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError)


class ErrorGuard:
    """ASGI middleware: an event-loop handler's exception becomes 400 (malformed request) or 500, if not started."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        started = False

        async def send_and_note(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self._app(scope, receive, send_and_note)
        except MALFORMED_REQUEST_ERRORS as error:
            log.warning("malformed request refused: %s %s (%s)", scope["method"], scope["path"], type(error).__name__)
            if not started:
                await plain_answer(send, 400, "Malformed request.")
        except Exception:
            log.exception("error answering %s %s", scope["method"], scope["path"])
            if not started:
                await plain_answer(send, 500, "Internal error.")


async def plain_answer(send: Any, status: int, text: str) -> None:
    """A short text answer from the event loop, with the headers the app puts on its own; closes the connection."""
    body = text.encode()
    await send_answer(send, status, _closing_text_headers(body), body)


def _closing_text_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    """Headers of a plain-text ``body`` that closes the connection, plus the app's security headers."""
    headers = [
        ("content-type", "text/plain; charset=utf-8"),
        ("content-length", str(len(body))),
        ("connection", "close"),
    ]
    return [(name.lower().encode(), value.encode()) for name, value in [*headers, *plain_answer_headers()]]


class AccessLog:
    """ASGI middleware: one access line per HTTP request through gunicorn's logger (``log.access``)."""

    def __init__(self, app: ASGIApp, log: Any) -> None:
        self._app = app
        self._log = log

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        started = time.monotonic()
        response = SimpleNamespace(status_code=0, sent=0)  # what the access line reads of gunicorn's ``resp``

        async def send_and_note(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                response.status_code = message["status"]
            elif message["type"] == "http.response.body":
                response.sent += len(message.get("body", b""))
            await send(message)

        try:
            await self._app(scope, receive, send_and_note)
        finally:
            elapsed = timedelta(seconds=time.monotonic() - started)
            self._log.access(response, None, build_environ(scope, None), elapsed)  # type: ignore[arg-type]
