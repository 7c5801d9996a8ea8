"""Flask wiring for auth: session cookie, login/logout, rate limit and request guards."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from flask import Flask, Response, current_app, jsonify, redirect, render_template_string, request, session
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from redis.exceptions import RedisError

from auth import AdminRequired, Authenticator, current_user, sign, unsign
from auth.iap import IapVerifier
from auth.passwords import AdminDirectory, PasswordChecks, TooManyPasswordChecks, normalise_name, one_time_admin
from auth.state import SQLITE_SCHEME, SessionPolicy, session_interface, sqlite_path
from data_access import CACHE_KEY_PREFIX, REDIS_TIMEOUTS, make_redis
from settings import Settings

log = logging.getLogger(__name__)

ADMIN_PATH = "/admin"
SESSION_COOKIE_NAME = "live_dashboard_session"
# Marks a browser that signed in to an account before: exempt from that account's limit from all addresses.
DEVICE_COOKIE_NAME = "live_dashboard_device"
DEVICE_COOKIE_PURPOSE = "sign-in-device"
DEVICE_COOKIE_DAYS = 90
# The sign-in page (Jinja, autoescaped): the one page the app serves outside Dash.
LOGIN_TEMPLATE = Path(__file__).with_name("login.html").read_text()


def init_auth(
    server: Flask, settings: Settings, css_url: str, iap_transport: Any = None, *, login: bool = True
) -> str | None:
    """Install sessions, guards and (``login``: where the admin page is served) the sign-in routes on ``server``.

    Returns the one-time admin password when one was created (local development with ``login`` only).
    """
    # First of all hooks: a body is refused by its announced size before anything reads it.
    server.before_request(_limit_request_body)
    server.config["MAX_CONTENT_LENGTH"] = int(settings.max_request_kb * 1024)  # backstop; per request below
    server.secret_key = settings.secret_key or _development_secret()
    https = settings.app_env == "production"
    server.config.update(
        # __Host-: only over HTTPS, for this host and path "/" (no subdomain can set or read it).
        SESSION_COOKIE_NAME=f"{'__Host-' if https else ''}{SESSION_COOKIE_NAME}",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        SESSION_COOKIE_PATH="/",
        # The cookie's own expiry is a backstop: the server-side record decides (auth.state).
        PERMANENT_SESSION_LIFETIME=timedelta(hours=settings.session_lifetime_hours),
        SESSION_REFRESH_EACH_REQUEST=False,
    )
    # One deployment = one data location: two apps on one Redis or one machine keep apart.
    key_prefix = f"{CACHE_KEY_PREFIX}{hashlib.sha256(settings.data_location.encode()).hexdigest()[:12]}:"
    redis = make_redis(settings)
    server.session_interface = session_interface(key_prefix, redis, Path(settings.cache_dir))
    policy = SessionPolicy(settings.session_lifetime_hours * 3600, settings.session_idle_minutes * 60)
    authenticator, one_time_password = _authenticator(settings, iap_transport, policy, login)
    server.extensions["auth"] = authenticator
    server.before_request(_refuse_cross_origin_posts)
    server.register_error_handler(AdminRequired, _forbidden)
    if not login:
        return None
    # Login counters every worker shares: in Redis, else in a SQLite file (auth.state registered its scheme).
    if redis is not None:
        storage_uri, storage_options = settings.cache_redis_url, dict(REDIS_TIMEOUTS)
    else:
        storage_uri, storage_options = f"{SQLITE_SCHEME}://{sqlite_path(Path(settings.cache_dir))}", {}
    limiter = Limiter(
        get_remote_address,
        app=server,
        storage_uri=storage_uri,
        storage_options=storage_options,
        key_prefix=key_prefix + "login",
        # If Redis goes away, count in memory rather than answer 500 or stop counting.
        in_memory_fallback_enabled=True,
        swallow_errors=True,
    )
    # Only sign-in is limited: every other request (each dashboard's poll) skips the limiter's work.
    limiter.request_filter(lambda: request.path != "/login")
    _add_login_routes(server, limiter, settings, css_url)
    server.before_request(_guard_admin_page)
    return one_time_password


def allow_large_bodies(server: Flask, path_prefix: str, max_bytes: int) -> None:
    """Let signed-in admins send bodies up to ``max_bytes`` to paths under ``path_prefix`` (upload chunks)."""
    server.config.setdefault("LARGE_BODY_ROUTES", {})[path_prefix] = max_bytes


def _limit_request_body() -> Response | None:
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    length = request.content_length
    if length is not None and length > limit:
        larger = large_body_limit(current_app.config, request.path)
        if larger and length <= larger:
            user = current_user()  # the session cookie only: the body is not read for this
            limit = larger if user and user.is_admin else limit
    # Also bounds bodies without a Content-Length (chunked): werkzeug stops reading at the limit.
    request.max_content_length = limit
    if length is not None and length > limit:
        return Response(f"Request body too large (limit {limit // 1024} KiB)", status=413, mimetype="text/plain")
    return None


def large_body_limit(config: Mapping[str, Any], path: str) -> int:
    """The body limit :func:`allow_large_bodies` set for ``path`` (0 when none did)."""
    routes: dict[str, int] = config.get("LARGE_BODY_ROUTES", {})
    return max((limit for prefix, limit in routes.items() if path.startswith(prefix)), default=0)


def _development_secret() -> str:
    """A random key shared by every worker on this machine, so each accepts the others' tokens (development only)."""
    path = Path(tempfile.gettempdir()) / f"live-dashboard-dev-secret-{os.getuid()}"
    if not path.exists():
        candidate = path.with_name(f"{path.name}.{secrets.token_hex(6)}")
        candidate.write_text(secrets.token_urlsafe(48))
        candidate.chmod(0o600)
        try:
            os.link(candidate, path)  # atomic: the first worker's key wins, complete or not at all
        except FileExistsError:
            pass
        finally:
            candidate.unlink()
    return path.read_text().strip()


def _authenticator(
    settings: Settings, iap_transport: Any, sessions: SessionPolicy, login: bool
) -> tuple[Authenticator, str | None]:
    if settings.auth_mode == "iap":
        emails = frozenset(email.strip().lower() for email in settings.admin_emails.split(",") if email.strip())
        return Authenticator("iap", iap=IapVerifier(settings.iap_audience, iap_transport), admin_emails=emails), None
    admins = AdminDirectory.from_settings(settings.admin_users, settings.admin_users_file)
    password = None
    if login and not admins and settings.app_env == "development" and settings.data_source == "local":
        admins, password = one_time_admin()
    checks = PasswordChecks(settings.login_concurrency)
    return Authenticator("password", admins=admins, sessions=sessions, password_checks=checks), password


def _add_login_routes(server: Flask, limiter: Limiter, settings: Settings, css_url: str) -> None:
    def page(message: str = "", level: str = "danger", status: int = 200) -> Response:
        html = render_template_string(
            LOGIN_TEMPLATE, css_url=css_url, message=message, level=level, next_path=_safe_next()
        )
        return Response(html, status=status, mimetype="text/html")

    # Every limit is counted before the password is checked (one atomic increment each), so a
    # burst sent at once gets no more checks than the limit. None of them can lock an admin out:
    # per address (any account); per account *and* address; per account from every address,
    # which a browser that signed in to that account before does not count against.
    @limiter.limit(settings.login_rate_limit, methods=["POST"])
    @limiter.limit(settings.login_account_rate_limit, key_func=_account_and_address_key, methods=["POST"])
    @limiter.limit(
        settings.login_account_wide_rate_limit,
        key_func=_account_key,
        methods=["POST"],
        exempt_when=_known_device,
    )
    def login() -> Any:
        if request.method == "GET":
            if settings.auth_mode == "iap":
                return page("This deployment signs in through Identity-Aware Proxy.", "info")
            user = current_user()
            return redirect(_safe_next()) if user and user.is_admin else page()
        name = _form_name()
        password = request.form.get("password", "")
        authenticator: Authenticator = current_app.extensions["auth"]
        signed_in = redirect(_safe_next())
        try:
            if not authenticator.check_password(name, password):
                log.warning("sign-in failed", extra={"user": name[:64], "remote_ip": request.remote_addr})
                return page("Wrong name or password.", status=401)
            _start_session(authenticator, name, signed_in)
        except (TooManyPasswordChecks, RedisError):
            busy = page("Signing in is busy or unavailable right now. Try again in a few seconds.", "warning", 503)
            busy.headers["Retry-After"] = "5"
            return busy
        _remember_device(signed_in, name, server.config["SESSION_COOKIE_SECURE"])
        return signed_in

    def logout() -> Any:
        session.clear()  # Flask-Session deletes the record: the session ends on every worker
        return redirect("/")

    def too_many_attempts(_error: Exception) -> Response:
        if request.path == "/login":
            return page("Too many sign-in attempts. Wait a minute and try again.", status=429)
        return Response("Too many requests", status=429)

    server.add_url_rule("/login", "login", login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", logout, methods=["POST"])
    server.register_error_handler(429, too_many_attempts)


def _start_session(authenticator: Authenticator, name: str, response: Response) -> None:
    """A new server-side session for ``name``, stored now so that a store that is down fails the sign-in."""
    authenticator.sessions.start(session, name)  # type: ignore[union-attr]
    session.permanent = True
    interface = current_app.session_interface
    try:
        interface.regenerate(session)  # a new id at every sign-in: an id planted before sign-in is worthless
        interface.save_session(current_app, session, response)
    except RedisError:
        session.clear()  # nothing half-made is left for the end of the request to write
        raise
    session.modified = False  # saved: nothing left for the end of the request


def _form_name() -> str:
    """The sign-in form's name, normalised once (the same for the check and every limit)."""
    return normalise_name(request.form.get("username", ""))


def _account_key() -> str:
    return "account:" + _form_name()


def _account_and_address_key() -> str:
    return f"account-address:{_form_name()}|{get_remote_address()}"


def _device_cookie_name() -> str:
    return ("__Host-" if current_app.config["SESSION_COOKIE_SECURE"] else "") + DEVICE_COOKIE_NAME


def _known_device() -> bool:
    """Whether this browser signed in to the form's account before (a cookie only this server can sign)."""
    return unsign(request.cookies.get(_device_cookie_name()), DEVICE_COOKIE_PURPOSE) == _form_name()


def _remember_device(response: Response, name: str, secure: bool) -> None:
    response.set_cookie(
        _device_cookie_name(),
        sign(name, DEVICE_COOKIE_PURPOSE),
        max_age=DEVICE_COOKIE_DAYS * 24 * 3600,
        path="/",  # the __Host- prefix requires it
        secure=secure,
        httponly=True,
        samesite="Strict",
    )


_LOCAL_PATH = re.compile(r"/(?![/\\])[A-Za-z0-9_\-./]*")


def _safe_next() -> str:
    """Where to go after login: a plain local path only (no open redirect).

    Browsers drop tabs and new lines inside URLs, so ``/\t/evil.example`` would become
    ``//evil.example``: only letters, digits and ``_-./`` are allowed, never ``//`` first.
    """
    target = request.values.get("next", ADMIN_PATH)
    plain = _LOCAL_PATH.fullmatch(target) and "//" not in target and ".." not in target
    return target if plain else ADMIN_PATH


def _refuse_cross_origin_posts() -> Response | None:
    """Refuse state-changing requests sent by another site's page (CSRF), whatever the cookie says."""
    if request.method != "POST":
        return None
    origin = request.headers.get("Origin")
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site == "cross-site" or (origin is not None and urlsplit(origin).netloc != request.host):
        return Response("Cross-origin request refused", status=403)
    return None


def _guard_admin_page() -> Response | None:
    if request.path.rstrip("/") != ADMIN_PATH:
        return None
    user = current_user()
    if user and user.is_admin:
        return None
    if current_app.extensions["auth"].mode == "iap":
        return Response("Admins only", status=403)
    return redirect(f"/login?next={ADMIN_PATH}")


def _forbidden(_error: Exception) -> tuple[Response, int]:
    return jsonify(error="Admins only: sign in at /login"), 403
