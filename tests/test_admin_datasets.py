"""The admin page with many datasets: upload, preview and publish to a picked (or new) dataset, with its own schema.

Over HTTP, signed in, against fake-gcs-server, the way ``tests/test_admin_page.py`` drives the page.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from auth.passwords import hash_password
from testinfra import SAMPLE_CSV
from testinfra.dash_requests import callback_payload
from tests.test_admin_page import ORIGIN, PASSWORD, PREVIEW_OUTPUTS, PUBLISH_OUTPUTS, ZONE, _callback_key, _signed_in

PREFIX = "dashboards/"
GOOD_CSV = b"ID,first_num,second_num\n1,10,20\n2,30,40\n"


@pytest.fixture()
def prefix_admin_app(bucket, gcs_settings, make_app):
    bucket.blob(f"{PREFIX}sales.csv").upload_from_string(SAMPLE_CSV)
    admins = f"alice:{hash_password(PASSWORD)}"
    # A long period: what the catalog shows right after a publish comes from the publish itself.
    settings = gcs_settings.with_overrides(
        gcs_prefix=PREFIX, admin_users=admins, data_schema="", version_cache_seconds=30
    )
    return make_app(settings)


def _upload(client: Any, dataset: str | None, content: bytes) -> Any:
    started = client.post(
        "/admin/upload/start",
        json={"filename": "upload.csv", "size": len(content), "dataset": dataset},
        headers={"Origin": ORIGIN},
    )
    if started.status_code != 200:
        return started
    answer = started.json
    content_range = f"bytes 0-{len(content) - 1}/{len(content)}"
    assert requests.put(answer["url"], data=content, headers={"Content-Range": content_range}, timeout=10).ok
    return {"token": answer["token"], "filename": "upload.csv", "size": len(content)}


def _preview(client: Any, dataset: str, staged: dict) -> dict:
    body = callback_payload(
        PREVIEW_OUTPUTS,
        {"admin-staged.data": staged, "admin-review-again.n_clicks": None},
        {"admin-timezone.data": ZONE, "admin-dataset.data": dataset},
    )
    body["output"] = _callback_key(client, "admin-staged.data")
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.data
    return response.json["response"]


def _publish(client: Any, dataset: str, pending: dict) -> dict:
    body = callback_payload(
        PUBLISH_OUTPUTS,
        {"admin-publish.n_clicks": 1},
        {
            "admin-pending.data": pending,
            "admin-description.value": "first figures",
            "admin-timezone.data": ZONE,
            "admin-dataset.data": dataset,
        },
    )
    body["output"] = _callback_key(client, "admin-publish.n_clicks")
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200, response.data
    return response.json["response"]


def test_a_new_dataset_named_on_the_admin_page_is_published_under_the_prefix(prefix_admin_app, bucket):
    client = _signed_in(prefix_admin_app)
    staged = _upload(client, "costs", GOOD_CSV)
    assert isinstance(staged, dict), staged.json
    preview = _preview(client, "costs", staged)
    pending = preview["admin-pending"]["data"]
    assert pending is not None, preview["admin-validation"]
    _publish(client, "costs", pending)

    published = bucket.get_blob(f"{PREFIX}costs.csv")
    assert published is not None and published.metadata["description"] == "first figures"
    assert bucket.get_blob(f"{PREFIX}sales.csv").download_as_bytes() == SAMPLE_CSV  # the other one untouched
    listed = [each["name"] for each in client.get("/live/catalog").get_json()["datasets"]]
    assert listed == ["costs", "sales"]  # at once: the publish made the catalog list again
    assert client.get("/d/costs").status_code == 200


def test_uploads_need_a_dataset_name_and_only_admins_pick_one(prefix_admin_app):
    client = _signed_in(prefix_admin_app)
    for bad in (None, "", "../up", "a/b", 12):
        refused = _upload(client, bad, GOOD_CSV)
        assert refused.status_code == 400 and "Pick a dataset" in refused.json["error"], bad
    anonymous = prefix_admin_app.server.test_client()
    body = callback_payload(
        PREVIEW_OUTPUTS,
        {"admin-staged.data": None, "admin-review-again.n_clicks": None},
        {"admin-timezone.data": ZONE, "admin-dataset.data": "made-up"},
    )
    body["output"] = _callback_key(anonymous, "admin-staged.data")
    assert anonymous.post("/_dash-update-component", json=body).status_code == 403
    assert "made-up" not in prefix_admin_app.server.extensions["datasets"].viewed()


def test_a_schema_file_beside_the_object_is_that_dataset_s_schema(prefix_admin_app, bucket):
    bucket.blob(f"{PREFIX}sales.schema").upload_from_string("first_num:numeric,region:text")
    client = _signed_in(prefix_admin_app)

    refused = _preview(client, "sales", _upload(client, "sales", GOOD_CSV))
    assert refused["admin-pending"]["data"] is None
    assert "region" in str(refused["admin-validation"]["children"])
    accepted = _preview(client, "other", _upload(client, "other", GOOD_CSV))  # no schema beside: DATA_SCHEMA
    assert accepted["admin-pending"]["data"] is not None
