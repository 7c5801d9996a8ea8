"""Many datasets per deployment (``GCS_PREFIX``, ``--data DIR``): pages, routes, storage calls (fake-gcs-server)."""

from __future__ import annotations

import http.client
import json
import time

import dash
import dash_bootstrap_components as dbc
import pytest

from components.catalog import OUTAGE_NOTICE
from data_access import make_storage_client
from settings import Settings, SettingsError
from testinfra import SAMPLE_CSV, TcpProxy, Uvicorn
from testinfra.dash_requests import shown_from, view_payload

PREFIX = "dashboards/"


class _AnySales(dict):
    """The catalog row of ``sales`` (its generation and label are whatever storage gave)."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, dict) and other.get("name") == "sales" and bool(other.get("generation"))


ANY_SALES = _AnySales()


def _write(bucket, name: str, content: bytes = SAMPLE_CSV, metadata: dict | None = None) -> int:
    blob = bucket.blob(name)
    blob.metadata = metadata
    blob.upload_from_string(content, content_type="text/csv")
    return blob.generation


@pytest.fixture()
def prefix_settings(gcs_settings: Settings) -> Settings:
    return gcs_settings.with_overrides(gcs_prefix=PREFIX, data_schema="")


def _wait_past_period(settings: Settings) -> None:
    time.sleep(settings.version_cache_seconds + 0.05)


def test_every_data_object_directly_under_the_prefix_is_a_page_and_unknown_names_404(bucket, prefix_settings, make_app):
    _write(bucket, f"{PREFIX}sales.csv")
    _write(bucket, f"{PREFIX}costs.csv")
    _write(bucket, f"{PREFIX}nested/inner.csv")  # a folder below the prefix: not a dataset
    _write(bucket, "elsewhere/other.csv")
    client = make_app(prefix_settings).server.test_client()

    assert client.get("/d/sales").status_code == 200
    assert client.get("/d/costs").status_code == 200
    for unknown in ("/d/inner", "/d/other", "/d/nope", "/d/..", "/d/nope/live/version"):
        assert client.get(unknown).status_code == 404, unknown
    names = [each["name"] for each in client.get("/live/catalog").get_json()["datasets"]]
    assert names == ["costs", "sales"]
    with client.application.test_request_context("/d/nope"):
        not_found = str(dash.page_registry["pages.not_found_404"]["layout"]())
    assert "Back to the datasets" in not_found  # "/" is the catalog here, not a chart


def test_each_dataset_page_follows_its_own_object_only(bucket, prefix_settings, make_app):
    sales = _write(bucket, f"{PREFIX}sales.csv")
    costs = _write(bucket, f"{PREFIX}costs.csv", b"day,value\n2024-01-01,1\n2024-01-02,3\n")
    client = make_app(prefix_settings).server.test_client()

    document = client.get("/d/sales/live/version").get_json()
    assert (document["dataset"], document["generation"]) == ("sales", str(sales))
    assert client.get("/d/costs/live/version").get_json()["generation"] == str(costs)
    assert "dataset" not in client.get("/live/version").get_json()  # the default stays as it was

    new_sales = _write(bucket, f"{PREFIX}sales.csv", SAMPLE_CSV + b"4,7,8\n")
    _wait_past_period(prefix_settings)
    assert client.get("/d/sales/live/version").get_json()["generation"] == str(new_sales)
    assert client.get("/d/costs/live/version").get_json()["generation"] == str(costs)


def test_a_dataset_s_chart_rows_and_downloads_are_its_own(bucket, prefix_settings, make_app):
    _write(bucket, f"{PREFIX}sales.csv")
    _write(bucket, f"{PREFIX}costs.csv", b"day,value\n2024-01-01,1\n2024-01-02,3\n")
    client = make_app(prefix_settings).server.test_client()
    document = client.get("/d/costs/live/version").get_json()
    generation, token = document["generation"], document["token"]

    chart = client.get(f"/d/costs/live/{generation}/chart?t={token}")
    assert chart.status_code == 200, chart.data
    download = client.get(f"/d/costs/download/data.csv?token={token}")
    assert download.status_code == 200 and download.data.startswith(b'"day","value"')
    # The same signed generation asked of another dataset is not that dataset's live version.
    assert client.get(f"/d/sales/download/data.csv?token={token}").status_code == 410


def test_a_removed_object_leaves_the_catalog_and_its_open_page_says_so(bucket, prefix_settings, make_app):
    _write(bucket, f"{PREFIX}sales.csv")
    _write(bucket, f"{PREFIX}costs.csv")
    client = make_app(prefix_settings).server.test_client()
    assert client.get("/d/costs/live/version").get_json()["status"] == "live"
    etag = client.get("/live/catalog").headers["ETag"]
    assert client.get("/live/catalog", headers={"If-None-Match": etag}).status_code == 304

    bucket.blob(f"{PREFIX}costs.csv").delete()
    _wait_past_period(prefix_settings)

    changed = client.get("/live/catalog", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert [each["name"] for each in changed.get_json()["datasets"]] == ["sales"]
    assert client.get("/d/costs/live/version").get_json()["status"] == "removed"  # the open page is told
    assert client.get("/d/costs").status_code == 404  # a new visit finds no such dataset


def test_during_a_storage_outage_the_catalog_keeps_its_last_listing_with_a_notice(bucket, fake_gcs, prefix_settings):
    from app import create_app

    _write(bucket, f"{PREFIX}sales.csv")
    with TcpProxy(fake_gcs.port) as proxy:
        settings = prefix_settings.with_overrides(storage_emulator_host=proxy.url, storage_deadline_seconds=1)
        app = create_app(settings, storage_client=make_storage_client(settings.gcp_project, proxy.url))
        client = app.server.test_client()
        assert client.get("/live/catalog").get_json() == {"status": "live", "datasets": [ANY_SALES]}

        proxy.set_down(True)
        _wait_past_period(settings)
        during = client.get("/live/catalog")
        assert during.status_code == 200  # never a 5xx: the open pages keep their cards
        assert during.get_json() == {"status": "unreachable", "datasets": [ANY_SALES]}
        with app.server.test_request_context("/"):
            page = str(dash.page_registry["pages.catalog"]["layout"]())
        assert "/d/sales" in page and OUTAGE_NOTICE in page
        # A dataset's page opened now is its page with the outage on its status line, not a 404.
        assert client.get("/d/sales").status_code == 200
        assert client.get("/d/sales/live/version").get_json()["status"] in ("unreachable", "stale")

        proxy.set_down(False)
        _wait_past_period(settings)
        assert client.get("/live/catalog").get_json()["status"] == "live"


def test_the_catalog_page_shows_a_card_per_dataset_with_its_facts(bucket, prefix_settings, make_app):
    _write(bucket, f"{PREFIX}sales.csv", metadata={"description": "Daily sales", "version": "12"})
    _write(bucket, f"{PREFIX}costs.csv", b"day,value\n2024-01-01,1\n2024-01-02,3\n")
    app = make_app(prefix_settings)

    with app.server.test_request_context("/"):
        page = str(dash.page_registry["pages.chart"]["layout"]())
    assert "href='/d/sales'" in page and "href='/d/costs'" in page
    assert "Daily sales" in page
    assert "2 rows · 2 columns" in page  # costs: rows and columns from its one read
    assert "v12 · " in page  # the version label
    assert "2024-01-02" in page  # the preview
    with app.server.test_request_context("/"):
        filtered = str(dash.page_registry["pages.catalog"]["layout"].__globals__["cards"]("SAL"))
    assert "/d/sales" in filtered and "/d/costs" not in filtered


def test_storage_calls_stay_one_listing_per_period_however_many_datasets_are_viewed(
    bucket, fake_gcs, prefix_settings, make_app
):
    for number in range(20):
        _write(bucket, f"{PREFIX}set{number:02}.csv")
    settings = prefix_settings.with_overrides(version_cache_seconds=1.0)
    client = make_app(settings).server.test_client()
    for number in range(20):
        assert client.get(f"/d/set{number:02}/live/version").status_code == 200
    lists_before = fake_gcs.count_requests(f"GET /storage/v1/b/{bucket.name}/o?")
    metadata_before = fake_gcs.metadata_gets(bucket.name)

    started = time.monotonic()
    while time.monotonic() - started < 2.5:
        for number in range(20):
            client.get(f"/d/set{number:02}/live/version")
        client.get("/live/catalog")

    lists = fake_gcs.count_requests(f"GET /storage/v1/b/{bucket.name}/o?") - lists_before
    assert 1 <= lists <= 4  # one per second over 2.5 s, whatever the pages
    assert fake_gcs.metadata_gets(bucket.name) == metadata_before  # no per-dataset version check
    assert fake_gcs.downloads(bucket.name) == 20  # each viewed dataset's generation, once


def test_a_data_folder_makes_each_file_a_dataset(tmp_path, make_app):
    (tmp_path / "alpha.csv").write_bytes(SAMPLE_CSV)
    (tmp_path / "notes.txt").write_text("not data")
    settings = Settings.from_env(
        {}, app_env="development", data_source="local", local_data_path=tmp_path, data_schema=""
    )
    client = make_app(settings).server.test_client()
    assert client.get("/d/alpha").status_code == 200
    assert client.get("/d/notes").status_code == 404

    (tmp_path / "beta.csv").write_bytes(SAMPLE_CSV)
    _wait_past_period(settings)
    assert [each["name"] for each in client.get("/live/catalog").get_json()["datasets"]] == ["alpha", "beta"]


def test_an_unknown_dataset_s_routes_answer_a_short_plain_404(tmp_path, make_app):
    (tmp_path / "alpha.csv").write_bytes(SAMPLE_CSV)
    settings = Settings.from_env(
        {}, app_env="development", data_source="local", local_data_path=tmp_path, data_schema=""
    )
    client = make_app(settings).server.test_client()
    for path in ("/d/nope/live/version", "/d/nope/live/events", "/d/nope/download/data.csv", "/d/nope/live/1/chart"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "text/plain", path
        assert response.get_data(as_text=True) == "No such dataset.\n", path


def _navbar_links(app) -> dict[str, str]:
    """``{href: label}`` of the navbar's links."""
    return {link.href: link.children for link in app.layout._traverse() if isinstance(link, dbc.NavLink)}


def test_the_navbar_names_the_home_link_datasets_in_a_catalog_and_chart_for_one_object(tmp_path, make_app):
    (tmp_path / "alpha.csv").write_bytes(SAMPLE_CSV)
    many = Settings.from_env({}, app_env="development", data_source="local", local_data_path=tmp_path, data_schema="")
    assert _navbar_links(make_app(many))["/"] == "Datasets"
    one = many.with_overrides(local_data_path=tmp_path / "alpha.csv")
    assert _navbar_links(make_app(one))["/"] == "Chart"


def test_an_open_dataset_follows_its_parquet_once_its_csv_is_deleted(tmp_path, make_app):
    import pandas as pd

    (tmp_path / "dup.csv").write_bytes(SAMPLE_CSV)
    pd.DataFrame({"day": ["2024-05-01"], "value": [42]}).to_parquet(tmp_path / "dup.parquet")
    settings = Settings.from_env(
        {}, app_env="development", data_source="local", local_data_path=tmp_path, data_schema=""
    )
    client = make_app(settings).server.test_client()
    assert client.get("/d/dup/live/version").get_json()["status"] == "live"  # the page is open on dup.csv

    (tmp_path / "dup.csv").unlink()
    _wait_past_period(settings)
    document = client.get("/d/dup/live/version").get_json()

    assert document["status"] == "live", document
    download = client.get(f"/d/dup/download/data.csv?token={document['token']}")
    assert download.status_code == 200, download.data
    assert download.data.splitlines()[1:] == [b"2024-05-01,42"]


def test_gcs_prefix_must_end_with_a_slash(gcs_settings):
    with pytest.raises(SettingsError, match="GCS_PREFIX"):
        gcs_settings.with_overrides(gcs_prefix="dashboards")


def test_dataset_live_routes_are_answered_on_the_event_loop(bucket, prefix_settings, make_app):
    _write(bucket, f"{PREFIX}sales.csv")
    with Uvicorn(make_app(prefix_settings)) as served:
        connection = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
        connection.request("GET", "/d/sales/live/version")
        response = connection.getresponse()
        assert response.status == 200 and json.loads(response.read())["dataset"] == "sales"
        assert served.answered == 1
        connection.request("GET", "/d/nope/live/version")
        response = connection.getresponse()
        response.read()
        assert response.status == 404 and served.answered == 1

        connection.request("GET", "/d/sales/live/events")
        response = connection.getresponse()
        assert response.status == 200 and response.getheader("Content-Type") == "text/event-stream"
        opening = b"".join(response.fp.readline() for _ in range(6))  # chunked: size lines between
        assert b'"dataset":"sales"' in opening
        connection.close()


def test_a_deployment_of_one_object_has_no_catalog_and_no_dataset_pages(bucket, gcs_settings, make_app):
    _write(bucket, "data/data.csv")
    client = make_app(gcs_settings).server.test_client()
    assert client.get("/").status_code == 200
    for path in ("/datasets", "/d/data", "/live/catalog", "/d/data/live/version"):
        assert client.get(path).status_code == 404, path


def test_the_chart_s_server_callbacks_read_the_dataset_the_live_document_names(bucket, prefix_settings, make_app):
    _write(bucket, f"{PREFIX}costs.csv", b"day,value\n2024-01-01,1\n2024-01-02,3\n2024-01-03,2\n")
    client = make_app(prefix_settings).server.test_client()
    document = client.get("/d/costs/live/version").get_json()
    shown = {**shown_from(document), "dataset": "costs"}
    base = f"/d/costs/live/{document['generation']}/chart?t={document['token']}"
    zoomed = client.get(f"{base}&x0=2024-01-02&x1=2024-01-02").get_json()
    assert "showing 3 of 3 points in view" in zoomed["figure"]["layout"]["title"]["text"]

    view = client.post("/_dash-update-component", json=view_payload(client, shown))
    assert view.status_code == 200, view.data
    assert view.json["response"]["chart-x"]["options"] == ["day", "value"]
    # Without the dataset the callback reads the default object, which holds nothing: no update.
    default = {key: value for key, value in shown.items() if key != "dataset"}
    assert client.post("/_dash-update-component", json=view_payload(client, default)).status_code == 204
