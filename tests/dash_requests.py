"""Call a Dash callback over HTTP the way the browser does (POST /_dash-update-component)."""

from __future__ import annotations

from typing import Any


def _prop(spec: str, value: Any = None, with_value: bool = False) -> dict[str, Any]:
    component_id, prop = spec.rsplit(".", 1)
    entry: dict[str, Any] = {"id": component_id, "property": prop}
    if with_value:
        entry["value"] = value
    return entry


def callback_payload(outputs: list[str], inputs: dict[str, Any], state: dict[str, Any] | None = None) -> dict:
    """The JSON body Dash's renderer sends for a callback with these outputs, inputs and state."""
    output_key = outputs[0] if len(outputs) == 1 else ".." + "...".join(outputs) + ".."
    return {
        "output": output_key,
        "outputs": _prop(outputs[0]) if len(outputs) == 1 else [_prop(spec) for spec in outputs],
        "inputs": [_prop(spec, value, True) for spec, value in inputs.items()],
        "state": [_prop(spec, value, True) for spec, value in (state or {}).items()],
        "changedPropIds": [next(iter(inputs))],
    }


def post_callback(
    client: Any, outputs: list[str], inputs: dict[str, Any], state: dict[str, Any] | None = None, **request_options: Any
) -> Any:
    """POST one callback request with a Flask test client; returns the response."""
    return client.post("/_dash-update-component", json=callback_payload(outputs, inputs, state), **request_options)


POLL_OUTPUTS = ["shown-version.data", "storage-status.data"]


def poll_payload(shown: dict | None = None, status: dict | None = None) -> dict:
    """The body of one tick of the chart page's poll callback."""
    return callback_payload(
        POLL_OUTPUTS, {"poll-trigger.data": 1}, {"shown-version.data": shown, "storage-status.data": status}
    )


def poll(client: Any, shown: dict | None = None, status: dict | None = None) -> Any:
    """One tick of the chart page's poll callback, through a Flask test client."""
    return client.post("/_dash-update-component", json=poll_payload(shown, status))


RENDER_OUTPUTS = ["chart-graph.figure", "rendered-chart.data", "chart-range.data"]


def render_payload(
    shown: dict | None, search: str = "", rendered: dict | None = None, x_range: list | None = None
) -> dict:
    """The body of the chart page's render callback, triggered by a new ``shown-version``."""
    inputs = {"shown-version.data": shown, "chart-view.data": None}
    state = {"chart-url.search": search, "rendered-chart.data": rendered, "chart-range.data": x_range}
    return callback_payload(RENDER_OUTPUTS, inputs, state)


def render(client: Any, shown: dict | None, search: str = "", rendered: dict | None = None) -> Any:
    """The chart page's render callback, through a Flask test client."""
    return client.post("/_dash-update-component", json=render_payload(shown, search, rendered))
