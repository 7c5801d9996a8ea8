"""Malformed and wrong-typed callback bodies answer 4xx, never 500 — for EVERY registered callback.

The callbacks are read from the app's own ``/_dash-dependencies``, so a callback added
later is fuzzed too. Each is called anonymously and as a signed-in admin with wrong
types in every input and state, missing keys, unknown outputs, deep nesting and a huge
``changedPropIds``.

Dash itself reads a body without ``changedPropIds`` as a call nobody triggered (as on page
load), and its own page router does not look at what triggered it: those bodies must not
answer 500, but need not answer 400.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from settings import Settings
from testinfra.dash_requests import view_payload, well_formed_body

DASH_PAGE_ROUTER_OUTPUT = "_pages_content"
WRONG_VALUES: list[Any] = [1, -1, "x", "\x00", "\ud800", [], [1, "a"], {}, {"a": {"b": [1]}}, True, 1.5e308, [[[[[]]]]]]


def _set_value(entry: Any, value: Any) -> None:
    for item in entry if isinstance(entry, list) else [entry]:
        item["value"] = value


def _wrong_typed_bodies(base: dict[str, Any]) -> list[dict[str, Any]]:
    bodies = []
    for where in ("inputs", "state"):
        for index in range(len(base[where])):
            for value in WRONG_VALUES:
                body = copy.deepcopy(base)
                _set_value(body[where][index], value)
                bodies.append(body)
    return bodies


def _malformed_bodies(base: dict[str, Any]) -> list[Any]:
    """Bodies that fit no callback (JSON values, or raw bytes): each must be answered 400."""
    bodies: list[Any] = []
    for key in ("output", "outputs", "inputs"):
        bodies.append({name: value for name, value in base.items() if name != key})
    for key, value in [
        ("output", "no-such-component.children"),
        ("output", 12),
        ("output", ["a", "list"]),
        ("output", {"an": "object"}),
        ("outputs", {"id": "no-such-component", "property": "children"}),
        ("outputs", "text"),
        ("inputs", {"id": "x"}),
        ("inputs", [*base["inputs"], {"id": "extra", "property": "value", "value": 1}]),
        ("inputs", [None] * len(base["inputs"])),
        ("inputs", [{"id": "renamed", "property": "value", "value": 1}] * len(base["inputs"])),
        ("state", "text"),
    ]:
        bodies.append({**base, key: value})
    if DASH_PAGE_ROUTER_OUTPUT not in base["output"]:
        for changed in ("text", [1], ["x.value"] * 50_000, ["x" * 100_000]):
            bodies.append({**base, "changedPropIds": changed})
    deep = copy.deepcopy(base)
    _set_value(deep["inputs"][0], "DEEP")
    bodies.append(json.dumps(deep).replace('"DEEP"', "[" * 5000 + "]" * 5000).encode())  # Python cannot build it
    return bodies


@pytest.fixture(scope="module")
def fuzzed_app(tmp_path_factory):
    from app import create_app

    data = tmp_path_factory.mktemp("fuzz") / "data.csv"
    data.write_bytes(b"ID,first_num,second_num\n1,1,2\n2,3,4\n")
    return create_app(Settings.from_env({}, app_env="development", data_source="local", local_data_path=data))


def _clients(app: Any) -> dict[str, Any]:
    anonymous = app.server.test_client()
    admin = app.server.test_client()
    password = app.server.config["ONE_TIME_ADMIN_PASSWORD"]
    assert admin.post("/login", data={"username": "admin", "password": password}).status_code == 302
    return {"anonymous": anonymous, "admin": admin}


def _server_callbacks(client: Any) -> list[dict[str, Any]]:
    dependencies = client.get("/_dash-dependencies").json
    return [dependency for dependency in dependencies if not dependency["clientside_function"]]


def test_every_callback_is_fuzzed(fuzzed_app):
    outputs = [dependency["output"] for dependency in _server_callbacks(fuzzed_app.server.test_client())]
    assert any("chart-view.data" in output for output in outputs)  # the chart page's one server callback
    # The browser sets shown-version from the live channel: no server callback writes it any more.
    assert not any("shown-version.data" in output for output in outputs)
    assert any("admin-publish-result" in output for output in outputs)
    assert any("_pages_content" in output for output in outputs)


def test_well_formed_bodies_pass_the_guard(fuzzed_app):
    """Control: the base bodies reach the callbacks (so the 400s below mean something)."""
    clients = _clients(fuzzed_app)
    statuses = [
        clients["admin"].post("/_dash-update-component", json=well_formed_body(dependency)).status_code
        for dependency in _server_callbacks(clients["admin"])
    ]
    assert 400 not in statuses and all(status < 500 for status in statuses), statuses


def test_wrong_types_never_answer_500(fuzzed_app):
    clients = _clients(fuzzed_app)
    failures = []
    for who, client in clients.items():
        for dependency in _server_callbacks(client):
            for body in _wrong_typed_bodies(well_formed_body(dependency)):
                status = client.post("/_dash-update-component", json=body).status_code
                if status >= 500:
                    failures.append((who, dependency["output"][:60], json.dumps(body)[:200], status))
    assert failures == []


def test_wrong_typed_chart_state_is_refused_with_400(fuzzed_app):
    client = fuzzed_app.server.test_client()
    for shown in ("x", 1, [1, 2], True):
        assert client.post("/_dash-update-component", json=view_payload(client, shown)).status_code == 400


def test_malformed_bodies_answer_400(fuzzed_app):
    clients = _clients(fuzzed_app)
    for who, client in clients.items():
        for dependency in _server_callbacks(client):
            for body in _malformed_bodies(well_formed_body(dependency)):
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                response = client.post("/_dash-update-component", data=raw, content_type="application/json")
                assert response.status_code == 400, (who, dependency["output"][:60], raw[:200])
        for raw in (b"[]", b'"text"', b"12", b"null", b"{", b"[" * 100_000, b"\xff\xfe"):
            response = client.post("/_dash-update-component", data=raw, content_type="application/json")
            assert response.status_code == 400, (who, raw[:20])


def test_untriggered_and_router_bodies_never_answer_500(fuzzed_app):
    clients = _clients(fuzzed_app)
    for who, client in clients.items():
        for dependency in _server_callbacks(client):
            base = well_formed_body(dependency)
            bodies = [{name: value for name, value in base.items() if name != "changedPropIds"}]
            if DASH_PAGE_ROUTER_OUTPUT in base["output"]:
                bodies += [{**base, "changedPropIds": changed} for changed in ("text", [1], ["x" * 100_000])]
            for body in bodies:
                status = client.post("/_dash-update-component", json=body).status_code
                assert status < 500, (who, dependency["output"][:60], json.dumps(body)[:200])
