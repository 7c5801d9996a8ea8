"""The app served by gunicorn (``gunicorn 'app:create_server()'``) in production mode, as deployed."""

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

from testinfra.processes import REPO, child_pids, cpu_seconds, end_process, free_port

START_TIMEOUT_SECONDS = 60
# Only these come from the caller's environment: the app's settings are all set here.
PASSED_ENV_VARS = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")


class Gunicorn:
    """``gunicorn -w WORKERS -b 127.0.0.1:PORT WSGI_APP`` with extra environment variables.

    gunicorn reads ``gunicorn.conf.py`` from ``app_dir`` (the production config); flags given
    here win over it. ``workers=None`` leaves the worker count to that file. ``as_deployed``
    passes no flags at all (the port goes in as ``PORT``, as App Engine sets it) and keeps
    everything gunicorn prints, access lines included, for :meth:`output`. ``app_dir`` may
    be another checkout of the app (a before/after benchmark).
    """

    def __init__(
        self,
        env: dict[str, str],
        workers: int | None = 2,
        wsgi_app: str = "app:create_server()",
        extra_args: tuple[str, ...] = (),
        app_dir: Path = REPO,
        as_deployed: bool = False,
    ) -> None:
        self.env = env
        self.workers = workers
        self.wsgi_app = wsgi_app
        self.extra_args = extra_args
        self.app_dir = app_dir
        self.as_deployed = as_deployed
        self.port = free_port()
        self.host = "127.0.0.1"
        self.url = f"http://{self.host}:{self.port}"
        self._log_dir = Path(tempfile.mkdtemp(prefix="gunicorn-"))
        self.log_path = self._log_dir / "gunicorn.log"
        self.process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        """The command line this server runs."""
        if self.as_deployed:
            return [sys.executable, "-m", "gunicorn", *self.extra_args, self.wsgi_app]
        workers = ["-w", str(self.workers)] if self.workers is not None else []
        logging = ["--log-level", "warning", "--error-logfile", str(self.log_path)]
        return [sys.executable, "-m", "gunicorn", *workers, "-b", f"{self.host}:{self.port}", *logging,
                *self.extra_args, self.wsgi_app]  # fmt: skip

    def start(self) -> Gunicorn:
        env = {key: os.environ[key] for key in PASSED_ENV_VARS if key in os.environ}
        if self.as_deployed:
            env |= {"HOST": self.host, "PORT": str(self.port)}
        env.update(self.env)
        with open(self.log_path, "ab") as log_file:
            # Access lines go to stdout: kept only when asked for, a load run would fill the disk.
            stdout = log_file if self.as_deployed else subprocess.DEVNULL
            self.process = subprocess.Popen(self.command(), cwd=self.app_dir, env=env, stdout=stdout, stderr=log_file)
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
        return child_pids(self.process.pid) if self.process is not None else []

    def workers_cpu_seconds(self) -> float | None:
        """User + system CPU time the workers have used so far; ``None`` where ``/proc`` is missing."""
        try:
            return cpu_seconds(self.worker_pids())
        except OSError:
            return None

    def output(self) -> str:
        """Everything gunicorn and the app have logged so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int = 30) -> str:
        """The last lines of gunicorn's log."""
        return "\n".join(self.output().splitlines()[-lines:])

    def end(self) -> None:
        """SIGTERM (the master stops its workers), SIGKILL after 15 s; the log stays readable until :meth:`stop`."""
        end_process(self.process, 15)

    def stop(self) -> None:
        """End the server and remove its log."""
        self.end()
        shutil.rmtree(self._log_dir, ignore_errors=True)

    def __enter__(self) -> Gunicorn:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


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
