"""The unchanged-poll shortcut (routes/unchanged_poll.py) in front of the real app, over HTTP."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from werkzeug.test import Client

from asgi_worker import asgi_app
from routes.unchanged_poll import UNCHANGED_POLL_EXTENSION, UnchangedPollShortcut, poll_state
from tests.conftest import SAMPLE_CSV
from tests.dash_requests import poll, poll_payload

# Headers that describe the body or the connection, not the app's policy.
TRANSPORT_HEADERS = {"content-length", "content-type", "date", "server", "vary"}


def _publish(bucket, content: bytes) -> str:
    blob = bucket.blob("data/data.csv")
    blob.upload_from_string(content, content_type="text/csv")
    return str(blob.generation)


@pytest.fixture()
def served(bucket, gcs_settings, make_app):
    """The shortcut in front of an app on the sample, a client, and the shown-version its first poll handed out."""
    _publish(bucket, SAMPLE_CSV)
    server = make_app(gcs_settings).server
    shortcut = server.wsgi_app
    assert isinstance(shortcut, UnchangedPollShortcut)
    assert server.extensions[UNCHANGED_POLL_EXTENSION] is shortcut  # where the ASGI worker finds it
    client = server.test_client()
    shown = poll(client).json["response"]["shown-version"]["data"]
    return shortcut, client, shown


def _policy_headers(response) -> dict[str, str]:
    return {name.lower(): value for name, value in response.headers if name.lower() not in TRANSPORT_HEADERS}


@pytest.mark.parametrize("base_url", ["http://localhost", "https://localhost"])
def test_an_unchanged_poll_is_answered_in_front_of_the_app_with_the_apps_own_headers(served, base_url):
    shortcut, client, shown = served
    body = json.dumps(poll_payload(shown)).encode()
    headers = {"Content-Type": "application/json"}

    answered_before = shortcut.answered
    fast = client.post("/_dash-update-component", data=body, headers=headers, base_url=base_url)
    assert shortcut.answered == answered_before + 1
    # The same request through the app alone (Flask, its hooks, Dash's PreventUpdate).
    full = Client(shortcut.app).post("/_dash-update-component", data=body, headers=headers, base_url=base_url)

    assert (fast.status_code, fast.data) == (full.status_code, full.data) == (204, b"")
    assert _policy_headers(fast) == _policy_headers(full)
    assert ("strict-transport-security" in _policy_headers(fast)) == base_url.startswith("https")


def test_a_new_generation_goes_to_the_app_and_is_handed_out(served, bucket, gcs_settings):
    shortcut, client, shown = served
    new_generation = _publish(bucket, SAMPLE_CSV + b"4,7,8\n")
    time.sleep(gcs_settings.version_cache_seconds + 0.05)

    answered_before = shortcut.answered
    first = poll(client, shown=shown)  # the process' check is due: the app makes it
    assert first.status_code == 200
    assert first.json["response"]["shown-version"]["data"]["generation"] == new_generation
    again = poll(client, shown=shown)  # fresh check now, but this browser shows the old generation
    assert again.status_code == 200
    assert shortcut.answered == answered_before


def test_a_due_check_is_made_by_the_app_so_storage_is_still_asked(served, gcs_settings):
    shortcut, client, shown = served
    time.sleep(gcs_settings.version_cache_seconds + 0.05)
    answered_before = shortcut.answered

    assert poll(client, shown=shown).status_code == 204
    assert shortcut.answered == answered_before  # answered by Dash, after a fresh check
    assert poll(client, shown=shown).status_code == 204
    assert shortcut.answered == answered_before + 1


def test_a_status_to_clear_goes_to_the_app(served):
    shortcut, client, shown = served
    answered_before = shortcut.answered
    response = poll(client, shown=shown, status={"error": "storage unreachable", "kind": "unreachable"})
    assert response.status_code == 200
    assert response.json["response"]["storage-status"]["data"] is None
    assert shortcut.answered == answered_before


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Origin": "https://evil.example"}, 403),
    ],
)
def test_cross_site_polls_are_refused_by_the_app_as_before(served, headers, status):
    _shortcut, client, shown = served
    response = client.post("/_dash-update-component", json=poll_payload(shown), headers=headers)
    assert response.status_code == status


def test_malformed_and_large_bodies_reach_the_apps_checks(served):
    shortcut, client, shown = served
    answered_before = shortcut.answered
    broken = client.post("/_dash-update-component", data=b'{"output": ', content_type="application/json")
    assert broken.status_code == 400
    padded = poll_payload(shown)
    padded["changedPropIds"] = ["poll-trigger.data"] * 2000  # still a poll by its ids, but far too large
    assert client.post("/_dash-update-component", json=padded).status_code == 400
    assert shortcut.answered == answered_before


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'{"outputs": "shown-version.data"}',
        json.dumps({**poll_payload({"generation": "1"}), "inputs": [{"id": "pause-button", "property": "n_clicks"}]}),
        json.dumps({**poll_payload({"generation": "1"}), "state": [{"id": "shown-version", "property": "data"}]}),
        b"\xff\xfe",
    ],
)
def test_poll_state_recognises_only_the_chart_poll(body):
    _shown, status = poll_state(body if isinstance(body, bytes) else body.encode())
    assert status == "not a poll"


def test_poll_state_reads_the_shown_version_and_status():
    body = json.dumps(poll_payload({"generation": "7"}, None)).encode()
    assert poll_state(body) == ({"generation": "7"}, None)


# -- the same shortcut on the ASGI worker's event loop (asgi_worker.py) ----------------------------


def _asgi_post(app, body: bytes, scheme: str = "http") -> tuple[int, dict[str, str], bytes]:
    """One POST to the callback route through the ASGI ``app``, in process; (status, headers, body)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": scheme,
        "path": "/_dash-update-component",
        "raw_path": b"/_dash-update-component",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"localhost"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 40000),
        "server": ("localhost", 80),
    }
    sent: list[dict] = []

    async def run() -> None:
        delivered = False

        async def receive() -> dict:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.sleep(60)  # the client stays connected
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)

        await app(scope, receive, send)

    asyncio.run(run())
    start = next(message for message in sent if message["type"] == "http.response.start")
    headers = {name.decode().lower(): value.decode() for name, value in start["headers"]}
    payload = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return start["status"], headers, payload


def _wait_for(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_the_asgi_worker_answers_an_unchanged_poll_on_its_loop_with_the_same_headers(served, scheme):
    shortcut, client, shown = served
    app = asgi_app(client.application, threads=2)
    body = json.dumps(poll_payload(shown)).encode()
    answered_before = shortcut.answered

    status, headers, payload = _asgi_post(app, body, scheme)

    assert (status, payload) == (204, b"")
    assert shortcut.answered == answered_before + 1
    wsgi = client.post("/_dash-update-component", data=body, content_type="application/json", base_url=f"{scheme}://x")
    assert headers == _policy_headers(wsgi)


def test_the_asgi_worker_passes_a_new_generation_to_the_app_with_the_body_intact(served, bucket, gcs_settings):
    shortcut, client, shown = served
    app = asgi_app(client.application, threads=2)
    new_generation = _publish(bucket, SAMPLE_CSV + b"4,7,8\n")
    time.sleep(gcs_settings.version_cache_seconds + 0.05)
    shortcut.live_data.check_version()  # this process has seen it

    status, _headers, payload = _asgi_post(app, json.dumps(poll_payload(shown)).encode())

    assert status == 200
    assert json.loads(payload)["response"]["shown-version"]["data"]["generation"] == new_generation


def test_a_due_check_is_renewed_in_the_background_while_polls_keep_the_previous_answer(
    served, bucket, gcs_settings, fake_gcs
):
    shortcut, client, shown = served
    live_data = shortcut.live_data
    app = asgi_app(client.application, threads=2)
    time.sleep(gcs_settings.version_cache_seconds + 0.05)
    assert live_data.recent_check() is None  # due
    checked_before = fake_gcs.metadata_gets(bucket.name)
    answered_before = shortcut.answered

    status, _headers, _payload = _asgi_post(app, json.dumps(poll_payload(shown)).encode())

    assert status == 204 and shortcut.answered == answered_before + 1  # not sent to the app to wait
    assert _wait_for(lambda: live_data.recent_check() is not None and live_data._refresh_started is None)
    assert fake_gcs.metadata_gets(bucket.name) == checked_before + 1  # storage asked once, by the renewal
