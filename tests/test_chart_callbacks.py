"""The chart page's zoom (``GET …/chart?x0&x1``, as assets/take_up.js asks on relayout) and view callback over
HTTP (Flask test client), including malformed requests."""

from __future__ import annotations

from typing import Any

from settings import Settings
from testinfra.dash_requests import chart_answer, poll, view_payload
from tests.conftest import series_settings


def _client_and_shown(make_app: Any, tmp_path: Any, rows: int = 50_000) -> tuple[Any, dict]:
    client = make_app(series_settings(tmp_path, rows)).server.test_client()
    return client, poll(client).json["response"]["shown-version"]["data"]


def test_zoom_answers_every_row_of_a_narrow_range_with_the_same_traces(make_app, tmp_path):
    client, shown = _client_and_shown(make_app, tmp_path)
    first = chart_answer(client, shown).json
    assert "showing 1,000 of 50,000 points" in first["figure"]["layout"]["title"]["text"]

    zoomed = chart_answer(client, shown, x0="2024-01-10 00:00:00", x1="2024-01-10 06:00:00")
    assert zoomed.status_code == 200
    assert "showing 363 of 363 points in view" in zoomed.json["figure"]["layout"]["title"]["text"]  # 6 h + 1 each side
    # What the page checks before patching the drawn traces' data in place.
    assert (zoomed.json["view"], zoomed.json["signature"]) == (first["view"], first["signature"])
    assert not zoomed.json["aggregated"]


def test_malformed_or_forged_zooms_get_the_whole_range_or_a_4xx_never_a_server_error(make_app, tmp_path):
    client, shown = _client_and_shown(make_app, tmp_path)
    whole = chart_answer(client, shown).json
    for bounds in ({"x0": "soon", "x1": "{}"}, {"x0": "2024-01-10"}, {"x0": "", "x1": ""}, {"x0": "1e400", "x1": "1"}):
        answer = chart_answer(client, shown, **bounds)
        assert answer.status_code == 200, bounds
        assert answer.json["figure"]["layout"]["title"]["text"] == whole["figure"]["layout"]["title"]["text"], bounds
    assert chart_answer(client, {**shown, "token": "forged"}, x0="1", x1="2").status_code == 403


def test_an_aggregate_zoomed_is_the_whole_answer(make_app, tmp_path):
    path = tmp_path / "costs.csv"
    path.write_text("region,cost\nnorth,1\nsouth,2\nnorth,3\neast,4\n")
    settings = Settings.from_env({}, app_env="development", data_source="local", local_data_path=path, data_schema="")
    client = make_app(settings).server.test_client()
    shown = poll(client).json["response"]["shown-version"]["data"]
    whole = chart_answer(client, shown).json
    zoomed = chart_answer(client, shown, x0="0", x1="1").json
    assert whole["aggregated"] and zoomed == whole  # the page patches nothing


def test_wrong_typed_or_forged_view_requests_get_4xx_or_no_update(make_app, tmp_path):
    client, shown = _client_and_shown(make_app, tmp_path, rows=100)
    cases = [shown, {**shown, "token": "forged"}, {"empty": True}, None, "not a dict", [1]]
    statuses = [client.post("/_dash-update-component", json=view_payload(client, s)).status_code for s in cases]
    assert statuses == [200, 204, 204, 204, 400, 400]
