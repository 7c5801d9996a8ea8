"""A gunicorn server for the benchmark, on 127.0.0.1, stopped by PID."""

from __future__ import annotations

import http.client
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from werkzeug.security import generate_password_hash

from tests.servers import free_port

REPO_DIR = Path(__file__).resolve().parents[1]
START_TIMEOUT_SECONDS = 60
# Only these come from the caller's environment: the app's settings are all set here.
PASSED_ENV_VARS = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")


class Gunicorn:
    """``gunicorn -w WORKERS -b 127.0.0.1:PORT WSGI_APP`` with extra environment variables.

    ``workers=None`` leaves the worker settings to ``gunicorn.conf.py`` (the production config).
    """

    def __init__(
        self,
        env: dict[str, str],
        workers: int | None = 2,
        wsgi_app: str = "app:create_server()",
        extra_args: tuple[str, ...] = (),
        app_dir: Path = REPO_DIR,
    ) -> None:
        self.env = env
        self.app_dir = app_dir  # another checkout of the app (a before/after comparison)
        self.workers = workers
        self.wsgi_app = wsgi_app
        self.extra_args = extra_args
        self.port = free_port()
        self.host = "127.0.0.1"
        self.url = f"http://{self.host}:{self.port}"
        self._log_dir = Path(tempfile.mkdtemp(prefix="bench-gunicorn-"))
        self.log_path = self._log_dir / "error.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Gunicorn:
        workers = ["-w", str(self.workers)] if self.workers is not None else []
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            *workers,
            "-b",
            f"{self.host}:{self.port}",
            "--log-level",
            "warning",
            "--error-logfile",
            str(self.log_path),
            *self.extra_args,
            self.wsgi_app,
        ]
        env = {key: os.environ[key] for key in PASSED_ENV_VARS if key in os.environ}
        env.update(self.env)
        self.process = subprocess.Popen(command, cwd=self.app_dir, env=env, stdout=subprocess.DEVNULL)
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
