"""WSGI entry for the benchmark: the real app plus one no-op callback on the same server.

``gunicorn bench.bench_app:server`` serves exactly what ``app:create_server()`` serves (same
settings from the environment), plus a callback that raises ``PreventUpdate`` at once.
It has the poll callback's shape (two outputs, one input, two states), so comparing
the two measures only what the poll does beyond Dash's own dispatch.

The callback is added after ``create_app`` has rendered the index (Dash has already
copied its global callbacks by then); ``app.callback`` writes straight into
``app.callback_map``, which is what ``/_dash-update-component`` dispatches on. Its ids
are not in any layout: Dash does not check that on a POST.
"""

from __future__ import annotations

import functools
from typing import Any

from dash import Dash, Input, Output, State
from dash.exceptions import PreventUpdate
from flask import Flask

NOOP_OUTPUTS = ["bench-noop-a.data", "bench-noop-b.data"]
NOOP_INPUT = "bench-noop-in.data"


def add_noop_callback(app: Dash) -> None:
    """Register the no-op callback on ``app`` (answers HTTP 204 with no body)."""

    @app.callback(
        Output("bench-noop-a", "data"),
        Output("bench-noop-b", "data"),
        Input("bench-noop-in", "data"),
        State("bench-noop-a", "data"),
        State("bench-noop-b", "data"),
        prevent_initial_call=True,
    )
    def bench_noop(_trigger: Any, _a: Any, _b: Any) -> tuple:
        raise PreventUpdate


@functools.cache
def _server() -> Flask:
    from app import create_app
    from settings import Settings

    app = create_app(Settings.from_env())
    add_noop_callback(app)
    return app.server


def __getattr__(name: str) -> Any:
    # Built on first lookup (by gunicorn), so importing this module has no side effects.
    if name == "server":
        return _server()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
