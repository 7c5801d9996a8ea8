"""Dash keeps pages and callbacks in module-global registries; tests building several apps reset them.

Test-only: it reaches into ``dash._callback`` (private), which production code never does.
"""

from __future__ import annotations

import dash
from dash import _callback


def reset_dash_registries() -> None:
    """Forget the pages and callbacks earlier apps registered (each new app executes its page modules afresh)."""
    dash.page_registry.clear()
    _callback.GLOBAL_CALLBACK_LIST.clear()
    _callback.GLOBAL_CALLBACK_MAP.clear()
