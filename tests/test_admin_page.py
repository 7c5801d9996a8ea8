"""The admin page's routes and callbacks over HTTP, signed in, against a real emulator bucket.

Uploads go the way the browser sends them: ``POST /admin/upload/start``, the bytes PUT to
the resumable session in fake-gcs-server (or to the app's chunk route in local mode), then
the preview and publish callbacks with the tokens the server handed out.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests

from auth.passwords import AdminDirectory, hash_password
from components.preview import history_table
from components.versions import reader_zone
from data_access import DataVersion
from data_access.staging import CHUNK_BYTES
from data_access.units import count, file_size, megabytes
from data_access.versions import clock_time, version_details, version_label
from testinfra import SAMPLE_CSV
from testinfra.dash_requests import callback_payload
from tests.bad_files import BAD_FILES, CORPUS_MAX_BYTES, CORPUS_MAX_ROWS, TOO_LARGE

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "a long enough admin password"
GOOD_CSV = b"ID,first_num,second_num\n1,10,20\n2,30,40\n"
ZONE = "Europe/Paris"  # what the page's clientside callback puts in admin-timezone
ORIGIN = "http://localhost"  # the Flask test client's host
STAGING_PREFIX = "data/data.csv.staging/"
PREVIEW_OUTPUTS = [
    "admin-validation.children",
    "admin-preview.children",
    "admin-pending.data",
    "admin-publish.disabled",
    "admin-publish-result.children",
    "admin-review-again.style",
]
PUBLISH_OUTPUTS = [
    "admin-publish-result.children",
    "admin-pending.data",
    "admin-publish.disabled",
    "admin-history-stale.data",
    "admin-preview.children",
    "admin-review-again.style",
    "admin-upload-bar.style",
    "admin-description.value",
    "admin-upload-status.children",
]


@pytest.fixture(scope="module")
def admins() -> str:
    return f"alice:{hash_password(PASSWORD)},bob:{hash_password(PASSWORD)}"


@pytest.fixture()
def admin_app(bucket, gcs_settings, make_app, admins):
    bucket.blob("data/data.csv").upload_from_string(SAMPLE_CSV)
    return make_app(gcs_settings.with_overrides(admin_users=admins, max_rows=CORPUS_MAX_ROWS))


def _signed_in(app: Any, name: str = "alice") -> Any:
    client = app.server.test_client()
    response = client.post("/login", data={"username": name, "password": PASSWORD})
    assert response.status_code == 302
    return client


def _callback_key(client: Any, input_spec: str) -> str:
    """The output key Dash gave the callback that has ``input_spec`` as an input."""
    for dependency in client.get("/_dash-dependencies").json:
        if input_spec in [f"{spec['id']}.{spec['property']}" for spec in dependency["inputs"]]:
            return dependency["output"]
    raise AssertionError(f"no callback takes {input_spec}")


def _start(client: Any, filename: str, size: int, **headers: str) -> Any:
    return client.post(
        "/admin/upload/start", json={"filename": filename, "size": size}, headers={"Origin": ORIGIN, **headers}
    )


def _upload(client: Any, content: bytes, filename: str) -> dict:
    """Start an upload and send its bytes where the server said, as the browser does (one chunk)."""
    started = _start(client, filename, len(content))
    assert started.status_code == 200, started.json
    answer = started.json
    content_range = f"bytes 0-{len(content) - 1}/{len(content)}"
    if answer["direct"]:
        assert requests.put(answer["url"], data=content, headers={"Content-Range": content_range}, timeout=10).ok
    else:
        sent = client.put(answer["url"], data=content, headers={"Content-Range": content_range, "Origin": ORIGIN})
        assert sent.status_code == 200, sent.data
    return {"token": answer["token"], "filename": filename, "size": len(content)}


def _preview_staged(client: Any, staged: dict | None) -> dict:
    body = callback_payload(
        PREVIEW_OUTPUTS,
        {"admin-staged.data": staged, "admin-review-again.n_clicks": None},
        {"admin-timezone.data": ZONE, "admin-dataset.data": None},
    )
    body["output"] = _callback_key(client, "admin-staged.data")
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200
    return response.json["response"]


def _preview(client: Any, content: bytes, filename: str) -> dict:
    return _preview_staged(client, _upload(client, content, filename))


def _publish(client: Any, pending: dict | None, description: str | None = None) -> dict:
    body = callback_payload(
        PUBLISH_OUTPUTS,
        {"admin-publish.n_clicks": 1},
        {
            "admin-pending.data": pending,
            "admin-description.value": description,
            "admin-timezone.data": ZONE,
            "admin-dataset.data": None,
        },
    )
    body["output"] = _callback_key(client, "admin-publish.n_clicks")
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200
    return response.json["response"]


def _text(component: Any) -> str:
    return str(component)


def _staged_names(bucket: Any) -> list[str]:
    return [blob.name for blob in bucket.list_blobs(prefix=STAGING_PREFIX)]


def test_each_bad_file_is_explained_through_the_staged_path_and_nothing_is_staged_or_published(admin_app, bucket):
    client = _signed_in(admin_app)
    live_before = bucket.get_blob("data/data.csv").generation
    for case, filename, content, expected in BAD_FILES:
        started = _start(client, filename, len(content))
        if started.status_code != 200:  # refused before any byte is sent (empty file, wrong extension)
            assert started.status_code == 400 and expected in started.json["error"], case
            continue
        response = _preview_staged(client, _upload(client, content, filename))
        assert expected in _text(response["admin-validation"]["children"]), case
        assert response["admin-pending"]["data"] is None and response["admin-publish"]["disabled"] is True
        assert _staged_names(bucket) == [], f"{case}: the rejected upload was left in the bucket"
    assert bucket.get_blob("data/data.csv").generation == live_before


def test_a_file_over_max_upload_mb_is_refused_before_any_byte_is_sent(bucket, gcs_settings, make_app, admins):
    app = make_app(gcs_settings.with_overrides(admin_users=admins, max_upload_mb=CORPUS_MAX_BYTES / 10**6))
    client = _signed_in(app)
    _case, filename, content, expected = TOO_LARGE
    started = _start(client, filename, len(content))
    assert started.status_code == 400 and expected in started.json["error"]
    assert _staged_names(bucket) == []


def test_good_file_previews_then_publishes_with_audit_metadata_and_the_staged_object_is_gone(admin_app, bucket):
    client = _signed_in(admin_app)
    preview = _preview(client, GOOD_CSV, "march.csv")
    pending = preview["admin-pending"]["data"]
    assert preview["admin-publish"]["disabled"] is False
    shown = _text(preview["admin-preview"]["children"])
    assert "2 rows" in shown and "2 rows added" in shown and "3 removed" in shown
    assert len(_staged_names(bucket)) == 1

    result = _publish(client, pending, "March figures")

    published = _text(result["admin-publish-result"]["children"])
    assert "Published " in published and "v1 · march.csv · " in published and " · alice" in published
    assert "(2 rows)" in published
    assert result["admin-upload-status"]["children"] == ""  # "march.csv uploaded" no longer shows
    assert result["admin-upload-bar"]["style"] == {"display": "none"}
    live = bucket.get_blob("data/data.csv")
    assert live.download_as_bytes() == GOOD_CSV
    assert live.metadata["uploaded_by"] == "alice"
    assert live.metadata["original_filename"] == "march.csv"
    assert live.metadata["sha256"] == hashlib.sha256(GOOD_CSV).hexdigest()
    assert live.metadata["rows"] == "2" and live.metadata["action"] == "publish"
    assert live.metadata["version"] == "1"  # the seed was written outside the app
    assert live.metadata["description"] == "March figures"
    assert "staged_by" not in live.metadata
    assert _staged_names(bucket) == []

    second = _publish(client, _preview(client, GOOD_CSV + b"3,5,6\n", "april.csv")["admin-pending"]["data"])
    assert "v2 · april.csv · " in _text(second)
    assert bucket.get_blob("data/data.csv").metadata["version"] == "2"
    assert "description" not in bucket.get_blob("data/data.csv").metadata


def test_second_admin_on_the_same_base_gets_the_conflict_message(admin_app, bucket):
    alice, bob = _signed_in(admin_app, "alice"), _signed_in(admin_app, "bob")
    alice_pending = _preview(alice, GOOD_CSV, "alice.csv")["admin-pending"]["data"]
    bob_csv = GOOD_CSV + b"3,1,1\n"
    bob_pending = _preview(bob, bob_csv, "bob.csv")["admin-pending"]["data"]

    assert "Published" in _text(_publish(alice, alice_pending))
    conflict = _text(_publish(bob, bob_pending)["admin-publish-result"]["children"])

    assert "changed since you started" in conflict and "review again" in conflict
    assert bucket.get_blob("data/data.csv").download_as_bytes() == GOOD_CSV


def test_publish_copies_the_generation_that_was_checked(admin_app, bucket):
    client = _signed_in(admin_app)
    pending = _preview(client, GOOD_CSV, "a.csv")["admin-pending"]["data"]
    # Someone holding storage credentials rewrites the staged object after the check.
    (staged_name,) = _staged_names(bucket)
    bucket.blob(staged_name).upload_from_string(b"ID,first_num,second_num\n1,never,checked\n")

    _publish(client, pending)

    assert bucket.get_blob("data/data.csv").download_as_bytes() == GOOD_CSV


def test_a_forged_or_altered_pending_publication_is_refused(admin_app, bucket):
    client = _signed_in(admin_app)
    pending = _preview(client, GOOD_CSV, "a.csv")["admin-pending"]["data"]
    before = bucket.get_blob("data/data.csv").generation
    forged = {"token": json.dumps({"id": "0" * 32, "generation": "1", "user": "alice"}), "filename": "a.csv"}
    altered = {**pending, "token": pending["token"][:-2] + ("AA" if not pending["token"].endswith("AA") else "BB")}
    for fake in (forged, altered, {"token": None}):
        assert "not the one you previewed" in _text(_publish(client, fake))
    wrong_type = callback_payload(
        PUBLISH_OUTPUTS,
        {"admin-publish.n_clicks": 1},
        {"admin-pending.data": "not a dict", "admin-description.value": None},
    )
    wrong_type["output"] = _callback_key(client, "admin-publish.n_clicks")
    assert client.post("/_dash-update-component", json=wrong_type).status_code == 400  # refused before the callback
    assert bucket.get_blob("data/data.csv").generation == before


def test_upload_start_refuses_anonymous_and_cross_origin_requests(admin_app, bucket):
    anonymous = admin_app.server.test_client()
    assert _start(anonymous, "a.csv", 10).status_code == 403
    alice = _signed_in(admin_app)
    assert _start(alice, "a.csv", 10, Origin="http://evil.example").status_code == 403
    no_origin = alice.post("/admin/upload/start", json={"filename": "a.csv", "size": 10})
    assert no_origin.status_code == 403
    assert alice.post("/admin/upload/start", data="{", headers={"Origin": ORIGIN}).status_code == 400
    assert _staged_names(bucket) == []
    assert _start(alice, "a.csv", 10).status_code == 200  # control: the same request from the page works


def test_the_session_url_writes_only_its_staged_object(admin_app, bucket):
    client = _signed_in(admin_app)
    live_before = bucket.get_blob("data/data.csv")
    answer = _start(client, "a.csv", len(GOOD_CSV)).json
    aimed_at_live = answer["url"].replace("name=data%2Fdata.csv.staging%2F", "name=data%2Fdata.csv%3F")
    assert aimed_at_live != answer["url"]
    content_range = {"Content-Range": f"bytes 0-{len(GOOD_CSV) - 1}/{len(GOOD_CSV)}"}
    requests.put(aimed_at_live, data=GOOD_CSV, headers=content_range, timeout=10)

    live = bucket.get_blob("data/data.csv")
    assert (live.generation, live.download_as_bytes()) == (live_before.generation, SAMPLE_CSV)
    (staged_name,) = _staged_names(bucket)
    assert bucket.get_blob(staged_name).download_as_bytes() == GOOD_CSV


def test_a_storage_session_gets_chunks_of_upload_chunk_mb_and_stores_them_all(bucket, gcs_settings, make_app, admins):
    bucket.blob("data/data.csv").upload_from_string(SAMPLE_CSV)
    app = make_app(gcs_settings.with_overrides(admin_users=admins, upload_chunk_mb=0.25))
    content = GOOD_CSV + b"".join(b"%d,1,2\n" % number for number in range(3, 100_000))
    answer = _start(_signed_in(app), "big.csv", len(content)).json
    assert answer["direct"] is True and answer["chunk_bytes"] == 256 * 1024
    total, step = len(content), answer["chunk_bytes"]
    for start in range(0, total, step):
        end = min(start + step, total) - 1
        sent = requests.put(
            answer["url"],
            data=content[start : end + 1],
            headers={"Content-Range": f"bytes {start}-{end}/{total}"},
            timeout=10,
        )
        assert sent.status_code == (308 if end + 1 < total else 200), (start, sent.status_code)
    (staged_name,) = _staged_names(bucket)
    assert total > 3 * step and bucket.get_blob(staged_name).download_as_bytes() == content


def test_a_chunk_the_emulator_stored_twice_is_named_and_nothing_is_published(admin_app, bucket):
    client = _signed_in(admin_app)
    live_before = bucket.get_blob("data/data.csv").generation
    answer = _start(client, "a.csv", len(GOOD_CSV)).json
    half, total = len(GOOD_CSV) // 2, len(GOOD_CSV)
    first = {"Content-Range": f"bytes 0-{half - 1}/{total}"}
    for _ in range(2):  # the answer to the first chunk was lost: the page sends it again
        assert requests.put(answer["url"], data=GOOD_CSV[:half], headers=first, timeout=10).status_code == 308
    rest = {"Content-Range": f"bytes {half}-{total - 1}/{total}"}
    assert requests.put(answer["url"], data=GOOD_CSV[half:], headers=rest, timeout=10).ok

    response = _preview_staged(client, {"token": answer["token"], "filename": "a.csv", "size": total})
    assert f"Storage holds {total + half:,} bytes for a file of {total:,}" in _text(response["admin-validation"])
    assert response["admin-publish"]["disabled"] is True
    assert _staged_names(bucket) == [] and bucket.get_blob("data/data.csv").generation == live_before


def test_a_file_the_dashboards_could_not_hold_is_refused_at_preview_and_unstaged(
    bucket, gcs_settings, make_app, admins
):
    bucket.blob("data/data.csv").upload_from_string(SAMPLE_CSV)
    app = make_app(gcs_settings.with_overrides(admin_users=admins, max_rows=100_000, frame_memory_mb=1))
    client = _signed_in(app)
    live_before = bucket.get_blob("data/data.csv").generation
    content = b"first_num,second_num\n" + b"".join(b"%d,2\n" % number for number in range(50_000))

    response = _preview(client, content, "big.csv")
    message = _text(response["admin-validation"]["children"])
    assert "The dashboards could not hold this file: its 50,000 rows take" in message
    assert "more than FRAME_MEMORY_MB (1 MB)" in message
    assert response["admin-pending"]["data"] is None and response["admin-publish"]["disabled"] is True
    assert _staged_names(bucket) == [] and bucket.get_blob("data/data.csv").generation == live_before
    assert _preview(client, GOOD_CSV, "small.csv")["admin-publish"]["disabled"] is False  # control


def test_another_admins_staged_upload_cannot_be_previewed_or_published(admin_app, bucket):
    alice, bob = _signed_in(admin_app, "alice"), _signed_in(admin_app, "bob")
    bobs_upload = _upload(bob, GOOD_CSV, "bob.csv")
    before = bucket.get_blob("data/data.csv").generation

    refused = _preview_staged(alice, bobs_upload)
    assert "not started by you" in _text(refused["admin-validation"]["children"])
    assert refused["admin-pending"]["data"] is None
    bobs_pending = _preview_staged(bob, bobs_upload)["admin-pending"]["data"]
    assert "not the one you previewed" in _text(_publish(alice, bobs_pending))
    assert alice.post("/admin/upload/cancel", json=bobs_upload, headers={"Origin": ORIGIN}).status_code == 404
    assert bucket.get_blob("data/data.csv").generation == before

    assert "v1 · bob.csv · " in _text(_publish(bob, bobs_pending))  # control: bob can


def test_cancel_deletes_the_staged_object(admin_app, bucket):
    client = _signed_in(admin_app)
    upload = _upload(client, GOOD_CSV, "a.csv")
    assert len(_staged_names(bucket)) == 1
    cancelled = client.post("/admin/upload/cancel", json={"token": upload["token"]}, headers={"Origin": ORIGIN})
    assert cancelled.status_code == 204
    assert _staged_names(bucket) == []
    assert _preview_staged(client, None)["admin-preview"]["children"] is None


def test_history_does_not_list_staged_objects(admin_app, bucket):
    client = _signed_in(admin_app)
    _upload(client, GOOD_CSV, "a.csv")
    history = admin_app.server.extensions["live_data"].source.history(10)
    assert [version.generation for version in history] == [str(bucket.get_blob("data/data.csv").generation)]


def test_restore_from_the_history_table(admin_app, bucket):
    original = str(bucket.get_blob("data/data.csv").generation)
    client = _signed_in(admin_app)
    pending = _preview(client, GOOD_CSV, "new.csv")["admin-pending"]["data"]
    _publish(client, pending)
    live = str(bucket.get_blob("data/data.csv").generation)

    refreshed = client.post(
        "/_dash-update-component",
        json=callback_payload(
            ["admin-live.children", "admin-history.children", "admin-live-version.data"],
            {"admin-refresh.n_intervals": 1, "admin-history-stale.data": None, "admin-timezone.data": ZONE},
            {"admin-live-version.data": None, "admin-dataset.data": None},
        ),
    ).json["response"]
    assert refreshed["admin-live-version"]["data"] == live
    assert original in _text(refreshed["admin-history"]["children"])

    body = callback_payload(
        ["admin-restore-result.children", "admin-history-stale.data"],
        {"admin-restore-confirm.submit_n_clicks": 1},
        {
            "admin-restore-target.data": original,
            "admin-live-version.data": live,
            "admin-timezone.data": ZONE,
            "admin-dataset.data": None,
        },
    )
    body["output"] = _callback_key(client, "admin-restore-confirm.submit_n_clicks")
    result = client.post("/_dash-update-component", json=body).json["response"]

    assert "Restored v" not in _text(result["admin-restore-result"]["children"])  # the seed had no number
    assert "Restored updated " in _text(result["admin-restore-result"]["children"])
    restored = bucket.get_blob("data/data.csv")
    assert restored.download_as_bytes() == SAMPLE_CSV
    assert restored.metadata["restored_from"] == original and restored.metadata["uploaded_by"] == "alice"
    assert restored.metadata["version"] == "2"


@pytest.mark.integration  # runs the CLI in its own interpreter (imports the whole app)
def test_hash_password_command_prints_a_hash_admin_users_accepts():
    result = subprocess.run(
        [sys.executable, "app.py", "hash-password", "--user", "carol"],
        cwd=REPO,
        input="s3cret-enough\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith("carol:scrypt:131072:8:1$")
    directory = AdminDirectory.parse(line)
    assert directory.verify("carol", "s3cret-enough") and not directory.verify("carol", "wrong")


def test_a_fix_can_be_published_over_an_unreadable_live_version(admin_app, bucket):
    bucket.blob("data/data.csv").upload_from_string(b"\x89PNG\r\n\x1a\n written by mistake")
    client = _signed_in(admin_app)
    preview = _preview(client, GOOD_CSV, "fix.csv")
    assert preview["admin-publish"]["disabled"] is False
    _publish(client, preview["admin-pending"]["data"])
    assert bucket.get_blob("data/data.csv").download_as_bytes() == GOOD_CSV


def test_after_publishing_the_preview_is_cleared_and_a_conflict_offers_review_again(admin_app):
    alice, bob = _signed_in(admin_app, "alice"), _signed_in(admin_app, "bob")
    bob_pending = _preview(bob, GOOD_CSV + b"3,1,1\n", "bob.csv")["admin-pending"]["data"]
    published = _publish(alice, _preview(alice, GOOD_CSV, "a.csv")["admin-pending"]["data"])
    assert published["admin-preview"]["children"] is None
    assert published["admin-review-again"]["style"] == {"display": "none"}

    conflict = _publish(bob, bob_pending)
    assert conflict["admin-review-again"]["style"] == {}  # the button appears


# -- local mode: the same flow, chunks go to the app ---------------------------------------


@pytest.fixture()
def local_app(local_csv, gcs_settings, make_app, admins):
    return make_app(gcs_settings.with_overrides(data_source="local", local_data_path=local_csv, admin_users=admins))


def _put_chunk(client: Any, url: str, content_range: str, data: bytes = b"", origin: str = ORIGIN) -> Any:
    return client.put(url, data=data, headers={"Content-Range": content_range, "Origin": origin})


def test_local_chunks_resume_from_the_reported_offset_then_preview_and_publish(local_app, local_csv):
    client = _signed_in(local_app)
    content = GOOD_CSV + b"".join(b"%d,1,2\n" % number for number in range(3, 200))
    answer = _start(client, "big.csv", len(content)).json
    assert answer["direct"] is False and answer["url"].startswith("/admin/upload/chunk/")
    assert answer["chunk_bytes"] == CHUNK_BYTES  # what the app's request body limit allows, whatever UPLOAD_CHUNK_MB
    total, half = len(content), len(content) // 2

    first = _put_chunk(client, answer["url"], f"bytes 0-{half - 1}/{total}", content[:half])
    assert first.status_code == 308 and first.headers["Range"] == f"bytes=0-{half - 1}"
    # The connection drops; the browser asks where the upload stands, then resends from there.
    status = _put_chunk(client, answer["url"], f"bytes */{total}")
    assert status.status_code == 308 and status.headers["Range"] == f"bytes=0-{half - 1}"
    again = _put_chunk(client, answer["url"], f"bytes 0-{half - 1}/{total}", content[:half])  # resent: harmless
    assert again.status_code == 308
    last = _put_chunk(client, answer["url"], f"bytes {half}-{total - 1}/{total}", content[half:])
    assert last.status_code == 200

    staged = {"token": answer["token"], "filename": "big.csv", "size": total}
    preview = _preview_staged(client, staged)
    assert preview["admin-publish"]["disabled"] is False, preview["admin-validation"]
    published = _text(_publish(client, preview["admin-pending"]["data"], "local"))
    assert "v1 · big.csv · " in published and "(199 rows)" in published
    assert local_csv.read_bytes() == content
    assert list(local_csv.with_name("data.csv.staging").iterdir()) == []


def test_local_chunk_route_refuses_bad_requests(local_app, local_csv):
    alice, bob = _signed_in(local_app, "alice"), _signed_in(local_app, "bob")
    url = _start(alice, "a.csv", 100).json["url"]
    full = "bytes 0-99/100"
    assert _put_chunk(local_app.server.test_client(), url, full, b"x" * 100).status_code == 403  # anonymous
    assert _put_chunk(alice, url, full, b"x" * 100, origin="http://evil.example").status_code == 403
    assert _put_chunk(bob, url, full, b"x" * 100).status_code == 404  # not bob's upload
    assert _put_chunk(alice, url, "bytes 0-99/101", b"x" * 100).status_code == 400  # not the declared size
    assert _put_chunk(alice, url, "bytes 50-99/100", b"x" * 50).status_code == 409  # a gap
    assert _put_chunk(alice, url, "bytes 0-9/100", b"x" * 5).status_code == 400  # body shorter than its range
    assert _put_chunk(alice, url + "x", full, b"x" * 100).status_code == 404  # altered token
    assert local_csv.read_bytes() == SAMPLE_CSV


def test_local_chunks_are_at_most_chunk_bytes(local_app):
    client = _signed_in(local_app)
    total = CHUNK_BYTES + 1
    url = _start(client, "a.csv", total).json["url"]
    too_big = _put_chunk(client, url, f"bytes 0-{total - 1}/{total}", b"1" * total)
    assert too_big.status_code == 400


def test_starting_an_upload_deletes_staged_files_older_than_a_day(local_app, local_csv):
    client = _signed_in(local_app)
    _start(client, "a.csv", 10)
    staging_dir = local_csv.with_name("data.csv.staging")
    (recent,) = list(staging_dir.iterdir())
    abandoned = staging_dir / f"{'a' * 32}.upload"
    abandoned.write_bytes(b"old")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(abandoned, (two_days_ago, two_days_ago))

    _start(client, "b.csv", 10)

    assert not abandoned.exists() and recent.exists()


def test_in_production_missing_bucket_cors_is_reported_before_uploading_and_the_emulator_needs_none(
    bucket, gcs_settings, make_app, admins
):
    production = gcs_settings.with_overrides(
        app_env="production", secret_key="production-test-key-0123456789-abcdefghij", admin_users=admins
    )
    # As against real storage (the app is still handed the emulator's client): its CORS is read.
    client = _signed_in(make_app(production.with_overrides(storage_emulator_host="")))
    # The session cookie is Secure in production: the test client still sends it over http://localhost.
    refused = _start(client, "a.csv", 10)
    assert refused.status_code == 409
    assert refused.json["error"] == (
        "Uploads cannot reach storage: the bucket's CORS settings do not allow uploads (PUT) from http://localhost. "
        "See 'Bucket set-up' in the README."
    )
    assert _staged_names(bucket) == []
    # fake-gcs-server keeps no CORS rules but lets every origin upload: nothing to check there.
    assert _start(_signed_in(make_app(production)), "a.csv", 10).status_code == 200


def test_a_csv_uploaded_for_a_parquet_object_is_converted_staged_and_published(bucket, gcs_settings, make_app, admins):
    client = _signed_in(make_app(gcs_settings.with_overrides(gcs_blob="data/data.parquet", admin_users=admins)))
    preview = _preview(client, GOOD_CSV, "march.csv")
    assert preview["admin-publish"]["disabled"] is False
    assert len(list(bucket.list_blobs(prefix="data/data.parquet.staging/"))) == 2  # the upload and its conversion

    _publish(client, preview["admin-pending"]["data"])

    live = bucket.get_blob("data/data.parquet")
    stored = live.download_as_bytes()
    assert stored.startswith(b"PAR1") and live.metadata["sha256"] == hashlib.sha256(stored).hexdigest()
    assert pd.read_parquet(io.BytesIO(stored))["first_num"].tolist() == [10, 30]
    assert list(bucket.list_blobs(prefix="data/data.parquet.staging/")) == []


# -- the admin page in people's words ------------------------------------------------------

NOW = datetime(2026, 12, 5, 14, 30, tzinfo=UTC)
PARIS = reader_zone("Europe/Paris")


def _version(generation: str, updated: str, size: int = 12_345_678, **metadata: str) -> DataVersion:
    return DataVersion(generation, updated, size, metadata)


def test_a_version_reads_number_file_time_and_who_with_the_generation_in_the_tooltip_only():
    version = _version(
        "1764912345678901", "2026-12-05T13:07:31+00:00", version="7", original_filename="stocks.csv",
        uploaded_by="alice", rows="3000000",
    )  # fmt: skip
    assert version_label(version, PARIS, NOW) == "v7 · stocks.csv · 14:07 · alice"
    assert version_label(version, UTC, NOW) == "v7 · stocks.csv · 13:07 · alice"
    assert version_details(version, PARIS) == "2026-12-05 14:07:31 CET · generation 1764912345678901"
    assert "1764912345678901" not in version_label(version, PARIS, NOW)
    # Older versions carry their date; data written outside the app says so, as the chart page does.
    assert clock_time("2026-11-03T09:05:00+00:00", PARIS, NOW) == "3 Nov 10:05"
    assert clock_time("2025-11-03T09:05:00+00:00", PARIS, NOW) == "3 Nov 2025 10:05"
    outside = _version("17", "2026-12-05T13:07:31+00:00")
    assert version_label(outside, PARIS, NOW) == "updated 14:07 · written outside the app"


def test_an_unknown_or_hostile_time_zone_falls_back_to_utc():
    for name in (None, "", "Mars/Olympus", "../../etc/passwd", "x" * 1000, 3, ["Europe/Paris"]):
        assert reader_zone(name) is UTC
    assert str(reader_zone("America/New_York")) == "America/New_York"


def test_sizes_are_megabytes_of_a_million_bytes_and_counts_have_separators():
    assert megabytes(3_000_000) == "3.00 MB"
    assert megabytes(1_000_001, round_up=True) == "1.01 MB"  # over a limit never reads as equal to it
    assert [file_size(size) for size in (1, 812, 52_400, 3_400_000, 128_400_000)] == [
        "1 byte", "812 bytes", "52 kB", "3.4 MB", "128 MB",
    ]  # fmt: skip
    assert count(3_000_000) == "3,000,000" and count(1, "row") == "1 row" and count(2_000, "row") == "2,000 rows"


def test_history_rows_say_versions_actions_rows_and_sizes_in_words():
    # Today's versions show their time only, so the rows are dated today and yesterday where the test runs.
    today = datetime.now(PARIS).date()
    yesterday = today - timedelta(days=1)

    def at(day: date, hour: int, minute: int) -> str:
        return datetime.combine(day, clock(hour, minute), PARIS).isoformat()

    versions = [
        _version(
            "300", at(today, 14, 7), 52_400, version="3", original_filename="old.csv", uploaded_by="bob",
            action="restore", restored_from="100", rows="3000000",
        ),
        _version("200", at(today, 13, 0), version="2", original_filename="b.csv", uploaded_by="alice",
                 action="publish", rows="12"),
        _version("100", at(yesterday, 13, 0), version="1", original_filename="old.csv", uploaded_by="bob",
                 action="publish", rows="5"),
        _version("50", at(yesterday, 12, 0), action="restore", restored_from="9", restored_version="4",
                 uploaded_by="bob", version="8"),
    ]  # fmt: skip
    table = history_table(versions, "300", PARIS)
    rows = [[_cell_text(cell) for cell in row.children] for row in table.children[1].children]
    assert rows[0][:4] == ["v3 · old.csv · 14:07 · bob", "restored v1", "3,000,000", "52 kB"]
    assert rows[1][:2] == ["v2 · b.csv · 13:00 · alice", "published"]
    assert rows[3][1] == "restored v4"  # v4 is not listed: the restore's own metadata names it
    assert all("300" not in text and "100" not in text for text in rows[0][:2])  # generations: tooltips only
    live_control, restore_button = table.children[1].children[0].children[5], table.children[1].children[1].children[5]
    assert live_control.children.children == "live"
    assert restore_button.children.children == "Restore"
    assert restore_button.children.title == "Restore v2 · b.csv · 13:00 · alice"


def _cell_text(cell: Any) -> str:
    content = cell.children
    return content if isinstance(content, str) else content.children


def test_a_column_mixing_numbers_and_text_is_previewed_with_a_warning_and_can_be_published(admin_app, bucket):
    client = _signed_in(admin_app)
    mixed = b"ID,first_num,second_num,price\n1,10,20,1.5\n2,30,40,n.a.\n3,5,6,2.5\n4,7,8,3\n"
    preview = _preview(client, mixed, "mixed.csv")
    shown = _text(preview["admin-preview"]["children"])
    assert "admin-warnings" in shown
    assert "Column 'price' mixes numbers and text: 1 cell is not a number (line 3 ('n.a.'))" in shown
    assert preview["admin-publish"]["disabled"] is False  # a warning, not a refusal
    assert "v1 · mixed.csv · " in _text(_publish(client, preview["admin-pending"]["data"]))
    assert bucket.get_blob("data/data.csv").download_as_bytes() == mixed
