"""``GET /live/version`` (ETag, 304), ``GET /live/events`` (Server-Sent Events), ``POST /live/notify`` (Pub/Sub push).

Version and events are answered on the worker's event loop (:class:`LiveRoutes`) and by Flask (``make run``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import queue
import random
import re
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from flask import Blueprint, Flask, Response, abort, current_app, request, stream_with_context
from google.auth import exceptions as google_auth_exceptions
from google.auth.transport import requests as google_requests
from google.oauth2 import id_token
from werkzeug.http import parse_etags

from app_context import current_dataset_name, current_settings
from auth import sign
from data_access import DatasetRegistry, LiveData, StorageError
from data_access.catalog import dataset_name
from data_access.live_channel import (
    CHANGE_EVENTS,
    LiveDocument,
    LiveFeed,
    PubSubListener,
    channel_for,
)
from routes.downloads import GENERATION_TOKEN_PURPOSE, refuse
from settings import Settings

log = logging.getLogger("live_dashboard")

VERSION_PATH = "/live/version"
EVENTS_PATH = "/live/events"
NOTIFY_PATH = "/live/notify"
#: ``server.extensions`` keys: the feed, the datasets' feeds, what a bucket notification does.
LIVE_FEED_EXTENSION = "live_feed"
DATASET_FEEDS_EXTENSION = "dataset_feeds"
NOTIFIED_EXTENSION = "live_notified"
#: Every route answers again under ``/d/<name>``, for that dataset.
DATASET_PREFIX = "/d/<dataset>"
NO_SUCH_DATASET = "No such dataset."
DATASET_LIVE_PATH = re.compile(r"/d/([^/]+)(/live/(?:version|events))")
HEARTBEAT_SECONDS = 15.0
HEARTBEAT = b": heartbeat\n\n"
#: What EventSource waits before reconnecting after the stream ends.
RETRY_MS = 2_000
#: A stream ends after about this long (±10 %) and the browser reconnects: connections do not
#: outlive a deploy or a worker's recycling, and stay under Cloud Run's request limit.
STREAM_SECONDS = 15 * 60
#: Events waiting for a slow stream; one more and it is closed (the browser reconnects and catches up).
MAX_QUEUED_EVENTS = 16
Headers = list[tuple[bytes, bytes]]
NOSNIFF = (b"x-content-type-options", b"nosniff")
EVENT_HEADERS: Headers = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),  # nginx and alike: pass each event on at once
    NOSNIFF,
]

live = Blueprint("live", __name__)


def max_age(version_cache_seconds: float) -> int:
    """``Cache-Control: max-age`` of ``/live/version``: the check period rounded up, at least 1 s."""
    return max(1, math.ceil(version_cache_seconds))


def cached_json(data: bytes, etag: str, if_none_match: str | None, cache_seconds: int) -> tuple[int, Headers, bytes]:
    """Status, headers and body of a JSON document cached ``cache_seconds``; 304 when the browser holds ``etag``."""
    headers = [(b"etag", etag.encode()), (b"cache-control", b"public, max-age=%d" % cache_seconds), NOSNIFF]
    if etag_matches(if_none_match, etag):
        return 304, headers, b""
    return 200, [(b"content-type", b"application/json"), *headers], data


def flask_answer(status: int, headers: Headers, body: Any) -> Response:
    """An answer made for the event loop (``body``: bytes or a stream), as a Flask response."""
    return Response(body, status=status, headers=[(name.decode(), value.decode()) for name, value in headers])


async def send_answer(send: Any, status: int, headers: Headers, body: bytes) -> None:
    """A whole answer sent from the event loop."""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` value names ``etag`` (quoted; weak or strong) or ``*``."""
    return bool(if_none_match) and parse_etags(if_none_match).contains_weak(etag.strip('"'))


def if_none_match(scope: dict[str, Any]) -> str | None:
    """The ASGI request's ``If-None-Match`` values, joined."""
    return b", ".join(value for name, value in scope["headers"] if name == b"if-none-match").decode("latin-1") or None


def sse_event(document: LiveDocument) -> bytes:
    """One Server-Sent Event: ``id`` is the document's ETag, ``data`` the document."""
    return b"id: " + document.etag.strip('"').encode() + b"\ndata: " + document.data + b"\n\n"


def stream_opening(document: LiveDocument) -> bytes:
    """The start of every stream: the reconnect delay and the document as it is now."""
    return f"retry: {RETRY_MS}\n".encode() + sse_event(document)


def stream_seconds() -> float:
    """How long one stream lasts: spread so that reconnections do not come all at once."""
    return STREAM_SECONDS * random.uniform(0.9, 1.1)


# -- Flask routes (make run, plain WSGI servers, tests) ------------------------------------------


class DatasetFeeds:
    """One :class:`LiveFeed` per dataset this process was asked about, made on first ask."""

    def __init__(self, datasets: DatasetRegistry, make_feed: Callable[[LiveData, str], LiveFeed]) -> None:
        self.datasets = datasets
        self._make_feed = make_feed
        self._feeds: dict[str, LiveFeed] = {}
        self._lock = threading.Lock()

    def notified(self, object_name: str, prefix: str) -> None:
        """An object changed: when it is a dataset's, list again and refresh that dataset's feed."""
        name = dataset_name(object_name[len(prefix) :]) if object_name.startswith(prefix) else None
        if name is None:
            return
        self.datasets.catalog.forget()
        feed = self.known(name)
        if feed is not None:
            feed.refresh_now()

    def made(self) -> list[LiveFeed]:
        """Every feed made so far."""
        return list(self._feeds.values())

    def known(self, name: str) -> LiveFeed | None:
        """The feed of ``name`` if it was made already (never asks storage)."""
        return self._feeds.get(name)

    def feed(self, name: str) -> LiveFeed | None:
        """The feed of dataset ``name`` (made now when the catalog lists it), else ``None``."""
        feed = self._feeds.get(name)
        if feed is not None:
            return feed
        try:
            live_data = self.datasets.live_data(name)
        except StorageError:
            return None
        if live_data is None:
            return None
        with self._lock:
            if name not in self._feeds:
                self._feeds[name] = self._make_feed(live_data, name)
            return self._feeds[name]


def register_live_routes(
    server: Flask, live_data: LiveData, settings: Settings, datasets: DatasetRegistry | None = None
) -> LiveFeed:
    """The live routes on ``server`` (under ``/d/<name>`` too with ``datasets``); returns this process' feed."""
    assert server.secret_key, "the live routes sign generations: SECRET_KEY must be set first"

    def sign_generation(generation: str) -> str:
        with server.app_context():
            return sign(generation, GENERATION_TOKEN_PURPOSE)

    redis_url = settings.cache_redis_url if settings.cache_type == "RedisCache" else None

    def make_feed(data: LiveData, dataset: str | None = None) -> LiveFeed:
        return LiveFeed(data, sign_generation, channel_for(redis_url, data.source.location), dataset)

    feed = make_feed(live_data)
    server.extensions[LIVE_FEED_EXTENSION] = feed
    server.register_blueprint(live)
    dataset_feeds = DatasetFeeds(datasets, make_feed) if datasets is not None else None
    if dataset_feeds is not None:
        server.extensions[DATASET_FEEDS_EXTENSION] = dataset_feeds
        server.register_blueprint(live, url_prefix=DATASET_PREFIX, name="dataset_live")

    def notified(attributes: dict[str, str]) -> None:
        """A bucket notification (pushed or pulled): refresh the feed of the object it names."""
        if attributes.get("eventType") not in CHANGE_EVENTS or attributes.get("bucketId") != settings.gcs_bucket:
            return
        object_name = attributes.get("objectId", "")
        if object_name == settings.gcs_blob:
            feed.refresh_now()
        elif dataset_feeds is not None:
            dataset_feeds.notified(object_name, settings.gcs_prefix)

    server.extensions[NOTIFIED_EXTENSION] = notified
    if settings.pubsub_subscription:
        feed.start()
        server.extensions["live_pubsub"] = PubSubListener(settings.pubsub_subscription, notified)
    return feed


def _feed() -> LiveFeed:
    name = current_dataset_name()
    if name is None:
        return current_app.extensions[LIVE_FEED_EXTENSION]
    feed = current_app.extensions[DATASET_FEEDS_EXTENSION].feed(name)
    if feed is None:
        abort(refuse(404, NO_SUCH_DATASET))
    return feed


@live.get(VERSION_PATH)
def live_version() -> Response:
    """The live document, or 304 when the browser holds it already."""
    document = _feed().document()
    cache_seconds = max_age(current_settings().version_cache_seconds)
    return flask_answer(*cached_json(document.data, document.etag, request.headers.get("If-None-Match"), cache_seconds))


@live.get(EVENTS_PATH)
def live_events() -> Response:
    """The live document as Server-Sent Events, one thread per stream (the ASGI worker needs none)."""
    feed = _feed()
    feed.start()
    changes: queue.Queue[LiveDocument] = queue.Queue(MAX_QUEUED_EVENTS)
    unsubscribe = feed.subscribe(lambda document: _offer(changes, document))
    ends_at = time.monotonic() + stream_seconds()

    def events() -> Iterator[bytes]:
        try:
            yield stream_opening(feed.document())
            while time.monotonic() < ends_at:
                try:
                    yield sse_event(changes.get(timeout=HEARTBEAT_SECONDS))
                except queue.Empty:
                    yield HEARTBEAT
        finally:
            unsubscribe()

    return flask_answer(200, EVENT_HEADERS, stream_with_context(events()))


def _offer(changes: queue.Queue, document: LiveDocument) -> None:
    with contextlib.suppress(queue.Full):  # a stalled stream: its heartbeat write fails soon and ends it
        changes.put_nowait(document)


@live.post(NOTIFY_PATH)
def live_notify() -> Response:
    """A Pub/Sub push delivery of a bucket notification (see ``notified`` in :func:`register_live_routes`)."""
    settings: Settings = current_settings()
    if not settings.pubsub_push_audience:
        return refuse(404, "Not found")
    refusal = _refuse_unverified(settings, current_app.extensions.get("pubsub_transport"))
    if refusal is not None:
        return refusal
    attributes = _notification_attributes(request.get_json(silent=True))
    if attributes is None:
        return refuse(400, "Not a Pub/Sub push message")
    current_app.extensions[NOTIFIED_EXTENSION](attributes)
    return Response(status=204)  # acknowledged, whatever object it named


def _refuse_unverified(settings: Settings, transport: Any) -> Response | None:
    """401 without a valid Google-signed token for the audience; 403 when another account signed it."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return refuse(401, "Bearer token required")
    try:
        claims = id_token.verify_oauth2_token(
            token, transport or google_requests.Request(), audience=settings.pubsub_push_audience
        )
    except (ValueError, google_auth_exceptions.GoogleAuthError) as error:
        log.warning("refused a /live/notify request: %s", error)
        return refuse(401, "Invalid token")
    if claims.get("email") != settings.pubsub_push_service_account or not claims.get("email_verified"):
        log.warning("refused a /live/notify request signed for another account")
        return refuse(403, "Wrong service account")
    return None


def _notification_attributes(payload: Any) -> dict[str, str] | None:
    """The attributes of a Pub/Sub push body (``{"message": {"attributes": …}}``), else ``None``."""
    if not isinstance(payload, dict) or not isinstance(payload.get("message"), dict):
        return None
    message = payload["message"]
    attributes = message.get("attributes") or {}
    if not isinstance(attributes, dict) or not all(isinstance(value, str) for value in attributes.values()):
        return None
    data = message.get("data")
    if data is not None:
        try:
            base64.b64decode(data, validate=True)
        except (TypeError, ValueError):  # binascii.Error is a ValueError
            return None
    return attributes


# -- on the event loop (asgi_worker.py) -----------------------------------------------------------

ASGIApp = Callable[..., Any]


class LiveRoutes:
    """ASGI: ``/live/version`` and ``/live/events`` answered on the event loop; the rest goes to ``app``."""

    def __init__(self, app: ASGIApp, feed: LiveFeed, dataset_feeds: DatasetFeeds | None = None) -> None:
        self.app = app  # what answers everything else
        self.feed = feed
        self.dataset_feeds = dataset_feeds
        self._cache_seconds = max_age(feed.live_data.version_cache_seconds)
        self._fanouts: dict[LiveFeed, Fanout] = {}
        self._first_check = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-first-check")
        self.answered = 0  # /live/version answers given here (tests and benchmarks read it)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            feed, path = await self._feed_for(scope["path"])
            if feed is not None and path == VERSION_PATH:
                await self._version(feed, scope, send)
                return
            if feed is not None and path == EVENTS_PATH and scope["method"] == "GET":
                await self._events(feed, receive, send)
                return
        await self.app(scope, receive, send)

    async def _feed_for(self, path: str) -> tuple[LiveFeed | None, str]:
        """The feed a live path is about and the path without ``/d/<name>`` (no feed: Flask answers, 404)."""
        matched = DATASET_LIVE_PATH.fullmatch(path) if self.dataset_feeds is not None else None
        if matched is None:
            return self.feed, path
        name, path = matched.groups()
        feed = self.dataset_feeds.known(name)  # type: ignore[union-attr]
        if feed is None:  # first ask in this process: the catalog may have to be listed, in a thread
            loop = asyncio.get_running_loop()
            feed = await loop.run_in_executor(self._first_check, self.dataset_feeds.feed, name)  # type: ignore[union-attr]
        return feed, path

    def end_streams(self) -> None:
        """End every open stream now (the worker is stopping); browsers reconnect elsewhere."""
        for fanout in self._fanouts.values():
            fanout.deliver(None)

    async def _document(self, feed: LiveFeed) -> LiveDocument:
        document = feed.peek()
        if document is None:  # the process' first check: made once, in a thread
            await asyncio.get_running_loop().run_in_executor(self._first_check, feed.start)
            document = feed.document()
        return document

    async def _version(self, feed: LiveFeed, scope: dict[str, Any], send: Any) -> None:
        document = await self._document(feed)
        status, headers, body = cached_json(document.data, document.etag, if_none_match(scope), self._cache_seconds)
        self.answered += 1
        headers.append((b"content-length", b"%d" % len(body)))
        await send_answer(send, status, headers, b"" if scope["method"] == "HEAD" else body)

    async def _events(self, feed: LiveFeed, receive: Any, send: Any) -> None:
        document = await self._document(feed)
        if feed not in self._fanouts:
            self._fanouts[feed] = Fanout(feed, asyncio.get_running_loop())
        fanout, stream = self._fanouts[feed], asyncio.Queue(MAX_QUEUED_EVENTS)
        fanout.streams.add(stream)
        gone = asyncio.ensure_future(_disconnected(receive, stream))
        ends = asyncio.get_running_loop().call_later(stream_seconds(), _put, stream, None)
        try:
            await send({"type": "http.response.start", "status": 200, "headers": EVENT_HEADERS})
            await send({"type": "http.response.body", "body": stream_opening(document), "more_body": True})
            while (chunk := await stream.get()) is not None:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the connection broke while sending
            pass
        finally:
            gone.cancel()
            ends.cancel()
            fanout.streams.discard(stream)


async def _disconnected(receive: Any, stream: asyncio.Queue) -> None:
    """Wait for the browser to leave, then end its stream."""
    while (await receive())["type"] != "http.disconnect":
        pass
    _put(stream, None)


def _put(stream: asyncio.Queue, chunk: bytes | None) -> None:
    try:
        stream.put_nowait(chunk)
    except asyncio.QueueFull:  # fallen behind: end it (the browser reconnects and catches up)
        while not stream.empty():
            stream.get_nowait()
        stream.put_nowait(None)


class Fanout:
    """One per feed and process: a changed document is encoded once and queued to every open stream."""

    def __init__(self, feed: LiveFeed, loop: asyncio.AbstractEventLoop) -> None:
        self.streams: set[asyncio.Queue] = set()
        feed.subscribe(lambda document: loop.call_soon_threadsafe(self.deliver, sse_event(document)))
        self._heartbeat = loop.create_task(self._beat())

    def deliver(self, chunk: bytes | None) -> None:
        """Queue ``chunk`` to every open stream (``None`` ends them)."""
        for stream in list(self.streams):
            _put(stream, chunk)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_SECONDS)
            self.deliver(HEARTBEAT)
