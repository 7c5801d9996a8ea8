"""Callback requests Dash cannot use are answered 400, by public means only (nothing here reads Dash's format).

:func:`typed_callback` checks a callback's arguments against its annotations and triggers;
:func:`install_callback_errors` refuses JSON bodies (callbacks' and every route's) nested deeper
than :data:`MAX_NESTING` or holding invalid Unicode. An error once a callback runs stays a 500: a
bug, not bad input.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import typing
from collections.abc import Callable
from typing import Any

import dash
from flask import Flask, Response, g, request
from pydantic import TypeAdapter, ValidationError
from werkzeug.exceptions import BadRequest, HTTPException

log = logging.getLogger(__name__)

CALLBACK_PATH_SUFFIX = "/_dash-update-component"
MAX_NESTING = 32
_STARTED = "callback_started"


def typed_callback(function: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a callback so that its arguments are checked against its annotations first (400 if not).

    ``None`` always passes: Dash sends it for a property nobody set yet."""
    signature = inspect.signature(function)
    hints = typing.get_type_hints(function)
    adapters = {
        name: TypeAdapter(hints[name] | None)
        for name in signature.parameters
        if name in hints and hints[name] is not Any
    }

    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        try:
            arguments = signature.bind(*args, **kwargs).arguments
            for name, value in arguments.items():
                if name in adapters:
                    _validate(adapters[name], name, value)
            _check_triggers()
        except (TypeError, ValueError, AttributeError) as error:
            raise BadRequest(response=_malformed(_first_line(error))) from None
        g.setdefault(_STARTED, True)
        return function(*args, **kwargs)

    return checked


def _validate(adapter: TypeAdapter, name: str, value: Any) -> None:
    try:
        adapter.validate_python(value, strict=True)
    except ValidationError as error:
        raise ValueError(f"{name}: {error.errors()[0]['msg']}") from None


def _check_triggers() -> None:
    """What triggered the call names inputs of this call (``ctx.triggered_id`` is then safe to read).

    And the call names what it writes: without that, a callback that may answer "no update" on
    such a call would give 204 where the request is malformed.
    """
    if not dash.ctx.outputs_list:
        raise ValueError("the call names no outputs")
    inputs = dash.ctx.inputs
    for prop_id in dash.ctx.triggered_prop_ids:  # raises on ids that are not text
        if prop_id not in inputs:
            raise ValueError(f"the trigger {prop_id[:100]!r} is not an input of this callback")


def install_callback_errors(server: Flask) -> None:
    """Refuse unreadable callback bodies before Dash parses them; answer Dash's request errors with 400."""
    server.before_request(_refuse_unreadable_bodies)
    server.register_error_handler(Exception, _request_errors_as_400)


def _is_callback_request() -> bool:
    return request.method == "POST" and request.path.endswith(CALLBACK_PATH_SUFFIX)


def _refuse_unreadable_bodies() -> Response | None:
    # Every JSON body, not only Dash's: Python's parser overflows on deep nesting wherever it runs.
    if not (_is_callback_request() or request.is_json):
        return None
    raw = request.get_data(cache=True)  # within the size limit checked before (auth.web)
    # Fewer brackets than the limit cannot nest deeper: the common case skips parsing here.
    if raw.count(b"[") + raw.count(b"{") > MAX_NESTING:
        try:
            too_deep = _deeper_than(request.get_json(force=True, silent=True), MAX_NESTING)  # cached for Dash
        except RecursionError:
            too_deep = True
        if too_deep:
            return _malformed(f"nested deeper than {MAX_NESTING} levels")
    # A lone UTF-16 surrogate ("\ud800") parses, then breaks whatever encodes it later.
    if (b"\\ud" in raw or b"\\uD" in raw) and not _encodable(request.get_json(silent=True)):
        return _malformed("the body is not valid text")
    return None


def _request_errors_as_400(error: Exception) -> Any:
    if isinstance(error, HTTPException):
        return error
    if not _is_callback_request() or g.get(_STARTED):
        raise error  # a bug (in a callback, or outside callbacks): Flask logs it and answers 500
    log.info("callback request refused: %s", _first_line(error)[:200])
    return _malformed("it does not fit a callback of this app")


def _malformed(reason: str) -> Response:
    what = "callback request" if _is_callback_request() else "request"
    return Response(f"Malformed {what}: {reason}", status=400, mimetype="text/plain")


def _first_line(error: Exception) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]


def _encodable(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _deeper_than(value: Any, limit: int) -> bool:
    """True when ``value`` nests lists and objects more than ``limit`` levels deep (looks no deeper)."""
    if not isinstance(value, list | dict):
        return False
    children = value.values() if isinstance(value, dict) else value
    return limit < 1 or any(_deeper_than(child, limit - 1) for child in children)
