"""``/live/version`` and what a page does with it (``testinfra.dash_requests.poll``), against a real emulator bucket."""

from __future__ import annotations

import time

from testinfra import SAMPLE_CSV
from testinfra.dash_requests import chart_answer, poll


def _publish(bucket, content: bytes) -> int:
    blob = bucket.blob("data/data.csv")
    blob.upload_from_string(content, content_type="text/csv")
    return blob.generation


def test_version_is_plain_cacheable_http_and_unchanged_checks_change_nothing(bucket, gcs_settings, make_app):
    generation = _publish(bucket, SAMPLE_CSV)
    client = make_app(gcs_settings.with_overrides(version_cache_seconds=60)).server.test_client()

    first = poll(client)
    assert first.status_code == 200
    shown = first.json["response"]["shown-version"]["data"]
    assert shown["generation"] == str(generation)
    assert "data" not in shown and len(str(shown)) < 300  # the store never carries the dataset
    assert poll(client, shown=shown).status_code == 204  # the page changes nothing: no Dash callback

    response = client.get("/live/version")
    assert response.headers["Cache-Control"] == "public, max-age=60"
    assert response.headers["Content-Type"] == "application/json"
    etag = response.headers["ETag"]
    again = client.get("/live/version", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert client.get("/live/version", headers={"If-None-Match": '"other"'}).status_code == 200

    _publish(bucket, SAMPLE_CSV + b"4,7,8\n")
    client.application.extensions["live_data"].invalidate_version()
    changed = client.get("/live/version", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_max_age_is_the_check_period_rounded_up_and_at_least_one_second():
    from routes.live import max_age

    assert [max_age(seconds) for seconds in (0, 0.5, 1, 1.2, 5)] == [1, 1, 1, 2, 5]


def test_poll_sees_an_outside_write_after_the_cache_period(bucket, gcs_settings, make_app):
    _publish(bucket, SAMPLE_CSV)
    client = make_app(gcs_settings).server.test_client()
    shown = poll(client).json["response"]["shown-version"]["data"]

    new_generation = _publish(bucket, SAMPLE_CSV + b"4,7,8\n")
    time.sleep(gcs_settings.version_cache_seconds + 0.05)
    changed = poll(client, shown=shown)

    assert changed.status_code == 200
    assert changed.json["response"]["shown-version"]["data"]["generation"] == str(new_generation)


def test_chart_answer_builds_the_sample_bars_and_keeps_its_signature_on_update(bucket, gcs_settings, make_app):
    _publish(bucket, SAMPLE_CSV)
    client = make_app(gcs_settings).server.test_client()
    shown = poll(client).json["response"]["shown-version"]["data"]

    answer = chart_answer(client, shown).json
    figure = answer["figure"]
    assert [trace["name"] for trace in figure["data"]] == ["add_num", "multiply_num"]
    assert figure["data"][0]["y"] == [3, 7, 11]  # first_num + second_num
    assert figure["data"][1]["y"] == [2, 12, 30]  # first_num * second_num

    _publish(bucket, SAMPLE_CSV + b"4,7,8\n")
    time.sleep(gcs_settings.version_cache_seconds + 0.05)
    shown = poll(client, shown=shown).json["response"]["shown-version"]["data"]
    update = chart_answer(client, shown).json
    # Same traces: the page patches only their data (its x axis, so the zoom, stays untouched).
    assert update["signature"] == answer["signature"] and update["view"] == answer["view"]
    assert update["figure"]["data"][1]["y"] == [2, 12, 30, 56]


def test_storage_outage_reports_a_notice_and_keeps_the_shown_generation(bucket, gcs_settings, make_app, fake_gcs):
    _publish(bucket, SAMPLE_CSV)
    app = make_app(gcs_settings)
    client = app.server.test_client()
    shown = poll(client).json["response"]["shown-version"]["data"]

    # Point the app's source at a port where nothing listens: a real connection failure.
    from data_access import GCSSource, make_storage_client
    from testinfra import free_port

    dead_client = make_storage_client("test-project", f"http://127.0.0.1:{free_port()}")
    live_data = app.server.extensions["live_data"]
    live_data.source = GCSSource(bucket.name, "data/data.csv", dead_client)
    live_data.invalidate_version()
    try:
        outage = poll(client, shown=shown)
        assert outage.status_code == 200
        response = outage.json["response"]
        assert "shown-version" not in response  # the chart keeps its last good generation
        status = response["storage-status"]["data"]
        assert status["kind"] == "unreachable" and status["error"]

        # Still down, notice already shown: nothing new to say.
        time.sleep(gcs_settings.version_cache_seconds + 0.05)
        assert poll(client, shown=shown, status=status).status_code == 204
    finally:
        from data_access import make_storage_client as restore

        live_data.source = GCSSource(bucket.name, "data/data.csv", restore("test-project", fake_gcs.url))
        live_data.invalidate_version()

    recovered = poll(client, shown=shown, status=status)
    assert recovered.status_code == 200
    assert recovered.json["response"]["storage-status"]["data"] is None


def test_unreadable_new_generation_keeps_the_old_one_with_a_reason(bucket, gcs_settings, make_app):
    _publish(bucket, SAMPLE_CSV)
    client = make_app(gcs_settings).server.test_client()
    shown = poll(client).json["response"]["shown-version"]["data"]

    _publish(bucket, b"\x89PNG\r\n\x1a\n\x00\x00binary")
    time.sleep(gcs_settings.version_cache_seconds + 0.05)
    response = poll(client, shown=shown).json["response"]

    assert "shown-version" not in response
    assert response["storage-status"]["data"]["kind"] == "unreadable"


def test_missing_blob_shows_no_data_yet(gcs_settings, make_app):
    client = make_app(gcs_settings).server.test_client()
    shown = poll(client).json["response"]["shown-version"]["data"]
    assert shown["empty"] is True


def test_data_written_around_the_app_gets_the_upload_checks(bucket, gcs_settings, make_app):
    _publish(bucket, SAMPLE_CSV)
    client = make_app(gcs_settings).server.test_client()
    shown = poll(client).json["response"]["shown-version"]["data"]

    _publish(bucket, b"ID,first_num,second_num\n1,1,1\n2,two,2\n")  # e.g. a hand-edited file via gsutil
    time.sleep(gcs_settings.version_cache_seconds + 0.05)
    status = poll(client, shown=shown).json["response"]["storage-status"]["data"]

    assert status["kind"] == "unreadable"
    assert "was not accepted: Line 3, column 'first_num' ('two') is not a number" in status["error"]


def test_any_table_written_around_the_app_is_shown(bucket, gcs_settings, make_app):
    _publish(bucket, b"date,sales\n2024-01-01,3\n")
    client = make_app(gcs_settings).server.test_client()
    response = poll(client).json["response"]
    assert response["shown-version"]["data"]["generation"]
    assert "storage-status" not in response  # no notice: the status store stays empty


def test_a_misspelt_bucket_is_reported_as_such(gcs_settings, make_app):
    client = make_app(gcs_settings.with_overrides(gcs_bucket="no-such-bucket")).server.test_client()
    status = poll(client).json["response"]["storage-status"]["data"]
    assert status == {"error": "the configured bucket does not exist (check GCS_BUCKET)", "kind": "unreadable"}
