"""The gunicorn worker ``gunicorn.conf.py`` names: uvicorn's event loop in front of the Flask app.

gunicorn's threaded worker spends about 0.4 ms of CPU on every request before the app sees
it (measured on a trivial WSGI app: 449 µs under gthread, 124 µs under uvicorn with
httptools; README, "Load and capacity"). Nearly every request is an unchanged poll, so that
cost is the instance's capacity. This worker keeps gunicorn (master, worker recycling,
timeouts, ``gunicorn.conf.py``) and puts uvicorn's HTTP layer in each worker:

* ``/live/version`` and ``/live/events`` (``routes/live.py``) are answered on the event loop,
  without a thread: a version check from the process's last check, and one fan-out per
  process to all its open streams;
* every other request runs the Flask app unchanged, in a pool of ``GUNICORN_THREADS``
  threads (a2wsgi), as gthread ran it;
* access lines are written by ``app_logging.GunicornLogger``, as under gthread;
* the request head is bounded as gunicorn bounded it (field count; bytes), since uvicorn
  itself puts no limit on it.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from datetime import timedelta
from typing import Any, ClassVar

from a2wsgi import WSGIMiddleware
from a2wsgi.wsgi import build_environ
from gunicorn.arbiter import Arbiter
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from routes.live import LIVE_FEED_EXTENSION, LiveRoutes, max_age

ASGIApp = Any

#: gunicorn's ``limit_request_fields``.
MAX_HEADER_FIELDS = 100
#: The request line and headers together; App Engine's front end passes far less.
MAX_HEAD_BYTES = 64 * 1024


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol, answering 400 and closing when a request head is too large.

    Without it a client could send headers without end and the parser would keep them all.
    The head is counted one read at a time, so it may exceed the limit by one read (at most
    256 KiB) before the connection is closed.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._in_head = False
        self._head_bytes = 0

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._in_head = True
        self._head_bytes = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        if len(self.headers) >= MAX_HEADER_FIELDS:
            raise ValueError("too many header fields")  # the parser reports it; uvicorn answers 400
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self._in_head and not self.transport.is_closing():
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self.send_400_response("Request header fields too large.")


class DashboardWorker(UvicornWorker):
    """uvicorn (httptools, uvloop) serving the gunicorn app: live routes on the loop, the rest in threads."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        "loop": "auto",
        "http": BoundedHttpToolsProtocol,
        "interface": "asgi3",
        "access_log": False,  # ours below, in the app's JSON format
        "server_header": False,
        "proxy_headers": False,  # the app trusts App Engine's one hop itself (ProxyFix), as before
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config.timeout_graceful_shutdown = self.cfg.graceful_timeout

    def load_wsgi(self) -> None:
        super().load_wsgi()
        app = asgi_app(self.wsgi, threads=self.cfg.threads)
        self.live_routes = app if isinstance(app, LiveRoutes) else None
        self.wsgi = AccessLog(app, self.log) if self.cfg.accesslog else app
        # The app's objects (Dash, plotly, pandas: about a million) live as long as the worker;
        # left to the collector, each full collection walks them all while polls wait.
        gc.collect()
        gc.freeze()


    async def _serve(self) -> None:
        """uvicorn_worker's ``_serve``, ending open streams as soon as the worker is told to stop.

        Otherwise every open stream would hold the worker for the whole graceful timeout (the
        browsers reconnect to another worker at once).
        """
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


def asgi_app(wsgi_app: Any, threads: int) -> ASGIApp:
    """``wsgi_app`` in ``threads`` threads, behind its live routes when it has them."""
    threaded = WSGIMiddleware(wsgi_app, workers=max(1, threads))
    feed = getattr(wsgi_app, "extensions", {}).get(LIVE_FEED_EXTENSION)
    if feed is None:
        return threaded
    return LiveRoutes(threaded, feed, max_age(feed.live_data.version_cache_seconds))


class _Sent:
    """What the access line needs of a response (gunicorn's ``resp``)."""

    def __init__(self) -> None:
        self.status_code = 0
        self.sent = 0


class AccessLog:
    """ASGI middleware: one access line per HTTP request through gunicorn's logger (``log.access``)."""

    def __init__(self, app: ASGIApp, log: Any) -> None:
        self._app = app
        self._log = log

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.monotonic()
        response = _Sent()

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
