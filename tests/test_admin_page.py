"""The admin page's callbacks over HTTP, signed in, against a real emulator bucket."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from auth.passwords import AdminDirectory, hash_password
from tests.bad_files import BAD_FILES, CORPUS_MAX_ROWS
from tests.conftest import SAMPLE_CSV
from tests.dash_requests import callback_payload

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "a long enough admin password"
GOOD_CSV = b"ID,first_num,second_num\n1,10,20\n2,30,40\n"
PREVIEW_OUTPUTS = [
    "admin-validation.children",
    "admin-preview.children",
    "admin-pending.data",
    "admin-publish.disabled",
    "admin-publish-result.children",
    "admin-review-again.style",
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


def _contents(content: bytes) -> str:
    return "data:text/csv;base64," + base64.b64encode(content).decode()


def _preview(client: Any, content: bytes, filename: str) -> dict:
    body = callback_payload(
        PREVIEW_OUTPUTS,
        {"admin-upload-ready.data": {"filename": filename}, "admin-review-again.n_clicks": None},
        {"admin-upload.contents": _contents(content), "admin-upload.filename": filename},
    )
    body["output"] = _callback_key(client, "admin-upload-ready.data")
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200
    return response.json["response"]


def _publish(client: Any, content: bytes, filename: str, pending: dict) -> dict:
    outputs = [
        "admin-publish-result.children",
        "admin-pending.data",
        "admin-publish.disabled",
        "admin-history-stale.data",
        "admin-preview.children",
        "admin-review-again.style",
    ]
    body = callback_payload(
        outputs,
        {"admin-publish.n_clicks": 1},
        {"admin-upload.contents": _contents(content), "admin-upload.filename": filename, "admin-pending.data": pending},
    )
    body["output"] = _callback_key(client, "admin-publish.n_clicks")
    response = client.post("/_dash-update-component", json=body)
    assert response.status_code == 200
    return response.json["response"]


def _text(component: Any) -> str:
    return str(component)


def test_each_bad_file_is_explained_and_nothing_is_published(admin_app, bucket):
    client = _signed_in(admin_app)
    live_before = bucket.get_blob("data/data.csv").generation
    for case, filename, content, expected in BAD_FILES:
        response = _preview(client, content, filename)
        assert expected in _text(response["admin-validation"]["children"]), case
        assert response["admin-pending"]["data"] is None and response["admin-publish"]["disabled"] is True
        # Even a forged "pending" publish of the bad file is re-validated and refused.
        forged = {"sha256": hashlib.sha256(content).hexdigest(), "base_generation": str(live_before)}
        _publish(client, content, filename, forged)
    assert bucket.get_blob("data/data.csv").generation == live_before


def test_good_file_previews_then_publishes_with_audit_metadata(admin_app, bucket):
    client = _signed_in(admin_app)
    preview = _preview(client, GOOD_CSV, "march.csv")
    pending = preview["admin-pending"]["data"]
    assert preview["admin-publish"]["disabled"] is False
    shown = _text(preview["admin-preview"]["children"])
    assert "2 rows" in shown and "2 rows added" in shown and "3 removed" in shown

    result = _publish(client, GOOD_CSV, "march.csv", pending)

    assert "Published generation" in _text(result["admin-publish-result"]["children"])
    live = bucket.get_blob("data/data.csv")
    assert live.download_as_bytes() == GOOD_CSV
    assert live.metadata["uploaded_by"] == "alice"
    assert live.metadata["original_filename"] == "march.csv"
    assert live.metadata["sha256"] == hashlib.sha256(GOOD_CSV).hexdigest()


def test_second_admin_on_the_same_base_gets_the_conflict_message(admin_app, bucket):
    alice, bob = _signed_in(admin_app, "alice"), _signed_in(admin_app, "bob")
    alice_pending = _preview(alice, GOOD_CSV, "alice.csv")["admin-pending"]["data"]
    bob_csv = GOOD_CSV + b"3,1,1\n"
    bob_pending = _preview(bob, bob_csv, "bob.csv")["admin-pending"]["data"]

    assert "Published" in _text(_publish(alice, GOOD_CSV, "alice.csv", alice_pending))
    conflict = _text(_publish(bob, bob_csv, "bob.csv", bob_pending)["admin-publish-result"]["children"])

    assert "changed since you started" in conflict and "review again" in conflict
    assert bucket.get_blob("data/data.csv").download_as_bytes() == GOOD_CSV


def test_a_different_file_than_the_previewed_one_is_refused(admin_app, bucket):
    client = _signed_in(admin_app)
    pending = _preview(client, GOOD_CSV, "a.csv")["admin-pending"]["data"]
    before = bucket.get_blob("data/data.csv").generation
    result = _publish(client, GOOD_CSV + b"9,9,9\n", "a.csv", pending)
    assert "not the one you previewed" in _text(result)
    assert bucket.get_blob("data/data.csv").generation == before


def test_restore_from_the_history_table(admin_app, bucket):
    original = str(bucket.get_blob("data/data.csv").generation)
    client = _signed_in(admin_app)
    pending = _preview(client, GOOD_CSV, "new.csv")["admin-pending"]["data"]
    _publish(client, GOOD_CSV, "new.csv", pending)
    live = str(bucket.get_blob("data/data.csv").generation)

    refreshed = client.post(
        "/_dash-update-component",
        json=callback_payload(
            ["admin-live.children", "admin-history.children", "admin-live-version.data"],
            {"admin-refresh.n_intervals": 1, "admin-history-stale.data": None},
            {"admin-live-version.data": None},
        ),
    ).json["response"]
    assert refreshed["admin-live-version"]["data"] == live
    assert original in _text(refreshed["admin-history"]["children"])

    body = callback_payload(
        ["admin-restore-result.children", "admin-history-stale.data"],
        {"admin-restore-confirm.submit_n_clicks": 1},
        {"admin-restore-target.data": original, "admin-live-version.data": live},
    )
    body["output"] = _callback_key(client, "admin-restore-confirm.submit_n_clicks")
    result = client.post("/_dash-update-component", json=body).json["response"]

    assert "Restored generation" in _text(result["admin-restore-result"]["children"])
    restored = bucket.get_blob("data/data.csv")
    assert restored.download_as_bytes() == SAMPLE_CSV
    assert restored.metadata["restored_from"] == original and restored.metadata["uploaded_by"] == "alice"


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
    _publish(client, GOOD_CSV, "fix.csv", preview["admin-pending"]["data"])
    assert bucket.get_blob("data/data.csv").download_as_bytes() == GOOD_CSV


def test_after_publishing_the_preview_is_cleared_and_a_conflict_offers_review_again(admin_app):
    alice, bob = _signed_in(admin_app, "alice"), _signed_in(admin_app, "bob")
    bob_pending = _preview(bob, GOOD_CSV + b"3,1,1\n", "bob.csv")["admin-pending"]["data"]
    published = _publish(alice, GOOD_CSV, "a.csv", _preview(alice, GOOD_CSV, "a.csv")["admin-pending"]["data"])
    assert published["admin-preview"]["children"] is None
    assert published["admin-review-again"]["style"] == {"display": "none"}

    conflict = _publish(bob, GOOD_CSV + b"3,1,1\n", "bob.csv", bob_pending)
    assert conflict["admin-review-again"]["style"] == {}  # the button appears
