"""What the poll tells the status line, over HTTP against a real emulator bucket."""

from __future__ import annotations

import time
from datetime import datetime

from testinfra import SAMPLE_CSV
from testinfra.dash_requests import callback_payload, poll


def test_data_removed_after_it_was_shown_keeps_the_version_and_says_when(bucket, gcs_settings, make_app):
    blob = bucket.blob("data/data.csv")
    blob.metadata = {"version": "7", "uploaded_by": "alice", "description": "first cut"}
    blob.upload_from_string(SAMPLE_CSV)
    client = make_app(gcs_settings).server.test_client()
    shown = poll(client).json["response"]["shown-version"]["data"]
    assert (shown["version"], shown["uploaded_by"], shown["description"]) == ("7", "alice", "first cut")

    blob.delete()
    time.sleep(gcs_settings.version_cache_seconds + 0.05)
    response = poll(client, shown=shown).json["response"]
    assert "shown-version" not in response  # the page keeps drawing the last version
    status = response["storage-status"]["data"]
    assert status["kind"] == "removed"
    assert datetime.fromisoformat(status["at"]).tzinfo is not None
    assert poll(client, shown=shown, status=status).status_code == 204  # said once, not every tick


def test_nothing_published_reveals_no_location(gcs_settings, make_app, bucket):
    client = make_app(gcs_settings).server.test_client()
    response = poll(client)
    assert response.json["response"]["shown-version"]["data"] == {"empty": True}
    assert bucket.name.encode() not in response.data and b"data.csv" not in response.data
    route_to_chart = callback_payload(
        ["_pages_content.children", "_pages_store.data"],
        {"_pages_location.pathname": "/", "_pages_location.search": ""},
    )
    chart_page = client.post("/_dash-update-component", json=route_to_chart)
    assert chart_page.status_code == 200 and b"chart-graph" in chart_page.data
    page = client.get("/").data + client.get("/_dash-layout").data + chart_page.data
    assert bucket.name.encode() not in page and b"data/data.csv" not in page
