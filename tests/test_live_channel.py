"""The live channel's transport with real parts: the gunicorn worker's streams, Redis pub/sub between
apps, a publish announced at once, and ``POST /live/notify`` with real signed tokens."""

from __future__ import annotations

import base64
import json
import os
import queue
import signal
import time
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

from data_access.publishing import Publication, Publisher
from testinfra import SAMPLE_CSV, Gunicorn, RedisServer

BLOB = "data/data.csv"
AUDIENCE = "https://dashboard.example.com/live/notify"
PUSHER = "gcs-notify@project.iam.gserviceaccount.com"


def _events(response: requests.Response) -> Any:
    """The ``(id, document)`` of each event of an open stream (comments and ``retry:`` skipped)."""
    event_id = None
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: "):
            yield event_id, json.loads(line[6:])


@pytest.fixture()
def local_server(tmp_path):
    data = tmp_path / "data.csv"
    data.write_bytes(SAMPLE_CSV)
    env = {
        "DATA_SOURCE": "local",
        "LOCAL_DATA_PATH": str(data),
        "SECRET_KEY": "a-test-secret-that-is-long-and-random-0123456789",
        "ADMIN_USERS": "alice:scrypt:131072:8:1$salt$0123abcd",
        "VERSION_CACHE_SECONDS": "0.2",
        "GUNICORN_GRACEFUL_TIMEOUT": "30",
    }
    with Gunicorn(env, workers=1) as server:
        yield server, data


@pytest.mark.integration
def test_the_worker_streams_the_version_and_pushes_a_write(local_server):
    server, data = local_server
    version = requests.get(f"{server.url}/live/version", timeout=10)
    assert version.status_code == 200 and version.headers["Cache-Control"] == "public, max-age=1"
    with requests.get(f"{server.url}/live/events", stream=True, timeout=30) as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        assert stream.headers["Cache-Control"] == "no-store"
        events = _events(stream)
        event_id, first = next(events)
        assert first["generation"] == version.json()["generation"]
        assert f'"{event_id}"' == requests.get(f"{server.url}/live/version", timeout=10).headers["ETag"]

        data.write_bytes(SAMPLE_CSV + b"4,7,8\n")  # the periodic check finds it: no other source
        _, pushed = next(events)
        assert pushed["generation"] != first["generation"] and pushed["status"] == "live"


@pytest.mark.integration
def test_a_stopping_worker_ends_its_streams_at_once(local_server):
    """As when gunicorn recycles a worker: its open streams must not hold it for the graceful timeout."""
    server, _ = local_server
    stream = requests.get(f"{server.url}/live/events", stream=True, timeout=60)
    next(_events(stream))
    stopped_at = time.monotonic()
    os.kill(server.worker_pids()[0], signal.SIGTERM)
    list(stream.iter_lines())  # returns when the server ends the stream
    # The graceful timeout (30 s) would have held the stream this long.
    assert time.monotonic() - stopped_at < 25


def _pushed(feed: Any) -> queue.Queue:
    changes: queue.Queue = queue.Queue()
    feed.subscribe(changes.put)
    return changes


def test_a_publish_reaches_another_instance_through_redis_at_once(bucket, gcs_settings, make_app):
    bucket.blob(BLOB).upload_from_string(SAMPLE_CSV)
    with RedisServer() as redis:
        # A minute between checks: only the channel can bring the publish in time.
        settings = gcs_settings.with_overrides(
            cache_type="RedisCache", cache_redis_url=redis.url, version_cache_seconds=60
        )
        writer, reader = make_app(settings), make_app(settings)
        reader_feed = reader.server.extensions["live_feed"]
        before = reader_feed.document().generation
        changes = _pushed(reader_feed)

        with writer.server.app_context():
            publisher = Publisher(writer.server.extensions["live_data"])
            version = publisher.publish(Publication(SAMPLE_CSV + b"9,9,9\n", 4, "new.csv"), "alice", before)

        document = changes.get(timeout=10)
        assert document.generation == version.generation != before
        assert document.body["uploaded_by"] == "alice" and document.body["label"].startswith("v1 · ")
        assert reader_feed.document().generation == version.generation  # its /live/version agrees


# -- POST /live/notify ----------------------------------------------------------------------------


class _KeyServer:
    """A google-auth transport answering Google's certificate URL with one local key (no network)."""

    def __init__(self, key_id: str, public_pem: str) -> None:
        self.body = json.dumps({key_id: public_pem}).encode()

    def __call__(self, url: str, method: str = "GET", **_: Any) -> Any:
        assert url.startswith("https://www.googleapis.com/oauth2/"), url
        return type("Response", (), {"status": 200, "data": self.body, "headers": {}})()


class _Signer:
    def __init__(self, key_id: str = "local-key") -> None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = key_id
        private = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self._signer = crypt.RSASigner.from_string(private, key_id)
        self.public_pem = (
            key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": "https://accounts.google.com",
            "aud": AUDIENCE,
            "email": PUSHER,
            "email_verified": True,
            "sub": "1",
            "iat": now,
            "exp": now + 600,
            **claims,
        }
        return jwt.encode(self._signer, payload).decode()


def _notification(bucket: str, blob: str = BLOB, event: str = "OBJECT_FINALIZE") -> dict:
    attributes = {"bucketId": bucket, "objectId": blob, "eventType": event, "payloadFormat": "JSON_API_V1"}
    data = base64.b64encode(json.dumps({"name": blob, "bucket": bucket}).encode()).decode()
    return {"message": {"attributes": attributes, "data": data, "messageId": "1"}, "subscription": "s"}


@pytest.fixture()
def notified(bucket, gcs_settings, make_app):
    """An app taking push deliveries, a key Google would sign with, and a queue of what it pushed."""
    bucket.blob(BLOB).upload_from_string(SAMPLE_CSV)
    settings = gcs_settings.with_overrides(
        version_cache_seconds=60, pubsub_push_audience=AUDIENCE, pubsub_push_service_account=PUSHER
    )
    app = make_app(settings)
    signer = _Signer()
    app.server.extensions["pubsub_transport"] = _KeyServer(signer.key_id, signer.public_pem)
    feed = app.server.extensions["live_feed"]
    first = feed.document().generation
    return app.server.test_client(), signer, _pushed(feed), first


def _notify(client: Any, body: Any, token: str | None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.post("/live/notify", json=body, headers=headers)


def test_a_verified_notification_refreshes_the_version_at_once(notified, bucket):
    client, signer, changes, first = notified
    blob = bucket.blob(BLOB)
    blob.upload_from_string(SAMPLE_CSV + b"5,5,5\n")
    assert _notify(client, _notification(bucket.name), signer.token()).status_code == 204
    assert changes.get(timeout=5).generation == str(blob.generation) != first


@pytest.mark.parametrize(
    ("token", "status"),
    [
        (None, 401),
        ("not-a-jwt", 401),
        ("wrong audience", 401),
        ("expired", 401),
        ("another account", 403),
        ("unverified e-mail", 403),
        ("another key", 401),
    ],
)
def test_unverified_notifications_are_refused(notified, bucket, token, status):
    client, signer, changes, _first = notified
    tokens = {
        "wrong audience": lambda: signer.token(aud="https://elsewhere.example.com/"),
        "expired": lambda: signer.token(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
        "another account": lambda: signer.token(email="someone@example.com"),
        "unverified e-mail": lambda: signer.token(email_verified=False),
        "another key": lambda: _Signer(signer.key_id).token(),  # same key id, forged signature
    }
    bucket.blob(BLOB).upload_from_string(SAMPLE_CSV + b"6,6,6\n")
    value = tokens[token]() if token in tokens else token
    assert _notify(client, _notification(bucket.name), value).status_code == status
    assert changes.empty()


def test_notifications_about_other_objects_or_malformed_bodies_change_nothing(notified, bucket):
    client, signer, changes, _first = notified
    assert _notify(client, _notification(bucket.name, blob="other/file.csv"), signer.token()).status_code == 204
    assert _notify(client, _notification("another-bucket"), signer.token()).status_code == 204
    assert _notify(client, {"message": "nope"}, signer.token()).status_code == 400
    assert _notify(client, {"message": {"attributes": {"a": 1}}}, signer.token()).status_code == 400
    assert _notify(client, {"message": {"data": "***"}}, signer.token()).status_code == 400
    assert changes.empty()


def test_notify_is_not_served_unless_configured(gcs_settings, make_app):
    client = make_app(gcs_settings).server.test_client()
    assert client.post("/live/notify", json=_notification("b")).status_code == 404


def test_a_notification_about_a_dataset_under_the_prefix_refreshes_that_dataset_at_once(bucket, gcs_settings, make_app):
    prefix = "dashboards/"
    sales = bucket.blob(f"{prefix}sales.csv")
    sales.upload_from_string(SAMPLE_CSV)
    settings = gcs_settings.with_overrides(
        gcs_prefix=prefix,
        version_cache_seconds=60,
        pubsub_push_audience=AUDIENCE,
        pubsub_push_service_account=PUSHER,
    )
    app = make_app(settings)
    signer = _Signer()
    app.server.extensions["pubsub_transport"] = _KeyServer(signer.key_id, signer.public_pem)
    client = app.server.test_client()
    first = client.get("/d/sales/live/version").get_json()["generation"]

    sales.upload_from_string(SAMPLE_CSV + b"5,5,5\n")
    bucket.blob(f"{prefix}costs.csv").upload_from_string(SAMPLE_CSV)
    assert client.get("/d/sales/live/version").get_json()["generation"] == first  # a 60 s period: not yet
    for name in ("sales", "costs"):
        notification = _notification(bucket.name, blob=f"{prefix}{name}.csv")
        assert _notify(client, notification, signer.token()).status_code == 204
    assert client.get("/d/sales/live/version").get_json()["generation"] == str(sales.generation)
    assert [each["name"] for each in client.get("/live/catalog").get_json()["datasets"]] == ["costs", "sales"]
