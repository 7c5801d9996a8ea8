"""Debian's ``redis-server`` on 127.0.0.1, without persistence unless asked."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from testinfra.processes import free_port, wait_until


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
        wait_until(self._answers, 10, "redis-server")
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
