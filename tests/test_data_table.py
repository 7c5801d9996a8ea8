"""The chart page's data table over HTTP (``GET /live/<generation>/rows``, as the page asks), on the emulator."""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

from data_access.view_state import ViewState
from testinfra.dash_requests import chart_answer, poll

CSV = b"day,city,sales\n" + b"".join(
    f"2024-01-{day:02d},{city},{day * 10}\n".encode() for day in range(1, 21) for city in ("Oslo", "Lima")
)


def _get_rows(client, request: object, shown: dict, view: dict | None = None):
    search = ViewState.from_dict(view).to_query().lstrip("?") if view else ""  # the page's URL carries the view
    query = urlencode({"t": shown["token"], "grid": json.dumps(request)})
    return client.get(f"/live/{quote(shown['generation'])}/rows?{search}{'&' if search else ''}{query}")


def _rows(client, request: dict, shown: dict, view: dict | None = None):
    response = _get_rows(client, request, shown, view)
    assert response.status_code == 200
    answer = response.json
    return {"rowData": answer["rowData"], "rowCount": answer["rowCount"]}, answer["count"]


def _app_with_data(bucket, gcs_settings, make_app):
    bucket.blob("data/data.csv").upload_from_string(CSV, content_type="text/csv")
    client = make_app(gcs_settings).server.test_client()
    return client, poll(client).json["response"]["shown-version"]["data"]


def test_pages_sorted_on_the_server(bucket, gcs_settings, make_app):
    client, shown = _app_with_data(bucket, gcs_settings, make_app)
    page, count = _rows(
        client, {"startRow": 0, "endRow": 3, "sortModel": [{"colId": "c2", "sort": "desc"}], "filterModel": {}}, shown
    )
    assert page["rowCount"] == 40 and count == "40 rows"
    assert [row["c2"] for row in page["rowData"]] == [200, 200, 190]
    assert {row["c1"] for row in page["rowData"][:2]} == {"Oslo", "Lima"}

    second, _ = _rows(client, {"startRow": 38, "endRow": 100, "sortModel": [], "filterModel": {}}, shown)
    assert [row["c2"] for row in second["rowData"]] == [200, 200]


def test_rows_follow_the_chart_filters_and_the_grid_filter(bucket, gcs_settings, make_app):
    client, shown = _app_with_data(bucket, gcs_settings, make_app)
    view = {"filters": {"city": ["Lima"]}, "date_from": "2024-01-05", "date_to": "2024-01-10"}
    page, count = _rows(client, {"startRow": 0, "endRow": 100, "sortModel": [], "filterModel": {}}, shown, view)
    assert count == "6 of 40 rows"
    assert {row["c1"] for row in page["rowData"]} == {"Lima"}
    assert [row["c2"] for row in page["rowData"]] == [50, 60, 70, 80, 90, 100]

    grid_filter = {"c2": {"filterType": "number", "type": "greaterThanOrEqual", "filter": 80}}
    page, count = _rows(client, {"startRow": 0, "endRow": 100, "filterModel": grid_filter}, shown, view)
    assert [row["c2"] for row in page["rowData"]] == [80, 90, 100] and count == "3 of 40 rows"


def test_unsigned_or_malformed_requests_get_a_4xx_with_a_sentence_never_a_server_error(bucket, gcs_settings, make_app):
    client, shown = _app_with_data(bucket, gcs_settings, make_app)
    forged = {**shown, "token": "forged"}
    assert _get_rows(client, {"startRow": 0, "endRow": 10}, forged).status_code == 403
    assert _get_rows(client, {"startRow": "x"}, shown).status_code == 400
    bad_filter = {"startRow": 0, "endRow": 10, "filterModel": {"c9": {"filterType": "text"}}}
    response = _get_rows(client, bad_filter, shown)
    assert response.status_code == 400 and "cannot be answered" in response.json["error"]
    assert _get_rows(client, "[[[[", shown).status_code == 400


def test_column_definitions_name_every_column_with_a_fitting_filter(bucket, gcs_settings, make_app):
    client, shown = _app_with_data(bucket, gcs_settings, make_app)
    columns = chart_answer(client, shown).json["columns"]
    assert [(c["field"], c["headerName"], c["filter"]) for c in columns] == [
        ("c0", "day", "agDateColumnFilter"),
        ("c1", "city", "agTextColumnFilter"),
        ("c2", "sales", "agNumberColumnFilter"),
    ]
