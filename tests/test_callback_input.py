"""JSON bodies nested deeper than MAX_NESTING are refused with 400 before any handler reads them."""

from __future__ import annotations

import json

from flask import Flask, request

from callback_input import MAX_NESTING, install_callback_errors


def _client():
    server = Flask(__name__)
    install_callback_errors(server)
    server.add_url_rule("/echo", "echo", lambda: {"got": request.get_json() is not None}, methods=["POST"])
    return server.test_client()


def _nested(depth: int) -> str:
    return "[" * depth + '"[[[{{{"' + "]" * depth  # brackets inside text do not nest


def test_a_body_at_the_nesting_limit_is_served_and_one_level_more_is_400():
    client = _client()
    assert client.post("/echo", data=_nested(MAX_NESTING), content_type="application/json").json == {"got": True}
    deeper = client.post("/echo", data=_nested(MAX_NESTING + 1), content_type="application/json")
    assert deeper.status_code == 400
    assert deeper.get_data(as_text=True) == f"Malformed request: nested deeper than {MAX_NESTING} levels"
    objects = json.dumps(json.loads("{" + '"a": {' * MAX_NESTING + "}" * MAX_NESTING + "}"))
    assert client.post("/echo", data=objects, content_type="application/json").status_code == 400
