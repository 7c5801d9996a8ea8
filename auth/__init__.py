"""Who is asking, and may they administer? Checked where the work happens.

Every admin callback and route calls :func:`require_admin` itself; the page guard in :mod:`auth.web`
is a second line. The public chart service has no admin callbacks or routes (``DASHBOARD_SERVICE``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app, g, request, session
from itsdangerous import BadSignature, URLSafeSerializer

from auth.iap import IAP_HEADER, IapError, IapVerifier
from auth.passwords import AdminDirectory, PasswordChecks
from auth.state import SessionPolicy


@dataclass(frozen=True)
class User:
    name: str
    is_admin: bool


class AdminRequired(PermissionError):
    """The request is not from an admin (answered with HTTP 403)."""


@dataclass(frozen=True)
class Authenticator:
    """Decides who the current request is from, in one of the two ``AUTH_MODE``s."""

    mode: str
    admins: AdminDirectory = field(default_factory=lambda: AdminDirectory({}))
    iap: IapVerifier | None = None
    admin_emails: frozenset[str] = frozenset()
    sessions: SessionPolicy | None = None
    password_checks: PasswordChecks | None = None

    def current_user(self) -> User | None:
        if self.mode == "iap":
            try:
                email = self.iap.email(request.headers.get(IAP_HEADER))  # type: ignore[union-attr]
            except IapError:
                return None
            return User(email, email in self.admin_emails)
        if self.sessions is None:
            return None
        name = self.sessions.user(session)
        # Re-checked on every request: removing an admin from the config ends their sessions.
        if name is not None and name in self.admins.hashes:
            return User(name, True)
        return None

    def check_password(self, name: str, password: str) -> bool:
        """Whether the password is right; :class:`auth.passwords.TooManyPasswordChecks` when all slots are busy."""
        if self.mode != "password" or self.password_checks is None:
            return False
        with self.password_checks.slot():
            return self.admins.verify(name, password)


def current_user() -> User | None:
    """The user of the current request, or ``None`` when anonymous (looked up once per request)."""
    if "auth_user" not in g:
        g.auth_user = current_app.extensions["auth"].current_user()
    return g.auth_user


def require_admin() -> User:
    """The current admin; raises :class:`AdminRequired` (HTTP 403) for anyone else."""
    user = current_user()
    if user is None or not user.is_admin:
        raise AdminRequired("admin sign-in required")
    return user


def sign(value: str, purpose: str) -> str:
    """A token proving the server issued ``value`` for ``purpose`` (signed with SECRET_KEY)."""
    return URLSafeSerializer(current_app.secret_key, salt=purpose).dumps(value)


def unsign(token: object, purpose: str) -> str | None:
    """The value inside a token from :func:`sign`, or ``None`` when it was not issued here."""
    if not isinstance(token, str):
        return None
    try:
        value = URLSafeSerializer(current_app.secret_key, salt=purpose).loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, str) else None
