"""Call a Dash callback over HTTP the way the browser does (POST /_dash-update-component), and check
``/live/version`` as the page does.

Bodies are built as Dash's published ``dash.types.CallbackExecutionBody``, so a change to that shape
shows up here as a type change rather than as a silent mismatch. Test infrastructure only: product
code never builds or reads these bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from dash.types import CallbackExecutionBody


def _prop(spec: str, value: Any = None, with_value: bool = False) -> dict[str, Any]:
    component_id, prop = spec.rsplit(".", 1)
    entry: dict[str, Any] = {"id": component_id, "property": prop}
    if with_value:
        entry["value"] = value
    return entry


def callback_payload(
    outputs: list[str], inputs: dict[str, Any], state: dict[str, Any] | None = None
) -> CallbackExecutionBody:
    """The JSON body Dash's renderer sends for a callback with these outputs, inputs and state."""
    return CallbackExecutionBody(
        output=outputs[0] if len(outputs) == 1 else ".." + "...".join(outputs) + "..",
        outputs=_prop(outputs[0]) if len(outputs) == 1 else [_prop(spec) for spec in outputs],
        inputs=[_prop(spec, value, True) for spec, value in inputs.items()],
        state=[_prop(spec, value, True) for spec, value in (state or {}).items()],
        changedPropIds=[next(iter(inputs))],
    )


def _outputs(output_key: str) -> Any:
    """The ``outputs`` the browser sends: a duplicate output's property keeps its ``@hash``."""
    parts = output_key[2:-2].split("...") if output_key.startswith("..") else [output_key]
    outputs = []
    for part in parts:
        component, prop = part.rsplit(".", 1)
        outputs.append({"id": json.loads(component) if component.startswith("{") else component, "property": prop})
    return outputs if len(outputs) > 1 else outputs[0]


def _entry(spec: dict[str, Any], value: Any) -> Any:
    if spec["id"].startswith("{"):  # pattern-matching ALL: a list of matching components
        pattern = json.loads(spec["id"])
        concrete = {key: ("1" if isinstance(part, list) else part) for key, part in pattern.items()}
        return [{"id": concrete, "property": spec["property"], "value": value}]
    return {"id": spec["id"], "property": spec["property"], "value": value}


def well_formed_body(dependency: dict[str, Any]) -> CallbackExecutionBody:
    """A body of the shape the browser sends for ``dependency`` (from ``/_dash-dependencies``), every value ``None``."""
    inputs = [_entry(spec, None) for spec in dependency["inputs"]]
    first = inputs[0][0] if isinstance(inputs[0], list) else inputs[0]
    # The renderer names a pattern-matching trigger by its concrete id, keys sorted, no spaces.
    first_id = json.dumps(first["id"], sort_keys=True, separators=(",", ":"))
    return CallbackExecutionBody(
        output=dependency["output"],
        outputs=_outputs(dependency["output"]),
        inputs=inputs,
        state=[_entry(spec, None) for spec in dependency["state"]],
        changedPropIds=[f"{first_id if isinstance(first['id'], dict) else first['id']}.{first['property']}"],
    )


def post_callback(
    client: Any, outputs: list[str], inputs: dict[str, Any], state: dict[str, Any] | None = None, **request_options: Any
) -> Any:
    """POST one callback request with a Flask test client; returns the response."""
    return client.post("/_dash-update-component", json=callback_payload(outputs, inputs, state), **request_options)


@dataclass
class BrowserCheck:
    """What a page does with one ``GET /live/version`` (``assets/live_dashboard.js``'s ``apply``).

    ``status_code`` is 204 when the page changes nothing (no Dash callback runs), else 200 with
    ``json["response"]`` holding the stores it sets, as a Dash callback answer would.
    """

    status_code: int
    json: dict[str, Any]
    data: bytes  # the /live/version body as served
    document: dict[str, Any]


def shown_from(document: dict[str, Any]) -> dict[str, Any]:
    """The ``shown-version`` store a page builds from a live document."""
    fields = ("generation", "token", "updated", "size", "uploaded_by", "version", "description")
    return {**{name: document[name] for name in fields}, "loaded_at": "2026-01-01T00:00:00Z"}


def live_shown(base_url: str) -> dict[str, Any]:
    """The ``shown-version`` a page builds from ``GET /live/version`` of a served app (over HTTP)."""
    import json
    import urllib.request

    with urllib.request.urlopen(f"{base_url}/live/version", timeout=30) as response:
        return shown_from(json.loads(response.read()))


def poll(client: Any, shown: dict | None = None, status: dict | None = None) -> BrowserCheck:
    """One check of ``/live/version`` through a Flask test client, and what the page would set."""
    response = client.get("/live/version")
    assert response.status_code == 200, response.status_code
    document = response.get_json()
    showing = bool(shown and shown.get("generation"))
    next_shown, next_status = shown, None
    if document["status"] == "live":
        if not showing or shown["generation"] != document["generation"]:
            next_shown = shown_from(document)
    elif document["status"] in ("removed", "no data"):
        if showing:
            removed = status if status and status.get("kind") == "removed" else None
            next_status = removed or {"kind": "removed", "at": document["removed_at"]}
        else:
            next_shown = {"empty": True}
    else:
        kind = "unreadable" if document["status"] == "unreadable" else "unreachable"
        next_status = {"error": document["error"], "kind": kind}
    changes: dict[str, Any] = {}
    if next_shown != shown:
        changes["shown-version"] = {"data": next_shown}
    if next_status != status:
        changes["storage-status"] = {"data": next_status}
    return BrowserCheck(200 if changes else 204, {"response": changes}, response.data, document)


def chart_answer(client: Any, shown: dict, search: str = "", **extra: str) -> Any:
    """``GET /live/<generation>/chart`` as the chart page asks for it (``extra``: e.g. ``x0``/``x1``)."""
    query = urlencode({"t": shown["token"], **extra})
    separator = "&" if search.lstrip("?") else ""
    return client.get(f"/live/{quote(shown['generation'])}/chart?{search.lstrip('?')}{separator}{query}")


def drawn(shown: dict, answer: dict) -> dict:
    """The page's ``rendered-chart`` after drawing ``answer`` for ``shown``."""
    return {"generation": shown["generation"], "view": answer["view"], "signature": answer["signature"]}


def view_payload(client: Any, shown: Any, search: str = "") -> dict:
    """The body the page sends to the chart's view callback (``sync_view``) when its URL's ``search`` changes."""
    dependencies = client.get("/_dash-dependencies").json
    dependency = next(
        d for d in dependencies if not d.get("clientside_function") and d["inputs"][0]["id"] == "chart-url"
    )
    body = well_formed_body(dependency)
    body["inputs"][0]["value"] = search
    body["state"][0]["value"] = shown  # shown-version, then chart-view
    return body
