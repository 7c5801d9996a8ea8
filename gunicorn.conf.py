"""gunicorn's settings for ``gunicorn 'app:create_server()'`` (read from the working directory by itself).

Every value comes from an environment variable (README, "Settings"), with defaults sized
from the instance's memory: App Engine sets ``GAE_MEMORY_MB`` (F1 384, F2 768, F4 1536,
F4_1G 3072). Each worker holds its own copy of the parsed table, so memory, not CPU,
bounds the number of workers. In each worker uvicorn's event loop answers unchanged polls
and ``GUNICORN_THREADS`` threads run everything else (``asgi_worker.py``).

Command-line flags still win over this file (``gunicorn -w 4 …``).
"""

from __future__ import annotations

import os

from app_logging import GunicornLogger  # noqa: F401  (named below; imported so a typo fails here)

MEMORY_PER_WORKER_MB = 384  # a worker serving a 1M-row table, with room for a swap (docs/benchmarks/workers.md)
MAX_DEFAULT_WORKERS = 4
# Workers import numpy after this file has run: its big arrays go on 4 KiB pages unless the
# environment says otherwise (huge-page faults stalled big take-ups; docs/decisions/0006-memory-allocator.md).
os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"live-dashboard: {name} must be a whole number, got {raw!r}") from None


def default_workers(memory_mb: int) -> int:
    """Workers for an instance with ``memory_mb`` (F1: 1, F2: 2, F4 and F4_1G: 4); 2 when unknown."""
    if memory_mb <= 0:
        return 2
    return max(1, min(MAX_DEFAULT_WORKERS, memory_mb // MEMORY_PER_WORKER_MB))


def default_bind() -> str:
    """All interfaces on App Engine (``PORT`` is set there), else 127.0.0.1 as the app's HOST/PORT say."""
    port = os.environ.get("PORT", "8050").strip() or "8050"
    host = "0.0.0.0" if os.environ.get("GAE_ENV") else os.environ.get("HOST", "127.0.0.1").strip()
    return f"{host}:{port}"


bind = os.environ.get("GUNICORN_BIND", "").strip() or default_bind()
workers = _int("GUNICORN_WORKERS", _int("WEB_CONCURRENCY", default_workers(_int("GAE_MEMORY_MB", 0))))
# uvicorn's event loop in front of the app: an unchanged poll costs a third of what it costs
# under gthread (asgi_worker.py). GUNICORN_WORKER_CLASS=gthread serves the same app the old way.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "").strip() or "asgi_worker.DashboardWorker"
threads = _int("GUNICORN_THREADS", 8)
# The master only kills a worker whose event loop stops answering; a slow request in one
# thread does not trip it. Storage calls need their own, shorter deadlines.
timeout = _int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 20)
keepalive = _int("GUNICORN_KEEPALIVE", 75)  # longer than Google's front end keeps idle connections
# Recycle workers now and then (slow leaks, glibc arenas); jitter so they do not restart together.
# Each restart re-reads the live table once (from the shared cache, or storage with SimpleCache),
# and closing its keep-alive connections can fail a request in flight: at 10,000 open
# dashboards a worker serves ~1,000 polls/s, so this is a restart every ~17 minutes at most.
max_requests = _int("GUNICORN_MAX_REQUESTS", 1_000_000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 100_000)

logger_class = "app_logging.GunicornLogger"
accesslog = "-" if os.environ.get("GUNICORN_ACCESS_LOG", "1").strip().lower() not in ("0", "false", "no") else None
errorlog = "-"
# No runtime control socket: nothing uses it, and App Engine's home folder is read-only.
control_socket_disable = True
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info").strip().lower() or "info"
