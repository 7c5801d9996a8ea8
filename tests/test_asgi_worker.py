"""The gunicorn worker (asgi_worker.py) over real sockets: request heads are bounded as gunicorn bounded them."""

from __future__ import annotations

import contextlib
import socket

import pytest

from asgi_worker import MAX_HEAD_BYTES, MAX_HEADER_FIELDS
from testinfra import Gunicorn

pytestmark = pytest.mark.integration  # every test here talks to gunicorn over sockets


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("data") / "data.csv"
    data.write_text("x,y,z\n1,2,3\n2,3,4\n")
    env = {
        "DATA_SOURCE": "local",
        "LOCAL_DATA_PATH": str(data),
        "SECRET_KEY": "a-test-secret-that-is-long-and-random-0123456789",
        "ADMIN_USERS": "alice:scrypt:131072:8:1$salt$0123abcd",
    }
    with Gunicorn(env, workers=1) as running:
        yield running


def _exchange(server: Gunicorn, head: bytes) -> bytes:
    """Send ``head`` (a request line and headers) and read until the server closes or answers."""
    with socket.create_connection((server.host, server.port), timeout=10) as connection:
        with contextlib.suppress(OSError):  # the server may close before it has read everything
            connection.sendall(head)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def _head(*headers: bytes) -> bytes:
    return b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + b"".join(headers) + b"Connection: close\r\n\r\n"


def test_a_normal_request_is_served(server):
    assert _exchange(server, _head(b"X-Test: 1\r\n")).startswith(b"HTTP/1.1 200")


def test_too_many_header_fields_get_400(server):
    fields = [f"X-Field-{index}: 1\r\n".encode() for index in range(MAX_HEADER_FIELDS + 5)]
    assert _exchange(server, _head(*fields)).startswith(b"HTTP/1.1 400")


def test_a_head_without_end_gets_400_and_the_connection_closed(server):
    endless = b"X-Padding: " + b"a" * (MAX_HEAD_BYTES * 8)  # never finished: no line end
    answer = _exchange(server, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + endless)
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"connection: close" in answer.lower()
