"""Sign-in state every worker of a deployment shares: server-side sessions and login counters.

The cookie carries only a session id; the session is a record on the server (Flask-Session), so
signing out ends it everywhere. Records live in Redis (``CACHE_TYPE=RedisCache``), else in files in
``CACHE_DIR`` shared by the machine's workers, with the login counters in a SQLite file there
(flask-limiter's ``memory://`` would count per worker).
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cachelib import BaseCache, FileSystemCache, RedisCache
from flask_session.cachelib import CacheLibSessionInterface
from limits.storage import Storage
from redis.exceptions import RedisError

SQLITE_FILE_NAME = "live-dashboard-auth.sqlite3"
SQLITE_SCHEME = "live-dashboard-sqlite"
SESSION_FOLDER_NAME = "live-dashboard-sessions"
# A session's "last seen" is written at most this often (not on every admin request).
TOUCH_EVERY_SECONDS = 30


@dataclass
class SessionPolicy:
    """How long a session may live: ``lifetime`` from sign-in at most, ``idle`` without use at most."""

    lifetime_seconds: float
    idle_seconds: float
    clock: Callable[[], float] = field(default=time.time)

    def start(self, session: MutableMapping[str, Any], user: str) -> None:
        """Make ``session`` (emptied first) a new one for ``user``."""
        now = self.clock()
        session.clear()
        session.update(user=user, created=now, seen=now)

    def user(self, session: MutableMapping[str, Any]) -> str | None:
        """The user of a live session; a session past its lifetime or idle time is ended (``None``)."""
        user, created, seen = session.get("user"), session.get("created"), session.get("seen")
        if not isinstance(user, str) or not isinstance(created, int | float) or not isinstance(seen, int | float):
            return None
        now = self.clock()
        if now >= min(created + self.lifetime_seconds, seen + self.idle_seconds):
            session.clear()  # deletes the record when the response is sent
            return None
        if now - seen >= TOUCH_EVERY_SECONDS:
            session["seen"] = now
        return user


class FailClosedSessions(CacheLibSessionInterface):
    """Flask-Session over a cachelib store; while the store cannot be reached, nobody is signed in.

    Writing a session still raises (sign-in answers 503); reading finds none; deleting is dropped.
    """

    def _retrieve_session_data(self, store_id: str) -> dict | None:
        try:
            return super()._retrieve_session_data(store_id)
        except RedisError:
            return None

    def _delete_session(self, store_id: str) -> None:
        with contextlib.suppress(RedisError):
            super()._delete_session(store_id)


def session_interface(key_prefix: str, redis: Any, cache_dir: Path) -> FailClosedSessions:
    """Server-side sessions in ``redis`` when given, else in files in ``cache_dir`` all workers share."""
    store: BaseCache = RedisCache(redis) if redis is not None else FileSystemCache(str(cache_dir / SESSION_FOLDER_NAME))
    return FailClosedSessions(client=store, key_prefix=f"{key_prefix}session:")


class SqliteCounterStorage(Storage):
    """A flask-limiter (``limits``) storage in the same SQLite file: fixed-window counters for all workers."""

    STORAGE_SCHEME = [SQLITE_SCHEME]  # noqa: RUF012 - read by the limits library's storage registry

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any) -> None:
        super().__init__(uri, wrap_exceptions, **options)
        self._path = Path((uri or "").split("://", 1)[1])
        self._row("CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER, expires REAL)")

    def _row(self, statement: str, parameters: tuple[Any, ...] = ()) -> Any:
        with _sqlite(self._path) as db:
            return db.execute(statement, parameters).fetchone()

    @property
    def base_exceptions(self) -> type[Exception]:
        return sqlite3.Error

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        now = time.time()
        # One statement: atomic across processes.
        row = self._row(
            "INSERT INTO counters VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
            " value = CASE WHEN expires <= ? THEN excluded.value ELSE value + excluded.value END,"
            " expires = CASE WHEN expires <= ? THEN excluded.expires ELSE expires END"
            " RETURNING value",
            (key, amount, now + expiry, now, now),
        )
        return int(row[0])

    def get(self, key: str) -> int:
        row = self._row("SELECT value FROM counters WHERE key = ? AND expires > ?", (key, time.time()))
        return int(row[0]) if row else 0

    def get_expiry(self, key: str) -> float:
        row = self._row("SELECT expires FROM counters WHERE key = ?", (key,))
        return float(row[0]) if row else time.time()

    def check(self) -> bool:
        return self._row("SELECT 1") is not None

    def reset(self) -> int | None:
        with _sqlite(self._path) as db:
            return db.execute("DELETE FROM counters").rowcount

    def clear(self, key: str) -> None:
        self._row("DELETE FROM counters WHERE key = ?", (key,))


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
