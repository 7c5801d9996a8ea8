"""Structured logs: JSON lines Cloud Logging reads, each operator event logged once, gunicorn's access log."""

from __future__ import annotations

import io
import json
import logging
import urllib.request
from collections.abc import Iterator

import pytest

from app_logging import CloudLoggingFormatter, TextFormatter, trace_fields
from data_access import build_live_data
from data_access.publishing import Publication, Publisher
from data_access.state_log import StateLog
from settings import Settings
from testinfra import SAMPLE_CSV, Gunicorn

TRACE = "105445aa7843bc8bf206b12000100000"


@pytest.fixture()
def json_lines() -> Iterator[io.StringIO]:
    """Every record logged during the test, formatted as production formats it (project "demo")."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(CloudLoggingFormatter(project="demo"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def _records(stream: io.StringIO) -> list[dict]:
    """Parse every line as JSON (a line that is not JSON fails the test)."""
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def _by_message(stream: io.StringIO, fragment: str) -> list[dict]:
    return [record for record in _records(stream) if fragment in record["message"]]


def test_trace_header_becomes_cloud_logging_trace():
    fields = trace_fields(f"{TRACE}/42;o=1", "demo")
    assert fields["logging.googleapis.com/trace"] == f"projects/demo/traces/{TRACE}"
    assert fields["logging.googleapis.com/spanId"] == "42" and fields["logging.googleapis.com/trace_sampled"] is True
    assert trace_fields(TRACE, "") == {}  # no project id: the trace cannot be named
    assert trace_fields('x"}\n{"severity": "ERROR', "demo") == {}  # a forged header is not logged as a trace


def test_state_log_writes_each_transition_once(json_lines):
    state = StateLog(logging.getLogger("test.state"), "storage", location="gs://b/o")
    state.recovered()
    for _ in range(5):
        state.failed("timeout")
    for _ in range(5):
        state.recovered()
    state.failed("refused")
    records = _records(json_lines)
    assert [(r["severity"], r["message"]) for r in records] == [
        ("WARNING", "storage failing: timeout"),
        ("INFO", "storage recovered"),
        ("WARNING", "storage failing: refused"),
    ]
    assert records[0]["location"] == "gs://b/o" and records[0]["error"] == "timeout"


def test_text_format_appends_extra_fields():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "sign-in failed", (), None)
    record.user = "mallory"
    assert TextFormatter().format(record).endswith("WARNING x: sign-in failed user=mallory")


def test_failed_sign_in_is_one_json_line_with_user_and_trace(make_app, local_csv, json_lines):
    settings = Settings.from_env({}, app_env="development", data_source="local", local_data_path=local_csv)
    client = make_app(settings).server.test_client()
    response = client.post(
        "/login",
        data={"username": "mallory", "password": "guess"},
        headers={"X-Cloud-Trace-Context": f"{TRACE}/1;o=1"},
    )
    assert response.status_code == 401
    [record] = _by_message(json_lines, "sign-in failed")
    assert record["severity"] == "WARNING" and record["user"] == "mallory"
    assert record["logging.googleapis.com/trace"] == f"projects/demo/traces/{TRACE}"
    assert "guess" not in json_lines.getvalue()  # never the password


def test_publish_conflict_and_generation_load_are_logged(gcs_settings, gcs_client, json_lines):
    live_data = build_live_data(gcs_settings, gcs_client)
    base = live_data.source.write(SAMPLE_CSV, None, {"uploaded_by": "seed"})
    publisher = Publisher(live_data)
    content = b"ID,first_num,second_num\n1,10,10\n"
    version = publisher.publish(Publication(content, 1, "new.csv"), "alice", base.generation)
    with pytest.raises(Exception, match="changed"):
        publisher.publish(Publication(content, 1, "new.csv"), "bob", base.generation)
    live_data.frame(version.generation)

    [published] = _by_message(json_lines, "is live")
    assert published["user"] == "alice" and published["action"] == "publish" and published["rows"] == 1
    assert published["generation"] == version.generation and published["previous_generation"] == base.generation
    assert len(published["sha256"]) == 64
    [conflict] = _by_message(json_lines, "refused: live data changed")
    assert conflict["severity"] == "WARNING" and conflict["user"] == "bob"
    assert conflict["live_generation"] == version.generation
    [loaded] = _by_message(json_lines, "taken up")
    assert loaded["generation"] == version.generation and loaded["rows"] == 1 and loaded["load_seconds"] >= 0


def test_version_check_failure_and_recovery_logged_once(gcs_settings, gcs_client, json_lines):
    settings = gcs_settings.with_overrides(gcs_bucket="created-later", version_cache_seconds=0)
    live_data = build_live_data(settings, gcs_client)
    for _ in range(3):
        assert not live_data.check_version().ok
    gcs_client.create_bucket("created-later")
    for _ in range(3):
        assert live_data.check_version().ok
    messages = [r["message"] for r in _records(json_lines) if r["message"].startswith("storage version check")]
    assert len(messages) == 2 and "failing" in messages[0] and "does not exist" in messages[0]
    assert messages[1] == "storage version check recovered"


@pytest.mark.integration
def test_gunicorn_conf_runs_the_asgi_worker_and_logs_json_access_lines(local_csv):
    env = {
        "PATH": "/usr/bin:/bin",
        "APP_ENV": "development",
        "DATA_SOURCE": "local",
        "LOCAL_DATA_PATH": str(local_csv),
        "LOG_FORMAT": "json",
        "GOOGLE_CLOUD_PROJECT": "demo",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_THREADS": "3",
    }
    with Gunicorn(env, as_deployed=True) as server:
        request = urllib.request.Request(
            f"{server.url}/healthz?probe=1", headers={"X-Cloud-Trace-Context": f"{TRACE}/7;o=1"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        server.end()  # every line written, the access line included
        output = server.output()
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert len(records) == len([line for line in output.splitlines() if line.strip()]), output  # all JSON
    messages = [record["message"] for record in records]
    assert "Using worker: asgi_worker.DashboardWorker" in messages
    assert sum(message.startswith("Booting worker") for message in messages) == 1
    access = [r for r in records if r.get("httpRequest", {}).get("requestUrl") == "/healthz?probe=1"]
    assert len(access) == 1, output
    http_request = access[0]["httpRequest"]
    assert http_request["requestMethod"] == "GET" and http_request["status"] == 200
    assert http_request["latency"].endswith("s") and float(http_request["latency"][:-1]) >= 0
    assert access[0]["severity"] == "INFO"
    assert access[0]["logging.googleapis.com/trace"] == f"projects/demo/traces/{TRACE}"
    assert "trace_header" not in access[0]  # passed for the trace fields, not a field of its own
