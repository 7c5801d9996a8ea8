"""The chart page's view and zoom callbacks over HTTP (Flask test client), including malformed requests."""

from __future__ import annotations

from typing import Any

from testinfra.dash_requests import chart_answer, drawn, poll, zoom_payload
from tests.conftest import series_settings


def _app_with_series(make_app: Any, tmp_path: Any, rows: int = 50_000) -> Any:
    return make_app(series_settings(tmp_path, rows))


def _zoom(client: Any, relayout: Any, shown: Any, rendered: Any) -> Any:
    return client.post("/_dash-update-component", json=zoom_payload(client, shown, relayout, rendered))


def test_zoom_answers_a_patch_with_every_row_of_a_narrow_range(make_app, tmp_path):
    client = _app_with_series(make_app, tmp_path).server.test_client()
    shown = poll(client).json["response"]["shown-version"]["data"]
    first = chart_answer(client, shown).json
    assert "showing 1,000 of 50,000 points" in first["figure"]["layout"]["title"]["text"]

    relayout = {"xaxis.range[0]": "2024-01-10 00:00:00", "xaxis.range[1]": "2024-01-10 06:00:00"}
    response = _zoom(client, relayout, shown, drawn(shown, first))
    assert response.status_code == 200
    answer = response.json["response"]
    operations = answer["chart-graph"]["figure"]["operations"]
    title = next(op["params"]["value"] for op in operations if op["location"] == ["layout", "title", "text"])
    assert "showing 363 of 363 points in view" in title  # 6 h of minutes, plus one row each side
    assert answer["chart-range"]["data"] == [relayout["xaxis.range[0]"], relayout["xaxis.range[1]"]]


def test_malformed_or_forged_zoom_requests_get_no_update_never_a_server_error(make_app, tmp_path):
    client = _app_with_series(make_app, tmp_path).server.test_client()
    shown = poll(client).json["response"]["shown-version"]["data"]
    rendered = drawn(shown, chart_answer(client, shown).json)
    cases = [
        ("not a dict", shown, rendered),
        ({"xaxis.range[0]": "soon", "xaxis.range[1]": {"a": 1}}, shown, rendered),
        ({"yaxis.range[0]": 1, "yaxis.range[1]": 2}, shown, rendered),  # y-only zoom: nothing to do
        ({"xaxis.autorange": True}, {**shown, "token": "forged"}, rendered),
        ({"xaxis.autorange": True}, "not a dict", rendered),
        ({"xaxis.autorange": True}, shown, "not a dict"),
        ({"xaxis.autorange": True}, shown, {**rendered, "view": "?x=other"}),
    ]
    statuses = [_zoom(client, relayout, s, r).status_code for relayout, s, r in cases]
    # Wrong types are refused by the typed callback check (400); unreadable bounds draw the whole range again (200);
    # the rest change nothing (204). Never a 500.
    assert statuses == [400, 200, 204, 204, 400, 400, 204]
