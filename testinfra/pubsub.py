"""The Google Cloud CLI's Pub/Sub emulator (Java, offline) on 127.0.0.1, with REST helpers."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from testinfra.processes import free_port, wait_until


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
        wait_until(self._answers, 60, "the Pub/Sub emulator")
        return self

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://{self.host}/v1/projects/p/topics", timeout=0.5) as response:
                return response.status == 200
        except OSError:
            return False

    def _put(self, path: str, body: dict) -> None:
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
