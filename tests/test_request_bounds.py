"""Slow, idle, oversized and malformed requests against a real gunicorn with the uvicorn worker (asgi_worker.py).

Every bound is checked over real sockets: a slow request body holds no thread (health checks
answer under slow-client load), an idle or slow head is closed, the head limit is exact, the
connection cap answers 503 only past it, and the event loop's own answers carry the app's
security headers. Malformed callback bodies get 4xx through the worker's guards too.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from asgi_worker import MAX_HEAD_BYTES, ErrorGuard, RequestBodyDeadline, asgi_app
from serving import plain_answer_headers
from testinfra import SAMPLE_CSV, Gunicorn
from testinfra.dash_requests import poll, view_payload

pytestmark = pytest.mark.integration  # every test here talks to gunicorn over sockets

THREADS = 4
SECURITY_HEADERS = {name.lower() for name, _value in plain_answer_headers()} - {"cache-control"}


def _env(tmp_path_factory, **extra: str) -> dict[str, str]:
    data = tmp_path_factory.mktemp("data") / "data.csv"
    data.write_bytes(SAMPLE_CSV)
    return {
        "DATA_SOURCE": "local",
        "LOCAL_DATA_PATH": str(data),
        "SECRET_KEY": "a-test-secret-that-is-long-and-random-0123456789",
        "ADMIN_USERS": "alice:scrypt:131072:8:1$salt$0123abcd",
        "GUNICORN_THREADS": str(THREADS),
        "CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
        **extra,
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Gunicorn]:
    """Default body deadline (slow bodies stay open for the whole test), short head deadline, small cap."""
    env = _env(tmp_path_factory, REQUEST_HEAD_TIMEOUT_SECONDS="2", MAX_CONNECTIONS_PER_WORKER="40")
    with Gunicorn(env, workers=1) as running:
        yield running


@pytest.fixture(scope="module")
def quick_server(tmp_path_factory) -> Iterator[Gunicorn]:
    """A body deadline of one second, to see the 408."""
    with Gunicorn(_env(tmp_path_factory, REQUEST_BODY_TIMEOUT_SECONDS="1"), workers=1) as running:
        yield running


def _connect(server: Gunicorn, timeout: float = 15) -> socket.socket:
    return socket.create_connection((server.host, server.port), timeout=timeout)


def _read_answer(connection: socket.socket) -> bytes:
    """Everything until the server closes, or the head and a little of the body."""
    answer = b""
    with contextlib.suppress(OSError):
        while chunk := connection.recv(65536):
            answer += chunk
            if b"\r\n\r\n" in answer and len(answer) > 4096:
                break
    return answer


def _get(server: Gunicorn, path: str, timeout: float = 15) -> int:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    finally:
        connection.close()


def _slow_login(server: Gunicorn) -> socket.socket:
    """A sign-in whose body is announced and then sent a byte at a time (the caller sends the rest, or not)."""
    body = b"username=bob&password=" + b"x" * 80
    connection = _connect(server)
    connection.sendall(
        b"POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body[:1]
    )
    return connection


def test_health_checks_and_sign_in_answer_while_slow_bodies_hold_every_thread_thrice(server):
    slow = [_slow_login(server) for _ in range(3 * THREADS + 12)]  # 24, as in the issue
    try:
        for connection in slow:  # keep them trickling
            connection.sendall(b"u")
        assert _get(server, "/healthz", timeout=10) == 200
        assert _get(server, "/readyz", timeout=10) == 200
        assert _get(server, "/login", timeout=10) == 200
    finally:
        for connection in slow:
            connection.close()


def test_a_body_that_does_not_arrive_in_time_gets_408_with_the_security_headers(quick_server):
    with _slow_login(quick_server) as connection:
        answer = _read_answer(connection)
    head = answer.split(b"\r\n\r\n", 1)[0].decode().lower()
    assert head.startswith("http/1.1 408")
    assert all(f"\n{name}:" in head for name in SECURITY_HEADERS)
    assert _get(quick_server, "/healthz") == 200


def test_a_body_larger_than_announced_limits_gets_413_before_it_is_read(server):
    with _connect(server) as connection:
        connection.sendall(b"POST /login HTTP/1.1\r\nHost: localhost\r\nContent-Length: 9999999999\r\n\r\nx")
        answer = _read_answer(connection)
    assert answer.startswith(b"HTTP/1.1 413")


def test_a_connection_that_sends_nothing_or_half_a_head_is_closed(server):
    with _connect(server) as idle, _connect(server) as slow:
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: local")
        assert _read_answer(idle).startswith(b"HTTP/1.1 408")  # ends: the server closed it
        assert _read_answer(slow).startswith(b"HTTP/1.1 408")


def _head_of(size: int) -> bytes:
    """A complete GET /healthz head of exactly ``size`` bytes (request line and header lines, with line ends)."""
    start = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
    padding = size - len(start) - len(b"X-Pad: \r\n") - 2
    return start + b"X-Pad: " + b"a" * padding + b"\r\n\r\n"


@pytest.mark.parametrize(("size", "status"), [(MAX_HEAD_BYTES - 1024, b"200"), (70 * 1000, b"400")])
def test_the_head_limit_is_the_documented_one(server, size, status):
    with _connect(server) as connection:
        connection.sendall(_head_of(size))  # one piece, as a fast client sends it
        answer = _read_answer(connection)
    assert answer.startswith(b"HTTP/1.1 " + status)
    if status == b"400":
        head = answer.split(b"\r\n\r\n", 1)[0].decode().lower()
        assert all(f"\n{name}:" in head for name in SECURITY_HEADERS)


def test_connections_past_the_cap_get_503_and_those_within_it_are_served(server):
    held = [_connect(server) for _ in range(45)]  # the cap is 40
    try:
        held[-1].sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        answer = _read_answer(held[-1])
        assert answer.startswith(b"HTTP/1.1 503")
        head = answer.split(b"\r\n\r\n", 1)[0].decode().lower()
        assert all(f"\n{name}:" in head for name in SECURITY_HEADERS)
    finally:
        for connection in held:
            connection.close()
    deadline = time.monotonic() + 10  # the server notices the closed connections
    while _get(server, "/healthz") != 200 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _get(server, "/healthz") == 200


def test_an_unknown_component_file_is_404_not_a_stack_trace(server):
    assert _get(server, "/_dash-component-suites/dash/no-such-file.js") == 404
    assert _get(server, "/_dash-component-suites/no_such_package/x.js") == 404
    assert "Traceback" not in server.log_tail(200)


# The worker's guards in front of the app, fed callback bodies a browser never sends.


def _asgi_post(app, body: bytes) -> tuple[int, dict[str, str]]:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/_dash-update-component",
        "raw_path": b"/_dash-update-component",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "client": ("127.0.0.1", 5000),
        "server": ("localhost", 80),
    }
    sent: list[dict] = []

    async def run() -> None:
        pending = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict:
            if pending:
                return pending.pop()
            await asyncio.sleep(60)
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        await app(scope, receive, send)

    asyncio.run(run())
    start = next(message for message in sent if message["type"] == "http.response.start")
    return start["status"], {name.decode().lower(): value.decode() for name, value in start["headers"]}


def _crafted(client: Any, shown: dict) -> list[tuple[bytes, bool]]:
    """Callback bodies a browser never sends, and whether Dash cannot use them (4xx).

    A state id that is an object or a list is only a label: Dash passes state values by
    position, so such a call is answered as usual (never 500). No id, deep nesting: 400.
    """
    bodies = []
    for state_id in ({"a": 1}, ["shown-version"], None):
        payload = view_payload(client, shown)
        for entry in payload["state"]:
            if state_id is None:
                entry.pop("id")
            else:
                entry["id"] = state_id
        bodies.append((json.dumps(payload).encode(), state_id is None))
    bodies.append((b"[" * 8192, True))
    deep = view_payload(client, shown)
    deep["state"][0]["value"] = json.loads("[" * 900 + "]" * 900)
    bodies.append((json.dumps(deep).encode(), True))
    return bodies


def test_crafted_callback_bodies_get_4xx_through_the_worker_with_headers(bucket, gcs_settings, make_app, caplog):
    bucket.blob("data/data.csv").upload_from_string(SAMPLE_CSV, content_type="text/csv")
    server = make_app(gcs_settings).server
    client = server.test_client()
    shown = poll(client).json["response"]["shown-version"]["data"]
    app = ErrorGuard(RequestBodyDeadline(asgi_app(server, threads=2), lambda _path: 1 << 20, 1 << 20, 5))

    for body, unusable in _crafted(client, shown):
        status, headers = _asgi_post(app, body)
        assert (400 <= status < 500) if unusable else status < 500, body[:80]
        assert "x-content-type-options" in headers
    assert not [record for record in caplog.records if record.levelname == "ERROR" or record.exc_info]
