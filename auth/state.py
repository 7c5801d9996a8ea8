"""Sign-in state every worker of a deployment shares: server-side sessions and login counters.

A signed cookie alone cannot be revoked, so the cookie carries only a random session
id; the session itself (who, since when, last seen) is a record here. Signing out
deletes the record, which ends that session everywhere, copied cookies included.

Where the records live, by ``CACHE_TYPE``:

* ``RedisCache``: in that Redis (every instance shares it);
* otherwise: in a SQLite file in ``CACHE_DIR``, which every worker on the machine shares
  (a per-process memory store would let a revoked session live on in another worker,
  and give each worker its own login counter). Several instances need Redis.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from limits.storage import Storage

SQLITE_FILE_NAME = "live-dashboard-auth.sqlite3"
SQLITE_SCHEME = "live-dashboard-sqlite"
# A session's "last seen" is written at most this often (not on every admin request).
TOUCH_EVERY_SECONDS = 30


class SessionStoreDown(RuntimeError):
    """The session store cannot be reached; nobody can sign in until it is back."""


@dataclass(frozen=True)
class SessionRecord:
    user: str
    created: float
    seen: float


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session may live: ``lifetime`` from sign-in at most, ``idle`` without use at most."""

    lifetime_seconds: float
    idle_seconds: float

    def expires_at(self, record: SessionRecord) -> float:
        return min(record.created + self.lifetime_seconds, record.seen + self.idle_seconds)


class _Backend(Protocol):
    def put(self, session_id: str, record: SessionRecord, expires_at: float) -> None: ...
    def get(self, session_id: str) -> SessionRecord | None: ...
    def delete(self, session_id: str) -> None: ...


class SessionStore:
    """Create, look up (and keep alive) and delete sessions under a :class:`SessionPolicy`."""

    def __init__(self, backend: _Backend, policy: SessionPolicy, clock: Callable[[], float] = time.time) -> None:
        self._backend = backend
        self.policy = policy
        self.clock = clock

    def create(self, user: str) -> str:
        """A new session id for ``user`` (a fresh one at every sign-in)."""
        now = self.clock()
        session_id = secrets.token_urlsafe(32)
        record = SessionRecord(user, now, now)
        self._backend.put(session_id, record, self.policy.expires_at(record))
        return session_id

    def user(self, session_id: object) -> str | None:
        """The user of a live session; ``None`` when it ended, expired or never existed.

        A store that cannot be reached counts as "no session": admin pages fail closed.
        """
        if not isinstance(session_id, str) or not 20 <= len(session_id) <= 100:
            return None
        try:
            record = self._backend.get(session_id)
            if record is None:
                return None
            now = self.clock()
            if now >= self.policy.expires_at(record):
                self._backend.delete(session_id)
                return None
            if now - record.seen >= TOUCH_EVERY_SECONDS:
                touched = SessionRecord(record.user, record.created, now)
                self._backend.put(session_id, touched, self.policy.expires_at(touched))
        except SessionStoreDown:
            return None
        return record.user

    def end(self, session_id: object) -> None:
        """End a session everywhere (sign-out)."""
        if isinstance(session_id, str):
            self._backend.delete(session_id)


class RedisSessions:
    """Session records in Redis, expiring by themselves."""

    def __init__(self, redis: Any, key_prefix: str, clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._clock = clock

    def put(self, session_id: str, record: SessionRecord, expires_at: float) -> None:
        ttl = max(1, int(expires_at - self._clock()) + 1)
        self._call("set", self._prefix + session_id, json.dumps(record.__dict__), ex=ttl)

    def get(self, session_id: str) -> SessionRecord | None:
        raw = self._call("get", self._prefix + session_id)
        return SessionRecord(**json.loads(raw)) if raw else None

    def delete(self, session_id: str) -> None:
        self._call("delete", self._prefix + session_id)

    def _call(self, operation: str, *args: Any, **kwargs: Any) -> Any:
        import redis

        try:
            return getattr(self._redis, operation)(*args, **kwargs)
        except redis.RedisError as error:
            raise SessionStoreDown(f"session store unreachable: {error}") from error


class SqliteSessions:
    """Session records in a SQLite file all workers on this machine share."""

    def __init__(self, path: Path) -> None:
        self._path = path
        with _sqlite(path) as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS sessions (id TEXT PRIMARY KEY, user TEXT, created REAL, seen REAL,"
                " expires REAL)"
            )

    def put(self, session_id: str, record: SessionRecord, expires_at: float) -> None:
        with _sqlite(self._path) as db:
            db.execute("DELETE FROM sessions WHERE expires < ?", (time.time(),))
            db.execute(
                "INSERT OR REPLACE INTO sessions VALUES (?, ?, ?, ?, ?)",
                (session_id, record.user, record.created, record.seen, expires_at),
            )

    def get(self, session_id: str) -> SessionRecord | None:
        with _sqlite(self._path) as db:
            row = db.execute("SELECT user, created, seen FROM sessions WHERE id = ?", (session_id,)).fetchone()
        return SessionRecord(*row) if row else None

    def delete(self, session_id: str) -> None:
        with _sqlite(self._path) as db:
            db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))


class SqliteCounterStorage(Storage):
    """A flask-limiter (``limits``) storage in the same SQLite file: fixed-window counters for all workers."""

    STORAGE_SCHEME = [SQLITE_SCHEME]  # noqa: RUF012 - read by the limits library's storage registry

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions, **options)
        self._path = Path((uri or "").split("://", 1)[1])
        with _sqlite(self._path) as db:
            db.execute("CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER, expires REAL)")

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        with _sqlite(self._path) as db:
            # One statement: atomic across processes.
            row = db.execute(
                "INSERT INTO counters VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
                " value = CASE WHEN expires <= ? THEN excluded.value ELSE value + excluded.value END,"
                " expires = CASE WHEN expires <= ? THEN excluded.expires ELSE expires END"
                " RETURNING value",
                (key, amount, now + expiry, now, now),
            ).fetchone()
        return int(row[0])

    def get(self, key: str) -> int:
        with _sqlite(self._path) as db:
            row = db.execute("SELECT value FROM counters WHERE key = ? AND expires > ?", (key, time.time())).fetchone()
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        with _sqlite(self._path) as db:
            row = db.execute("SELECT expires FROM counters WHERE key = ?", (key,)).fetchone()
        return float(row[0]) if row else time.time()

    def check(self) -> bool:
        with _sqlite(self._path) as db:
            db.execute("SELECT 1")
        return True

    def reset(self) -> int | None:
        with _sqlite(self._path) as db:
            return db.execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        with _sqlite(self._path) as db:
            db.execute("DELETE FROM counters WHERE key = ?", (key,))


def sqlite_path(cache_dir: Path) -> Path:
    """The shared SQLite file in ``cache_dir`` (created if needed)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    return cache_dir / SQLITE_FILE_NAME


@contextmanager
def _sqlite(path: Path) -> Iterator[sqlite3.Connection]:
    db = sqlite3.connect(path, timeout=5, isolation_level=None)  # autocommit: each statement is atomic
    try:
        db.execute("PRAGMA journal_mode=WAL")
        yield db
    finally:
        db.close()
