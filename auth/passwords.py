"""Admin accounts for ``AUTH_MODE=password``: hashing, the admin list, the one-time local admin."""

from __future__ import annotations

import functools
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from werkzeug.security import check_password_hash, generate_password_hash

from settings import SettingsError

# OWASP's minimum for scrypt (werkzeug's default cost is lower).
HASH_METHOD = "scrypt:131072:8:1"
LOCAL_ADMIN_NAME = "admin"
MAX_NAME_LENGTH = 128


def normalise_name(name: str) -> str:
    """An admin name as it is compared, stored and counted (``BOB`` and `` bob`` are ``bob``, for the limits too)."""
    return name.strip().lower()[:MAX_NAME_LENGTH]


def hash_password(password: str) -> str:
    """A salted scrypt hash in the form ``ADMIN_USERS`` takes after ``name:``."""
    return generate_password_hash(password, method=HASH_METHOD)


@dataclass(frozen=True)
class AdminDirectory:
    """Admin names and their password hashes."""

    hashes: dict[str, str]

    @classmethod
    def parse(cls, spec: str, source: str = "ADMIN_USERS") -> AdminDirectory:
        """Read ``alice:<hash>,bob:<hash>`` (commas or new lines; ``#`` starts a comment line)."""
        hashes: dict[str, str] = {}
        entries = [entry.strip() for line in spec.splitlines() for entry in line.split(",")]
        for number, entry in enumerate(entries, start=1):
            if not entry or entry.startswith("#"):
                continue
            name, separator, password_hash = entry.partition(":")
            if not separator or not name.strip() or "$" not in password_hash:
                raise SettingsError(f"{source} entry {number} is not name:hash (make one: app.py hash-password)")
            key = normalise_name(name)
            if key in hashes:
                raise SettingsError(f"{source} entry {number} repeats the name {key!r} (names ignore case)")
            hashes[key] = password_hash.strip()
        return cls(hashes)

    @classmethod
    def from_settings(cls, admin_users: str, admin_users_file: str) -> AdminDirectory:
        directory = cls.parse(admin_users)
        if admin_users_file:
            from_file = cls.parse(Path(admin_users_file).read_text(), source=f"ADMIN_USERS_FILE {admin_users_file}")
            directory = cls({**directory.hashes, **from_file.hashes})  # the file wins
        return directory

    def verify(self, name: str, password: str) -> bool:
        """True when ``password`` is ``name``'s. Costs the same time for unknown names."""
        password_hash = self.hashes.get(name)
        if password_hash is None:
            check_password_hash(_dummy_hash(), password)
            return False
        return check_password_hash(password_hash, password)

    def __bool__(self) -> bool:
        return bool(self.hashes)


class TooManyPasswordChecks(RuntimeError):
    """Every password-check slot of this process is busy: the caller should try again shortly."""


class PasswordChecks:
    """At most ``slots`` password checks at once in this process (one scrypt check needs ~128 MiB).

    A check waits ``wait_seconds`` for a slot, then gives up.
    """

    def __init__(self, slots: int, wait_seconds: float = 2.0) -> None:
        self._slots = threading.BoundedSemaphore(slots)
        self.wait_seconds = wait_seconds

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot; :class:`TooManyPasswordChecks` when none frees up in time."""
        if not self._slots.acquire(timeout=self.wait_seconds):
            raise TooManyPasswordChecks("too many sign-ins at once")
        try:
            yield
        finally:
            self._slots.release()


@functools.cache
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def one_time_admin() -> tuple[AdminDirectory, str]:
    """A local admin with a fresh random password, valid for this run only."""
    password = secrets.token_urlsafe(12)
    return AdminDirectory({LOCAL_ADMIN_NAME: hash_password(password)}), password
