"""Stand-ins in front of a real server: slow it, pause it, cut it, or add a precondition it lacks.

* :class:`TcpProxy` delays, holds, drops or loses answers (storage faults);
* :class:`CuttingProxy` drops the line after so many bytes (a network outage mid-transfer);
* :class:`GenerationMatchProxy` enforces ``ifGenerationMatch`` on copies, which fake-gcs-server
  ignores (docs/decisions/0005-generation-match-proxy.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from testinfra.processes import free_port, wait_until


class TcpProxy:
    """A TCP proxy on 127.0.0.1 in front of a local server, for storage faults.

    * ``latency``: seconds added before each chunk is passed on, both ways (storage slow);
    * :meth:`pause` / :meth:`resume`: bytes sent to the server are held, then delivered in
      order — a storage that has received requests but not processed them yet;
      :meth:`wait_idle` then waits until every delivered request has been answered;
    * ``down = True``: new connections are closed at once, open ones dropped (storage down);
    * ``lose_answers_to = b"..."``: the server's answer to a request containing these bytes
      never reaches the client (the request itself is delivered and carried out);
    * ``hold_requests_containing = b"..."``: such a request is held (the rest flows) until
      :meth:`release_held` — one that reaches the server late.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.latency = 0.0
        self.down = False
        self.lose_answers_to: bytes | None = None
        self.hold_requests_containing: bytes | None = None
        self._held: asyncio.Event | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._flowing: asyncio.Event | None = None
        self._server: asyncio.AbstractServer | None = None
        self._links: set[_Link] = set()

    def start(self) -> TcpProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(timeout=10)
        return self

    async def _listen(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._held = asyncio.Event()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    def pause(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.clear)  # type: ignore[union-attr]

    def resume(self) -> None:
        self._loop.call_soon_threadsafe(self._flowing.set)  # type: ignore[union-attr]

    def release_held(self) -> None:
        """Deliver the requests held by ``hold_requests_containing``."""
        self.hold_requests_containing = None
        self._loop.call_soon_threadsafe(self._held.set)  # type: ignore[union-attr]

    def set_down(self, down: bool) -> None:
        """Storage down (True): refuse new connections and drop the open ones; False: back up."""
        self.down = down
        if down:
            self._loop.call_soon_threadsafe(self._drop_all)

    def wait_idle(self, timeout: float = 20) -> None:
        """Until every request passed on to the server has had an answer (or its connection ended)."""
        wait_until(lambda: all(link.answered for link in list(self._links)), timeout, "the proxied server's answers")

    def _drop_all(self) -> None:
        for link in list(self._links):
            link.close()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.down:
            client_writer.close()
            return
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            client_writer.close()
            return
        link = _Link(client_writer, server_writer)
        self._links.add(link)
        try:
            await asyncio.gather(
                self._pump(client_reader, server_writer, link, to_server=True),
                self._pump(server_reader, client_writer, link, to_server=False),
            )
        except asyncio.CancelledError:
            pass  # the proxy is stopping
        finally:
            link.close()
            self._links.discard(link)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link, to_server: bool
    ) -> None:
        try:
            while chunk := await reader.read(65536):
                if self.latency:
                    await asyncio.sleep(self.latency)
                if to_server:
                    link.unanswered += 1
                    if self.lose_answers_to and self.lose_answers_to in chunk:
                        link.losing_answer = True  # every later answer on this connection too
                    if self.hold_requests_containing and self.hold_requests_containing in chunk:
                        await self._held.wait()  # type: ignore[union-attr]
                    await self._flowing.wait()  # type: ignore[union-attr]
                else:
                    link.unanswered = 0
                    if link.losing_answer:
                        continue
                writer.write(chunk)
                await writer.drain()
            if to_server and writer.can_write_eof():
                writer.write_eof()  # the client is done sending: let the server answer what it got
            elif not to_server:
                link.close()
        except (ConnectionError, OSError):
            link.close()

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
            self._drop_all()
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Link:
    """One proxied connection."""

    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter) -> None:
        self.client = client
        self.server = server
        self.unanswered = 0
        self.losing_answer = False
        self.closed = False

    @property
    def answered(self) -> bool:
        return self.closed or self.unanswered == 0

    def close(self) -> None:
        self.closed = True
        for writer in (self.client, self.server):
            writer.close()


class GenerationMatchProxy:
    """An HTTP proxy in front of fake-gcs-server that enforces ``ifGenerationMatch`` on copies as GCS does.

    fake-gcs-server ignores the precondition on ``rewriteTo``/``copyTo`` (it honours it on
    uploads). Here a copy whose ``ifGenerationMatch`` is not the destination's live generation
    (0: no live object) is answered 412 ``conditionNotMet`` and never reaches the emulator.
    Every write (POST, PUT, PATCH, DELETE) passes one at a time, so "check, then copy" is as
    atomic here as it is in GCS. ``refused`` counts the copies answered 412.
    """

    COPY_MARKERS = ("/rewriteTo/b/", "/copyTo/b/")
    HOP_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length"})

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.refused = 0
        self._writes = threading.Lock()
        self._server = None

    def start(self) -> GenerationMatchProxy:
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler_class())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> GenerationMatchProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def live_generation(self, bucket: str, quoted_object: str) -> int:
        """The destination's live generation in the emulator (0 when there is none)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.upstream_port, timeout=10)
        try:
            connection.request("GET", f"/storage/v1/b/{bucket}/o/{quoted_object}")
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        return int(json.loads(body)["generation"]) if response.status == 200 else 0

    def refusal(self, method: str, target: str) -> bytes | None:
        """The 412 body for a copy whose precondition fails, else ``None``."""
        parts = urlsplit(target)
        wanted = parse_qs(parts.query).get("ifGenerationMatch")
        marker = next((marker for marker in self.COPY_MARKERS if marker in parts.path), None)
        if method != "POST" or marker is None or not wanted:
            return None
        bucket, _, quoted_object = parts.path.split(marker, 1)[1].partition("/o/")
        if int(wanted[0]) == self.live_generation(bucket, quoted_object):
            return None
        self.refused += 1
        message = "At least one of the pre-conditions you specified did not hold."
        error = {"code": 412, "message": message, "errors": [{"reason": "conditionNotMet", "message": message}]}
        return json.dumps({"error": error}).encode()

    def _handler_class(self) -> type:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if self.command in ("POST", "PUT", "PATCH", "DELETE"):
                    with proxy._writes:
                        refusal = proxy.refusal(self.command, self.path)
                        answer = (412, [("Content-Type", "application/json")], refusal) if refusal else None
                        answer = answer or self._upstream(body)
                else:
                    answer = self._upstream(body)
                status, headers, payload = answer
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in proxy.HOP_HEADERS:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _upstream(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
                connection = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in proxy.HOP_HEADERS}
                    headers["Content-Length"] = str(len(body))
                    connection.request(self.command, self.path, body=body, headers=headers)
                    response = connection.getresponse()
                    return response.status, response.getheaders(), response.read()
                finally:
                    connection.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward  # noqa: N815 - the names http.server calls

        return Handler


class CuttingProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target_port``; can drop the line like a network outage.

    ``cut_after(n)`` closes every connection and stops listening once ``n`` more bytes went
    upstream (``downstream=True``: came back from the server); ``cut`` is set then, and
    ``start()`` listens again on the same port.
    """

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.bytes_up = 0
        self.bytes_down = 0
        self.cut = threading.Event()
        self._cut_at: int | None = None
        self._cut_downstream = False
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> CuttingProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(16)
        self._listener = listener
        self.cut.clear()
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def cut_after(self, byte_count: int, downstream: bool = False) -> None:
        with self._lock:
            self._cut_downstream = downstream
            self._cut_at = (self.bytes_down if downstream else self.bytes_up) + byte_count

    def stop(self) -> None:
        """Drop every connection and stop listening (clients see a dead network)."""
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, []
            self._cut_at = None
        for sock in [listener, *connections]:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        self.cut.set()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _address = listener.accept()
            except OSError:
                return  # stopped
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._connections += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket, upstream: bool) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
                if self._count(len(data), upstream):
                    self.stop()
                    return
        except OSError:
            pass
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def _count(self, sent: int, upstream: bool) -> bool:
        with self._lock:
            if upstream:
                self.bytes_up += sent
            else:
                self.bytes_down += sent
            counted = self.bytes_down if self._cut_downstream else self.bytes_up
            return self._cut_at is not None and upstream != self._cut_downstream and counted >= self._cut_at
