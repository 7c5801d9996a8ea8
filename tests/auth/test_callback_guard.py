"""The callback checks as pure logic: a callback map like Dash's, bodies like the renderer's."""

from __future__ import annotations

from typing import Any

import pytest

from auth.callback_guard import CallbackGuard, MalformedCallback


def publish(n_clicks: int | None, pending: dict | None) -> None:
    """Stands for an admin page callback (its module is named below)."""


def show(shown: dict | None, columns: list[str] | None) -> None:
    """Stands for a public callback."""


def label(text: str) -> None:
    """Stands for a callback whose annotation leaves out None."""


publish.__module__ = "pages.admin"

CALLBACK_MAP: dict[str, dict[str, Any]] = {
    "result.children": {
        "callback": publish,
        "inputs": [{"id": "go", "property": "n_clicks"}],
        "state": [{"id": "pending", "property": "data"}],
    },
    "..graph.figure...picked.data..": {
        "callback": show,
        "inputs": [{"id": "shown", "property": "data"}, {"id": "columns", "property": "value"}],
        "state": [],
    },
    "label.children": {"callback": label, "inputs": [{"id": "text", "property": "value"}], "state": []},
}


def _body(output: str, outputs: Any, inputs: list, state: list, changed: list[str]) -> dict[str, Any]:
    return {"output": output, "outputs": outputs, "inputs": inputs, "state": state, "changedPropIds": changed}


def _publish(n_clicks: Any = 1, pending: Any = None) -> dict[str, Any]:
    return _body(
        "result.children",
        {"id": "result", "property": "children"},
        [{"id": "go", "property": "n_clicks", "value": n_clicks}],
        [{"id": "pending", "property": "data", "value": pending}],
        ["go.n_clicks"],
    )


def _show(shown: Any = None, columns: Any = None) -> dict[str, Any]:
    return _body(
        "..graph.figure...picked.data..",
        [{"id": "graph", "property": "figure"}, {"id": "picked", "property": "data"}],
        [{"id": "shown", "property": "data", "value": shown}, {"id": "columns", "property": "value", "value": columns}],
        [],
        ["shown.data"],
    )


@pytest.fixture()
def guard() -> CallbackGuard:
    return CallbackGuard(CALLBACK_MAP, admin_modules=lambda: {"pages.admin"})


def test_well_formed_bodies_pass(guard):
    guard.check(_publish(3, {"sha256": "x"}))
    guard.check(_show({"generation": "1"}, ["a", "b"]))


@pytest.mark.parametrize(
    "body",
    [
        _publish(n_clicks="3"),
        _publish(n_clicks=-1),
        _publish(n_clicks=True),
        _publish(pending=[1]),
        _show(shown="text"),
        _show(columns=[1, 2]),
        _show(columns="a"),
        {**_show(), "output": "graph.figure"},
        {**_show(), "outputs": {"id": "graph", "property": "figure"}},
        {**_show(), "inputs": _show()["inputs"][:1]},
        {**_show(), "changedPropIds": ["shown.data"] * 3},
    ],
)
def test_wrong_shapes_and_types_are_refused(guard, body):
    with pytest.raises(MalformedCallback):
        guard.check(body)


def test_admin_callbacks_are_known_by_the_page_that_registered_them(guard):
    assert guard.is_admin_callback(_publish())  # its output id does not say "admin"
    assert not guard.is_admin_callback(_show())
    assert not guard.is_admin_callback({"output": "unknown.children"})
    assert not guard.is_admin_callback({"output": ["not", "text"]})


def test_none_passes_whatever_the_annotation(guard):
    """Dash sends None for a property nobody set yet; refusing it would break the page."""
    body = _body("label.children", {"id": "label", "property": "children"}, [], [], ["text.value"])
    body["inputs"] = [{"id": "text", "property": "value", "value": None}]
    guard.check(body)
    body["inputs"][0]["value"] = 12
    with pytest.raises(MalformedCallback):
        guard.check(body)
