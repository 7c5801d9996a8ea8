"""A dataset's chart page (``/d/<name>``), one page with a path template (Dash cannot add pages at run time).

The name is looked up in the catalog on every visit; the callbacks are ``pages/chart.py``'s.
"""

from __future__ import annotations

from typing import Any

import dash

from app_context import current_settings, find_dataset
from components.chart_page import chart_page
from components.live_status import live_status_bar
from routes import NOT_FOUND_MODULE

dash.register_page(__name__, path_template="/d/<name>", name="Dataset", title="Live dashboard", nav=False)


def layout(name: str = "", **_query: Any) -> Any:
    """The chart of dataset ``name``, or the not-found page."""
    dataset = find_dataset(name)
    if dataset is None:
        return dash.page_registry[NOT_FOUND_MODULE]["layout"]()
    settings = current_settings()
    status_bar = live_status_bar(settings.poll_interval_seconds, settings.live_push, f"/d/{dataset.name}")
    return chart_page(dataset.name, dataset.description, status_bar)
