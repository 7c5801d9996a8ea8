"""``/live/<generation>/changes``, the chart's ghosts and ``/download/changes.csv`` against fake-gcs-server."""

from __future__ import annotations

import csv
import io
import re
import time
from typing import Any

import pytest

from data_access import frame_store
from data_access.frame_store import REPLACED_FRAME_SECONDS
from testinfra.dash_requests import poll

OLD_CSV = b"id,name,price\n1,a,1.5\n2,b,2.5\n3,c,3.5\n4,=cmd,4.5\n"
# id 2 removed, id 3's price changed, id 5 added (a formula that must be neutralised), id 4 kept.
NEW_CSV = b"id,name,price\n1,a,1.5\n3,c,9.5\n4,=cmd,4.5\n5,=HYPERLINK(1),5.5\n"


def _write(bucket: Any, content: bytes) -> str:
    blob = bucket.blob("data/data.csv")
    blob.upload_from_string(content, content_type="text/csv")
    return str(blob.generation)


def _ready(client: Any, path: str, timeout: float = 20) -> Any:
    """GET ``path`` until it stops answering 202 (computing or loading)."""
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(path)
        if response.status_code != 202 or time.monotonic() > deadline:
            return response
        time.sleep(0.1)


def _shown_after(client: Any, generation: str) -> dict[str, Any]:
    """The shown-version a page gets once the app has seen ``generation`` live."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        shown = poll(client).json["response"]["shown-version"]["data"]
        if shown["generation"] == generation:
            return shown
        time.sleep(0.1)
    raise AssertionError(f"the app never saw generation {generation}")


def _app(bucket, gcs_settings, make_app) -> tuple[Any, dict[str, Any], str]:
    """An app that saw OLD_CSV replaced by NEW_CSV, both written straight to the bucket (no history metadata)."""
    first = _write(bucket, OLD_CSV)
    client = make_app(gcs_settings.with_overrides(data_schema="")).server.test_client()
    _shown_after(client, first)
    return client, _shown_after(client, _write(bucket, NEW_CSV)), first


def test_changes_summary_rows_and_ghosts(bucket, gcs_settings, make_app):
    client, shown, first = _app(bucket, gcs_settings, make_app)
    base = f"/live/{shown['generation']}"
    answer = _ready(client, f"{base}/changes?t={shown['token']}")
    assert answer.status_code == 200, answer.data
    body = answer.json
    assert body["summary"] == "+1 row · −1 row · 1 changed value"
    assert body["matching"] == "Rows matched on id (unique in both versions)."
    # Versions written outside the app are named by their time, never by their generation.
    assert body["before"] != body["label"] and first not in body["before"] + body["label"]
    assert [row["change"] for row in body["rows"]] == ["added", "removed", "changed"]
    changed = body["rows"][2]
    assert changed["c2"] == "3.5 → 9.5" and changed["changed_cells"] == {"c2": True}
    assert "immutable" in answer.headers["Cache-Control"]

    chart = _ready(client, f"{base}/chart?t={shown['token']}&x=id&y=price&kind=line&changes=1").json
    names = [trace["name"] for trace in chart["figure"]["data"]]
    assert names == [f"price · {body['label']}", f"price · {body['before']}"]
    ghost = chart["figure"]["data"][1]
    assert ghost["line"]["dash"] == "dash" and ghost["opacity"] < 1
    plain = _ready(client, f"{base}/chart?t={shown['token']}&x=id&y=price&kind=line").json
    assert len(plain["figure"]["data"]) == 1


def test_a_local_file_edited_on_disk_is_compared_with_the_version_published_before(tmp_path, make_app):
    from data_access.local_source import LocalFileSource
    from settings import Settings

    path = tmp_path / "data.csv"
    path.write_bytes(b"id,name,price\n1,a,0.5\n")
    source = LocalFileSource(path)
    published = source.write(OLD_CSV, source.current_version().generation, {"version": "1", "action": "publish"})
    settings = Settings.from_env({}, app_env="development", data_source="local", local_data_path=path, data_schema="")
    client = make_app(settings).server.test_client()
    _shown_after(client, published.generation)
    path.write_bytes(NEW_CSV)  # README's quick start: edit data/data.csv in an editor
    shown = _shown_after(client, source.current_version().generation)

    answer = _ready(client, f"/live/{shown['generation']}/changes?t={shown['token']}")

    assert answer.status_code == 200, answer.data
    assert answer.json["before"].startswith("v1 · ") and answer.json["before_generation"] == published.generation
    assert answer.json["summary"] == "+1 row · −1 row · 1 changed value"


def test_a_local_file_edited_twice_on_disk_is_compared_with_the_version_the_app_last_saw(tmp_path, make_app):
    from data_access.local_source import LocalFileSource
    from settings import Settings

    path = tmp_path / "data.csv"
    path.write_bytes(OLD_CSV)  # no history folder: nothing was ever published through the app
    source = LocalFileSource(path)
    settings = Settings.from_env({}, app_env="development", data_source="local", local_data_path=path, data_schema="")
    client = make_app(settings).server.test_client()
    first = _shown_after(client, source.current_version().generation)
    assert _ready(client, f"/live/{first['generation']}/chart?t={first['token']}").status_code == 200  # a page shows it
    path.write_bytes(NEW_CSV)
    shown = _shown_after(client, source.current_version().generation)

    answer = _ready(client, f"/live/{shown['generation']}/changes?t={shown['token']}")

    assert answer.status_code == 200, answer.data
    assert answer.json["before_generation"] == first["generation"]
    assert answer.json["summary"] == "+1 row · −1 row · 1 changed value"


def test_vs_names_a_version_and_unknown_ones_are_404(bucket, gcs_settings, make_app):
    client, shown, first = _app(bucket, gcs_settings, make_app)
    base = f"/live/{shown['generation']}/changes?t={shown['token']}"
    assert _ready(client, f"{base}&vs={first}").json["before_generation"] == first
    missing = client.get(f"{base}&vs=v99")
    assert missing.status_code == 404 and "no version “v99”" in missing.json["error"]
    assert client.get(f"{base}&vs=<script>").status_code == 200  # an unreadable vs is ignored (a notice)
    assert client.get(f"/live/{shown['generation']}/changes?t=forged").status_code == 403


def test_download_changes_csv(bucket, gcs_settings, make_app):
    client, shown, _first = _app(bucket, gcs_settings, make_app)
    path = f"/download/changes.csv?token={shown['token']}"
    response = _ready(client, path)
    assert response.status_code == 200, response.data
    # Named as data downloads name versions (the time when unnumbered), never by the generation.
    assert re.fullmatch(
        r'attachment; filename="data-\d{8}-\d{4}-vs-\d{8}-\d{4}-changes\.csv"', response.headers["Content-Disposition"]
    )
    rows = list(csv.reader(io.StringIO(response.data.decode())))
    assert rows[0] == ["change", "id", "name", "price"]
    assert rows[1:] == [
        ["added", "5", "'=HYPERLINK(1)", "5.5"],
        ["removed", "2", "b", "2.5"],
        ["changed", "3", "c", "3.5 → 9.5"],
    ]
    assert client.get("/download/changes.csv?token=forged").status_code == 403
    assert client.get("/download/changes.csv").status_code == 403
    _write(bucket, OLD_CSV)  # a newer version: the old link is refused
    time.sleep(0.3)
    assert client.get(path).status_code == 410


def test_a_comparison_being_computed_answers_202_computing(bucket, gcs_settings, make_app):
    client, shown, first = _app(bucket, gcs_settings, make_app)
    from routes.changes import current_comparisons

    with client.application.app_context():
        store = current_comparisons()
    # Another worker holds the pair's lock: this one does not compute it too, and does not wait.
    assert store._cache.take_lock(store._key((first, shown["generation"])) + ":lock", 60)
    answer = client.get(f"/live/{shown['generation']}/changes?t={shown['token']}")
    assert answer.status_code == 202 and answer.json == {"computing": True}
    assert answer.headers["Retry-After"] and answer.headers["Cache-Control"] == "no-store"
    assert client.get(f"/download/changes.csv?token={shown['token']}").status_code == 409


def test_no_ghost_when_the_version_before_has_the_column_as_text(bucket, gcs_settings, make_app):
    first = _write(bucket, b"id,price\n1,cheap\n2,dear\n")
    client = make_app(gcs_settings.with_overrides(data_schema="")).server.test_client()
    _shown_after(client, first)
    shown = _shown_after(client, _write(bucket, b"id,price\n1,1.5\n2,2.5\n"))
    chart = _ready(client, f"/live/{shown['generation']}/chart?t={shown['token']}&x=id&y=price&kind=line&changes=1")
    assert chart.status_code == 200 and len(chart.json["figure"]["data"]) == 1
    summary = _ready(client, f"/live/{shown['generation']}/changes?t={shown['token']}").json["summary"]
    assert summary == "2 changed values · column changed type: price"


@pytest.mark.parametrize("replaced_frame_seconds", [REPLACED_FRAME_SECONDS, 0], ids=["quick-edit", "slow-edit"])
def test_a_dataset_file_edited_on_disk_is_compared_with_the_version_its_page_showed(
    tmp_path, make_app, monkeypatch, replaced_frame_seconds
):
    """A slow edit: the shown version's frame is dropped from memory once replaced, and its bytes are gone from
    disk; the app must have kept the version it read (the trial's "version … no longer available")."""
    from data_access.local_source import LocalFileSource

    monkeypatch.setattr(frame_store, "REPLACED_FRAME_SECONDS", replaced_frame_seconds)
    from settings import Settings

    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "sales.csv"
    path.write_bytes(OLD_CSV)
    (folder / "other.csv").write_bytes(OLD_CSV)
    settings = Settings.from_env(
        {},
        app_env="development",
        data_source="local",
        local_data_path=folder,
        data_schema="",
        version_cache_seconds=0.2,
    )
    client = make_app(settings).server.test_client()
    first = client.get("/d/sales/live/version").get_json()
    assert _ready(client, f"/d/sales/live/{first['generation']}/chart?t={first['token']}").status_code == 200
    path.write_bytes(NEW_CSV)
    new_generation = LocalFileSource(path).current_version().generation
    deadline = time.monotonic() + 10
    shown = first
    while shown["generation"] != new_generation and time.monotonic() < deadline:
        time.sleep(0.1)
        shown = client.get("/d/sales/live/version").get_json()

    answer = _ready(client, f"/d/sales/live/{shown['generation']}/changes?t={shown['token']}")

    assert answer.status_code == 200, answer.data
    assert answer.json["before_generation"] == first["generation"]
    assert answer.json["summary"] == "+1 row · −1 row · 1 changed value"
