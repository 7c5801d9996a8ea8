"""Call a Dash callback over HTTP the way the browser does (POST /_dash-update-component)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode


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


def chart_answer(client: Any, shown: dict, search: str = "", **extra: str) -> Any:
    """``GET /live/<generation>/chart`` as the chart page asks for it (``extra``: e.g. ``x0``/``x1``)."""
    query = urlencode({"t": shown["token"], **extra})
    separator = "&" if search.lstrip("?") else ""
    return client.get(f"/live/{quote(shown['generation'])}/chart?{search.lstrip('?')}{separator}{query}")


def drawn(shown: dict, answer: dict) -> dict:
    """The page's ``rendered-chart`` after drawing ``answer`` for ``shown``."""
    return {"generation": shown["generation"], "view": answer["view"], "signature": answer["signature"]}
