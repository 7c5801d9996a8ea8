"""gunicorn's settings for ``gunicorn 'app:create_server()'``, from the environment (``settings.py``).

Workers default from the instance's memory (``GAE_MEMORY_MB``): each holds its own parsed table.
"""

from __future__ import annotations

import os

from app_logging import GunicornLogger
from settings import GunicornSettings, ServerSettings, SettingsError

MEMORY_PER_WORKER_MB = 384  # a worker serving a 1M-row table, with room for a swap (docs/benchmarks/workers.md)
MAX_DEFAULT_WORKERS = 4
# Workers import numpy after this file has run: its big arrays go on 4 KiB pages unless the
# environment says otherwise (huge-page faults stalled big take-ups; docs/decisions/0006-memory-allocator.md).
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")


try:
    SERVER = ServerSettings.read()
    GUNICORN = GunicornSettings.read()
except SettingsError as error:
    raise SystemExit(f"live-dashboard: {error}") from None


def default_workers(memory_mb: int) -> int:
    """Workers for an instance with ``memory_mb`` (F1: 1, F2: 2, F4 and F4_1G: 4); 2 when unknown."""
    if memory_mb <= 0:
        return 2
    return max(1, min(MAX_DEFAULT_WORKERS, memory_mb // MEMORY_PER_WORKER_MB))


def default_bind(server: ServerSettings) -> str:
    """All interfaces on App Engine (``PORT`` is set there), else 127.0.0.1 as the app's HOST/PORT say."""
    host = "0.0.0.0" if server.on_app_engine else server.host
    return f"{host}:{server.port}"


bind = GUNICORN.bind or default_bind(SERVER)
workers = GUNICORN.workers or default_workers(GUNICORN.gae_memory_mb)
# uvicorn's event loop in front of the app (asgi_worker.py); GUNICORN_WORKER_CLASS=gthread the old way.
worker_class = GUNICORN.worker_class
threads = GUNICORN.threads
# The master only kills a worker whose event loop stops answering; a slow request in one
# thread does not trip it. Storage calls need their own, shorter deadlines.
timeout = GUNICORN.timeout
graceful_timeout = GUNICORN.graceful_timeout
keepalive = GUNICORN.keepalive  # longer than Google's front end keeps idle connections
# Recycle workers now and then (slow leaks, glibc arenas), with jitter so they do not restart together;
# each restart re-reads the table and may fail a request in flight, so not too often.
max_requests = GUNICORN.max_requests
max_requests_jitter = GUNICORN.max_requests_jitter

logger_class = GunicornLogger
accesslog = "-" if GUNICORN.access_log else None
errorlog = "-"
# No runtime control socket: nothing uses it, and App Engine's home folder is read-only.
control_socket_disable = True
loglevel = GUNICORN.log_level.lower()
