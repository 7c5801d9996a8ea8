"""WSGI entry for the benchmark's baseline: a bare Dash app with one no-op callback, nothing else.

No auth, no headers, no compression, no cache: what Dash itself costs per callback, so
``make load`` can show what the real app's per-request hooks add to an unchanged poll.
"""

from __future__ import annotations

import functools
from typing import Any

from dash import Dash, html
from flask import Flask

from bench.bench_app import add_noop_callback


@functools.cache
def _server() -> Flask:
    app = Dash(__name__, health_endpoint="healthz")
    app.layout = html.Div("bare")
    add_noop_callback(app)
    with app.server.test_client() as client:  # render once, as the real app does in each worker
        client.get("/")
    return app.server


def __getattr__(name: str) -> Any:
    # Built on first lookup (by gunicorn), so importing this module has no side effects.
    if name == "server":
        return _server()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
