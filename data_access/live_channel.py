"""The live channel: what is live now, as one small JSON document, pushed to whoever listens.

A :class:`LiveFeed` per process builds it once per version check; changes reach every process through one
:class:`Channel` per deployment (Redis pub/sub when the cache is Redis, in-process otherwise).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from data_access.live_data import DataUnavailable, LiveData, VersionCheck, check_from_entry, entry_from_check
from data_access.versions import version_label
from settings import MAX_DESCRIPTION_CHARS

log = logging.getLogger(__name__)

#: The GCS notification events that change what is live.
CHANGE_EVENTS = ("OBJECT_FINALIZE", "OBJECT_DELETE")
#: Redis pub/sub channel name prefix (the cache's key prefix, so apps sharing a Redis stay apart).
CHANNEL_PREFIX = "live-dashboard:live:"
#: After the Redis listener loses its connection it tries again after this long.
REDIS_RETRY_SECONDS = 1.0

Listener = Callable[["LiveDocument"], None]


@dataclass(frozen=True)
class LiveDocument:
    """The live version as the browser receives it: JSON bytes, their ETag, and what changes mean."""

    body: dict[str, Any]
    data: bytes
    etag: str
    #: What a browser must act on (generation, status, label, error): equal keys = nothing to push.
    key: str
    checked_at: float

    @property
    def generation(self) -> str | None:
        """The live generation (``None`` when there is none)."""
        return self.body.get("generation")


def build_document(
    check: VersionCheck,
    sign: Callable[[str], str],
    take_up_error: DataUnavailable | None,
    removed_at: str | None,
    dataset: str | None = None,
) -> LiveDocument:
    """The live document of ``check`` (of ``dataset`` on a deployment of many) — never a bucket or object name."""
    version = check.version.to_dict() if check.version else {}
    metadata = version.get("metadata") or {}
    body: dict[str, Any] = {
        "generation": version.get("generation"),
        "token": sign(version["generation"]) if version else None,
        "label": version_label(check.version, with_file=False) if check.version else "",
        "status": "live",
        "error": None,
        "checked": datetime.fromtimestamp(check.checked_at, UTC).isoformat(timespec="milliseconds"),
        "updated": version.get("updated"),
        "size": version.get("size"),
        "uploaded_by": metadata.get("uploaded_by", ""),
        "version": metadata.get("version", ""),
        "description": metadata.get("description", "")[:MAX_DESCRIPTION_CHARS],
        "removed_at": None,
    }
    if dataset is not None:
        body["dataset"] = dataset
    if not check.ok:
        # Read-side storage errors name no bucket or object (the location stays in the logs).
        body.update(
            generation=None,
            token=None,
            status="unreadable" if check.permanent else "unreachable",
            error=check.error,
        )
    elif not version:
        body.update(status="removed" if removed_at else "no data", removed_at=removed_at)
    elif take_up_error is not None:
        body.update(status="unreadable" if take_up_error.permanent else "stale", error=str(take_up_error))
    key_fields = {name: body[name] for name in ("generation", "status", "error", "label", "removed_at")}
    key = json.dumps(key_fields, sort_keys=True)
    data = json.dumps(body, separators=(",", ":")).encode()
    etag = '"' + hashlib.blake2b(data, digest_size=12).hexdigest() + '"'
    return LiveDocument(body=body, data=data, etag=etag, key=key, checked_at=check.checked_at)


class Channel:
    """In-process: ``publish`` reaches this process' feed at once (one process, or ``make run``)."""

    def __init__(self) -> None:
        self._receive: Callable[[dict[str, Any]], None] = lambda entry: None

    def subscribe(self, receive: Callable[[dict[str, Any]], None]) -> None:
        """Hand every entry published in the deployment to ``receive`` (each feed has its own channel)."""
        self._receive = receive

    def publish(self, entry: dict[str, Any]) -> None:
        """Send a version-check entry to every process of the deployment."""
        self._deliver(entry)

    def _deliver(self, entry: dict[str, Any]) -> None:
        try:
            self._receive(entry)
        except Exception:  # a bug there must not stop the Redis listener
            log.exception("delivering a live change failed")

    def close(self) -> None:
        """Stop listening (tests; a process ends without it)."""


class RedisChannel(Channel):
    """Redis pub/sub: a publish in any process reaches every process; one listener thread, reconnecting."""

    def __init__(self, redis_url: str, name: str) -> None:
        super().__init__()
        import redis

        self._name = name
        self._publisher = redis.Redis.from_url(redis_url, socket_timeout=1.0, socket_connect_timeout=1.0)
        # No read timeout: the listener waits for messages as long as the connection lives.
        self._listener = redis.Redis.from_url(redis_url, socket_connect_timeout=1.0, health_check_interval=30)
        self._closed = threading.Event()
        self._subscribed = threading.Event()
        threading.Thread(target=self._listen, name="live-channel", daemon=True).start()
        self._subscribed.wait(2.0)  # a publish right after start-up must reach this process too

    def publish(self, entry: dict[str, Any]) -> None:
        try:
            self._publisher.publish(self._name, json.dumps(entry))
        except Exception as error:  # Redis down: this process still learns; others by their own checks
            log.warning("publishing a live change to Redis failed: %s", error)
            self._deliver(entry)

    def _listen(self) -> None:
        while not self._closed.is_set():
            try:
                pubsub = self._listener.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self._name)
                self._subscribed.set()
                while not self._closed.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        self._deliver(json.loads(message["data"]))
                pubsub.close()
            except Exception as error:  # connection lost: periodic checks carry on meanwhile
                log.warning("live channel lost Redis (%s); retrying", error)
                self._closed.wait(REDIS_RETRY_SECONDS)

    def close(self) -> None:
        self._closed.set()


def channel_for(redis_url: str | None, location: str) -> Channel:
    """Redis pub/sub when the cache is Redis (``redis_url``), else in-process."""
    return RedisChannel(redis_url, CHANNEL_PREFIX + location) if redis_url else Channel()


class LiveFeed:
    """This process' live document, renewed every period in one thread and pushed to its listeners."""

    def __init__(
        self, live_data: LiveData, sign: Callable[[str], str], channel: Channel, dataset: str | None = None
    ) -> None:
        self.live_data = live_data
        self.dataset = dataset
        self._sign = functools.lru_cache(maxsize=1)(sign)  # only the live generation is ever signed again
        self.channel = channel
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._document: LiveDocument | None = None
        self._removed_at: str | None = None
        self._take_up_errors: dict[str, DataUnavailable | None] = {}
        self._started = False
        self._start_lock = threading.Lock()
        self._stop = threading.Event()
        self.checks = 0  # periodic checks made (tests and benchmarks read it)
        channel.subscribe(self._on_entry)
        live_data.on_written(self.refresh_now)

    def document(self) -> LiveDocument:
        """The live document now: the periodic check's when running, else from a (cached) check."""
        if self._started and self._document is not None:
            return self._document
        return self._adopt(self.live_data.check_version(), announce=False)

    def peek(self) -> LiveDocument | None:
        """The last document without asking anyone (``None`` before the first check)."""
        return self._document if self._started else None

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` (from a background thread) with every changed document; returns the unsubscribe."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def start(self) -> None:
        """Start the periodic check (once per process, every ``VERSION_CACHE_SECONDS``); the first document is made."""
        with self._start_lock:
            if self._started:
                return
            self._adopt(self.live_data.renew_check(), announce=False)
            self._started = True
            threading.Thread(target=self._watch, name="live-version-check", daemon=True).start()

    def stop(self) -> None:
        """Stop the periodic check and the channel (tests)."""
        self._stop.set()
        self.channel.close()

    def refresh_now(self) -> None:
        """Ask storage now (the cached version is forgotten) and tell the whole deployment."""
        self.live_data.invalidate_version()
        check = self.live_data.renew_check()
        self.channel.publish(entry_from_check(check))

    def _watch(self) -> None:
        period = max(0.1, self.live_data.version_cache_seconds)
        while not self._stop.wait(period):
            try:
                check = self.live_data.renew_check()
                self.checks += 1
                before = self._document
                after = self._adopt(check, announce=False)
                if before is None or after.key != before.key:
                    self.channel.publish(entry_from_check(check))
            except Exception:  # a bug here must not stop the checks for good
                log.exception("the periodic version check failed")

    def _on_entry(self, entry: dict[str, Any]) -> None:
        self._adopt(check_from_entry(entry), announce=True)

    def _adopt(self, check: VersionCheck, announce: bool) -> LiveDocument:
        """Build the document of ``check`` (taking a new generation up first) and tell listeners if it changed."""
        self.live_data.adopt_check(check)
        current = self._document
        if current is not None and check.checked_at < current.checked_at and announce:
            return current  # an older message than what this process knows already
        document = build_document(check, self._sign, self._take_up_error(check), self._removed(check), self.dataset)
        with self._lock:
            changed = current is None or document.key != current.key
            self._document = document
            listeners = list(self._listeners) if changed else []
        for listener in listeners:
            try:
                listener(document)
            except Exception:
                log.exception("a live listener failed")
        return document

    def _take_up_error(self, check: VersionCheck) -> DataUnavailable | None:
        """Load a new generation's frame once per process before it is announced; why it cannot be, else None."""
        if not check.ok or check.version is None:
            return None
        generation = check.version.generation
        if generation in self._take_up_errors:
            return self._take_up_errors[generation]
        try:
            self.live_data.frame(generation)
            error = None
        except DataUnavailable as problem:
            error = problem
        if error is None or error.permanent:  # a temporary failure is tried again next check
            self._take_up_errors = {generation: error}
        return error

    def _removed(self, check: VersionCheck) -> str | None:
        """When the data went away after this process saw a version (``None`` while there is one)."""
        if not check.ok:
            return self._removed_at
        if check.version is not None:
            self._removed_at = None
        elif self._removed_at is None and self._document is not None and self._document.generation:
            self._removed_at = datetime.now(UTC).isoformat(timespec="seconds")
        return self._removed_at


class PubSubListener:
    """A streaming pull of the bucket's notifications: each one's attributes go to ``notified``, then it is acked."""

    def __init__(self, subscription: str, notified: Callable[[dict[str, str]], None]) -> None:
        from google.cloud import pubsub_v1

        self._notified = notified
        self._client = pubsub_v1.SubscriberClient()
        self._future = self._client.subscribe(
            subscription, self._handle, flow_control=pubsub_v1.types.FlowControl(max_messages=10)
        )
        self.received = 0

    def _handle(self, message: Any) -> None:
        self.received += 1
        try:
            self._notified(dict(message.attributes))
        except Exception:
            log.exception("handling a storage notification failed")
            message.nack()
            return
        message.ack()

    def close(self) -> None:
        self._future.cancel()
        with contextlib.suppress(Exception):  # cancelled: the expected way out
            self._future.result(timeout=5)
        self._client.close()
