"""Callback requests checked before Dash runs them: malformed or wrong-typed bodies get HTTP 400.

Dash trusts ``POST /_dash-update-component`` bodies: an unknown output, a missing key, a
string where a list belongs or a deeply nested value reaches Dash's dispatcher or the
callback itself and ends as an HTTP 500 with a traceback. Here every request is checked
against the callbacks the app registered:

* the body is a JSON object nested at most ``MAX_NESTING`` deep;
* ``output`` names a registered callback; ``outputs``, ``inputs`` and ``state`` have the
  shape and the very ids and properties that callback declared; ``changedPropIds`` is a
  short list of its input ids;
* each value has the type the callback's parameter annotation names (``dict``,
  ``list[str]``, ``int``…; ``None`` always passes: it is what Dash sends for a property
  nobody set yet), and well-known properties the type Dash gives them (``n_clicks`` is a
  count, ``pathname`` a path).

It also knows which callbacks belong to the admin page (defined in the module of the
page registered at ``/admin``), for the admin gate in :mod:`auth.web`: authorisation
follows what the app registered, not only how components are named.
"""

from __future__ import annotations

import inspect
import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import dash
from flask import Flask, Response, g, request

CALLBACK_PATH_SUFFIX = "/_dash-update-component"
ADMIN_PAGE_PATH = "/admin"
MAX_NESTING = 32
MAX_PROP_ID_LENGTH = 512
# Types Dash's own components give these properties, whatever the callback's annotation says.
_COUNTS = ("n_clicks", "n_intervals", "submit_n_clicks", "cancel_n_clicks", "n_submit", "n_blur")
_TEXTS = ("search", "hash", "href", "filename")


class MalformedCallback(ValueError):
    """The callback request does not match any callback the app registered; the message says how."""


@dataclass(frozen=True)
class _Parameter:
    component_id: str
    prop: str
    wildcard: bool
    annotation: Any  # typing.Any when the callback did not say


@dataclass(frozen=True)
class _Callback:
    outputs: tuple[tuple[str, str], ...]  # (component id, property), a duplicate's property with its @hash
    inputs: tuple[_Parameter, ...]
    state: tuple[_Parameter, ...]
    module: str  # where the callback function is defined


class CallbackGuard:
    """The registered callbacks of one app, and the check of a request against them."""

    def __init__(
        self, callback_map: dict[str, dict[str, Any]], admin_modules: Callable[[], set[str]] | None = None
    ) -> None:
        # Dash fills its callback map while it sets up, on the first request: read it then.
        self._callback_map = callback_map
        self._admin_modules = admin_modules or _admin_page_modules
        self._table: dict[str, _Callback] | None = None
        self._admin_outputs: frozenset[str] = frozenset()

    @property
    def _callbacks(self) -> dict[str, _Callback]:
        if self._table is None or len(self._table) != len(self._callback_map):
            self._table = {output: _describe(output, spec) for output, spec in self._callback_map.items()}
            modules = self._admin_modules()
            self._admin_outputs = frozenset(output for output, item in self._table.items() if item.module in modules)
        return self._table

    def is_admin_callback(self, body: dict[str, Any]) -> bool:
        """Whether ``body`` calls a callback of the admin page."""
        self._callbacks  # noqa: B018 - builds the table (and the admin outputs) on first use
        output = body.get("output")
        return isinstance(output, str) and output in self._admin_outputs

    def check(self, body: dict[str, Any]) -> None:
        """Pass when ``body`` fits a registered callback; :class:`MalformedCallback` otherwise."""
        callback = self._callbacks.get(body.get("output")) if isinstance(body.get("output"), str) else None
        if callback is None:
            raise MalformedCallback("no such callback")
        _check_outputs(body.get("outputs"), callback.outputs)
        inputs = _check_values(body.get("inputs"), callback.inputs, "inputs")
        _check_values(body.get("state", []), callback.state, "state")
        _check_changed(body.get("changedPropIds"), inputs)


def callback_body() -> dict[str, Any]:
    """The current callback request's JSON object, parsed once per request (Dash reuses Flask's copy).

    :class:`MalformedCallback` when it is not a JSON object or is nested absurdly deep
    (Python's parser would raise ``RecursionError``, an HTTP 500).
    """
    if "callback_body" not in g:
        raw = request.get_data(cache=True)
        if _nesting_exceeds(raw, MAX_NESTING):
            raise MalformedCallback(f"nested deeper than {MAX_NESTING} levels")
        g.callback_body = request.get_json(silent=True)
        # A lone UTF-16 surrogate ("\ud800") parses, then breaks whatever encodes it later.
        if (b"\\ud" in raw or b"\\uD" in raw) and not _encodable(g.callback_body):
            g.callback_body = None
    if not isinstance(g.callback_body, dict):
        raise MalformedCallback("the body is not a JSON object of valid text")
    return g.callback_body


def _encodable(value: Any) -> bool:
    """Every string inside ``value`` (keys too) is valid Unicode text."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return True


def install_callback_guard(server: Flask, callback_map: dict[str, dict[str, Any]]) -> CallbackGuard:
    """Refuse (HTTP 400) callback requests that do not fit ``callback_map``, before Dash parses them."""
    guard = CallbackGuard(callback_map)

    def refuse_malformed_callbacks() -> Response | None:
        if request.method != "POST" or not request.path.endswith(CALLBACK_PATH_SUFFIX):
            return None
        try:
            guard.check(callback_body())
        except MalformedCallback as error:
            return Response(f"Malformed callback request: {error}", status=400, mimetype="text/plain")
        return None

    server.before_request(refuse_malformed_callbacks)
    server.extensions["callback_guard"] = guard
    return guard


# -- building the table of callbacks ------------------------------------------------------


def _admin_page_modules() -> set[str]:
    return {page["module"] for page in dash.page_registry.values() if page.get("path") == ADMIN_PAGE_PATH}


def _describe(output: str, spec: dict[str, Any]) -> _Callback:
    function = spec.get("callback")
    module = getattr(inspect.unwrap(function), "__module__", "") if function is not None else ""
    declared = [*spec.get("inputs", []), *spec.get("state", [])]
    annotations = _annotations(spec.get("callback"), spec.get("inputs_state_indices"), len(declared))
    parameters = [
        _Parameter(
            component_id=item["id"],
            prop=item["property"],
            wildcard=item["id"].startswith("{"),
            annotation=annotations[index],
        )
        for index, item in enumerate(declared)
    ]
    count = len(spec.get("inputs", []))
    return _Callback(tuple(_split_output_key(output)), tuple(parameters[:count]), tuple(parameters[count:]), module)


def _annotations(function: Callable | None, grouping: Any, count: int) -> list[Any]:
    """The annotation of the parameter each of ``count`` values is passed to (``Any`` where unknown).

    Positional callbacks take the values in order; callbacks declared with ``inputs={...}``
    take them by name (``grouping`` maps each name to its value's index, or to a nested
    group, which is passed as a dict and checked by the callback itself).
    """
    unknown = [Any] * count
    hints, positional = _parameter_hints(function)
    if isinstance(grouping, dict):
        for name, index in grouping.items():
            if isinstance(index, int) and 0 <= index < count:
                unknown[index] = hints.get(name, Any)
        return unknown
    if len(positional) != count:
        return unknown
    return [hints.get(name, Any) for name in positional]


def _parameter_hints(function: Callable | None) -> tuple[dict[str, Any], list[str]]:
    """A callback's parameter annotations by name, and its positional parameters' names in order."""
    if function is None:
        return {}, []
    function = inspect.unwrap(function)
    try:
        hints = typing.get_type_hints(function)
        parameters = inspect.signature(function).parameters.values()
    except (NameError, TypeError, ValueError):
        return {}, []
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return hints, [parameter.name for parameter in parameters if parameter.kind in positional]


# -- checking a request -------------------------------------------------------------------


def _nesting_exceeds(raw: bytes, limit: int) -> bool:
    """True when JSON text opens more than ``limit`` brackets at once (strings are skipped)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False  # cannot be that deep: the common, cheap case
    depth = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def _split_output_key(output: str) -> list[tuple[str, str]]:
    """(component id, property) of each output; a duplicate output's property keeps its ``@hash``."""
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    return [tuple(part.rsplit(".", 1)) for part in parts]  # type: ignore[misc]


def _check_outputs(outputs: Any, expected: tuple[tuple[str, str], ...]) -> None:
    listed = outputs if isinstance(outputs, list) else [outputs]
    if len(listed) != len(expected) or (len(expected) == 1 and isinstance(outputs, list)):
        raise MalformedCallback("outputs do not match the callback")
    for item, (component_id, prop) in zip(listed, expected, strict=True):
        # allow_duplicate outputs carry "@<hash>" after the property name, as in the callback's key.
        if not isinstance(item, dict) or str(item.get("property", "")).split("@")[0] != prop.split("@")[0]:
            raise MalformedCallback("outputs do not match the callback")
        if not component_id.startswith("{") and item.get("id") != component_id:
            raise MalformedCallback("outputs do not match the callback")


def _check_values(entries: Any, parameters: tuple[_Parameter, ...], where: str) -> list[str]:
    """Check ``inputs`` or ``state``; returns the prop ids they carry (for ``changedPropIds``)."""
    if not isinstance(entries, list) or len(entries) != len(parameters):
        raise MalformedCallback(f"{where} do not match the callback")
    prop_ids: list[str] = []
    for entry, parameter in zip(entries, parameters, strict=True):
        if parameter.wildcard:
            values = _wildcard_values(entry, parameter, where)
            prop_ids += [json.dumps(item["id"], sort_keys=True) + "." + parameter.prop for item in entry]
            _check_type(values, parameter.annotation, parameter)
            continue
        if not isinstance(entry, dict) or entry.get("id") != parameter.component_id:
            raise MalformedCallback(f"{where} do not match the callback")
        if entry.get("property") != parameter.prop:
            raise MalformedCallback(f"{where} do not match the callback")
        value = entry.get("value")
        _check_property(value, parameter)
        _check_type(value, parameter.annotation, parameter)
        prop_ids.append(f"{parameter.component_id}.{parameter.prop}")
    return prop_ids


def _wildcard_values(entry: Any, parameter: _Parameter, where: str) -> list[Any]:
    pattern = json.loads(parameter.component_id)
    if not isinstance(entry, list):
        raise MalformedCallback(f"{where} do not match the callback")
    values = []
    for item in entry:
        if not isinstance(item, dict) or item.get("property") != parameter.prop or not isinstance(item.get("id"), dict):
            raise MalformedCallback(f"{where} do not match the callback")
        if set(item["id"]) != set(pattern) or any(
            not isinstance(value, str | int | float) or isinstance(value, bool) for value in item["id"].values()
        ):
            raise MalformedCallback(f"{where} do not match the callback")
        fixed = {key: value for key, value in pattern.items() if not isinstance(value, list)}
        if any(item["id"].get(key) != value for key, value in fixed.items()):
            raise MalformedCallback(f"{where} do not match the callback")
        value = item.get("value")
        _check_property(value, parameter)
        values.append(value)
    return values


def _check_property(value: Any, parameter: _Parameter) -> None:
    prop = parameter.prop
    if prop in _COUNTS and not (value is None or (_is_int(value) and value >= 0)):
        raise MalformedCallback(f"{parameter.component_id}.{prop} must be a count")
    if prop == "disabled" and not (value is None or isinstance(value, bool)):
        raise MalformedCallback(f"{parameter.component_id}.{prop} must be true or false")
    if prop == "pathname" and not (value is None or (isinstance(value, str) and value.startswith("/"))):
        raise MalformedCallback(f"{parameter.component_id}.{prop} must be a path")
    if prop in _TEXTS and not (value is None or isinstance(value, str)):
        raise MalformedCallback(f"{parameter.component_id}.{prop} must be text")


def _check_type(value: Any, annotation: Any, parameter: _Parameter) -> None:
    # None is what Dash sends for a property nobody set yet: never refused on the annotation alone.
    if value is not None and not _matches(value, annotation):
        raise MalformedCallback(f"{parameter.component_id}.{parameter.prop} has the wrong type")


def _matches(value: Any, annotation: Any) -> bool:
    """Whether a JSON value fits a type annotation (the subset callbacks use)."""
    if annotation is Any or annotation is object:
        return True
    if annotation is None or annotation is type(None):
        return value is None
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        return any(_matches(value, option) for option in typing.get_args(annotation))
    if origin in (list, tuple):
        arguments = typing.get_args(annotation)
        return isinstance(value, list) and all(_matches(item, arguments[0] if arguments else Any) for item in value)
    if origin is dict or annotation is dict:
        return isinstance(value, dict)
    if annotation is list:
        return isinstance(value, list)
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return _is_int(value)
    if annotation is float:
        return _is_int(value) or isinstance(value, float)
    if annotation is str:
        return isinstance(value, str)
    return True  # anything more exotic is the callback's own business


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_changed(changed: Any, input_ids: list[str]) -> None:
    if not isinstance(changed, list) or len(changed) > max(len(input_ids), 1):
        raise MalformedCallback("changedPropIds do not match the inputs")
    for prop_id in changed:
        if not isinstance(prop_id, str) or len(prop_id) > MAX_PROP_ID_LENGTH:
            raise MalformedCallback("changedPropIds do not match the inputs")
