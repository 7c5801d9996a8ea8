"""How the app is served: security headers, compression, the strict plotly.js bundle, ``/readyz``.

The CSP allows this server's scripts and Dash's inline ones by hash, never ``unsafe-inline`` or ``unsafe-eval``:
the plotly.js bundle without ``eval`` comes from ``vendor/``. Versioned static files are compressed once per worker.
"""

from __future__ import annotations

import functools
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dash import Dash
from dash.exceptions import DependencyException
from flask import Flask, Request, Response, jsonify, request, send_file, send_from_directory
from flask_compress import Compress
from flask_talisman import Talisman

from auth.web import ADMIN_PATH
from callback_input import CALLBACK_PATH_SUFFIX
from settings import APP_DIR, Settings, SettingsError

log = logging.getLogger(__name__)

# What `make vendor` installs from the npm registry (the Makefile names the versions).
VENDOR_DIR = APP_DIR / "vendor"
VENDOR_URL_PREFIX = "/vendor/"
PLOTLY_STRICT_PATTERN = "plotly-strict-*.min.js"
BOOTSTRAP_CSS_PATTERN = "bootstrap-*.min.css"
NO_FRAMING_PATHS = (ADMIN_PATH, "/login")
GCS_UPLOAD_ORIGIN = "https://storage.googleapis.com"
# Fingerprinted or versioned URLs: the same path always has the same body.
STATIC_PREFIXES = ("/_dash-component-suites/", "/assets/", VENDOR_URL_PREFIX)
ONE_YEAR_SECONDS = 365 * 24 * 3600
# Dash links pages to assets/favicon.ico itself; browsers ask /favicon.ico for every other page.
FAVICON_FILE = APP_DIR / "assets" / "favicon.ico"
ONE_DAY_SECONDS = 24 * 3600
# Only features Chromium knows: it logs a console warning on every page for any other name
# ("bluetooth" was one), which buries real warnings.
PERMISSIONS_POLICY = {
    feature: "()" for feature in ("camera", "microphone", "geolocation", "payment", "usb", "serial", "interest-cohort")
}
REFERRER_POLICY = "strict-origin-when-cross-origin"
# flask-talisman's options for every answer; each app adds its page policy (install_serving).
TALISMAN_OPTIONS: dict[str, Any] = {
    "permissions_policy": PERMISSIONS_POLICY,
    "referrer_policy": REFERRER_POLICY,
    "frame_options": None,  # the chart may be embedded; admin and login may not (_admin_and_login_headers)
    "force_https": False,  # App Engine redirects to HTTPS itself (app.yaml: secure: always)
    "strict_transport_security": True,  # talisman's default HSTS, sent only on HTTPS requests
}
# An answer that is a line of text (the worker's 400/408/413): nothing may load or frame it.
PLAIN_ANSWER_POLICY = {"default-src": "'none'", "frame-ancestors": "'none'"}
#: flask-compress's levels and threshold, which routes/take_up.py's answers (compressed once) follow too.
BROTLI_QUALITY = 5
GZIP_LEVEL = 6
MIN_COMPRESSED_BYTES = 1024
COMPRESSED_TYPES = [
    "text/html",
    "text/css",
    "text/plain",
    "application/javascript",
    "text/javascript",
    "application/json",
    "image/svg+xml",
]


def content_security_policy(script_hashes: list[str], connect_sources: list[str] | None = None) -> dict[str, Any]:
    """The policy for every page: scripts from here or by hash, inline styles (React sets them), ``connect_sources``."""
    return {
        "default-src": "'self'",
        "script-src": ["'self'", *script_hashes],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],  # plotly's legend icons and "download as PNG"
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'", *(connect_sources or [])],
        "object-src": "'none'",
        "base-uri": "'self'",
        "form-action": "'self'",
    }


def install_serving(app: Dash, settings: Settings) -> dict[str, Any]:
    """Security headers, compression and ``/readyz`` on ``app``; returns the live CSP.

    Call :func:`allow_dash_scripts` after the first index render: only then are Dash's script hashes complete.
    """
    server = app.server
    server.after_request(_admin_and_login_headers)  # registered first, so it runs after Talisman's
    talisman = Talisman(
        server,
        content_security_policy=content_security_policy([], storage_origins(settings)),
        session_cookie_secure=settings.app_env == "production",
        **TALISMAN_OPTIONS,
    )
    # Callback answers are JSON read by script, never rendered: a policy there is only work per poll.
    for rule in server.url_map.iter_rules():
        if rule.rule.endswith(CALLBACK_PATH_SUFFIX):
            talisman(content_security_policy=None, permissions_policy=None)(server.view_functions[rule.endpoint])
    _compress(server)
    server.add_url_rule("/readyz", "readyz", _readyz)
    server.add_url_rule("/favicon.ico", "favicon", _favicon)
    server.register_error_handler(DependencyException, _unknown_component_file)
    return talisman.content_security_policy  # Talisman keeps its own copy of the policy


@functools.cache
def plain_answer_headers() -> list[tuple[str, str]]:
    """flask-talisman's headers (HSTS included) for the worker's own 400/408/413, with a policy allowing nothing."""
    bare = Flask(__name__)
    Talisman(bare, content_security_policy=PLAIN_ANSWER_POLICY, **TALISMAN_OPTIONS)
    with bare.test_request_context(base_url="https://localhost"):
        answer = bare.process_response(Response(mimetype="text/plain"))
    headers = [(name, value) for name, value in answer.headers if name not in ("Content-Type", "Content-Length")]
    return [*headers, ("Cache-Control", "no-store")]


def _unknown_component_file(error: DependencyException) -> Response:
    """A path under ``/_dash-component-suites/`` Dash does not serve: 404 and one line, not a stack trace."""
    log.warning("unknown component file requested: %s", request.path[:200])
    return Response("Not found", status=404, mimetype="text/plain")


def storage_origins(settings: Settings) -> list[str]:
    """Where a browser may upload to directly: Cloud Storage, or the emulator the app uses."""
    if settings.data_source != "gcs":
        return []
    if settings.storage_emulator_host:
        parts = urlsplit(settings.storage_emulator_host)
        return [f"{parts.scheme}://{parts.netloc}"]
    return [GCS_UPLOAD_ORIGIN]


def allow_dash_scripts(app: Dash, policy: dict[str, Any]) -> None:
    """Allow Dash's inline scripts by hash in ``policy`` (Talisman reads it on every response)."""
    policy["script-src"] = ["'self'", *app.csp_hashes()]


def vendored_file(pattern: str) -> Path:
    """The newest file in ``vendor/`` matching ``pattern`` (``make vendor`` names each by its version)."""
    found = sorted(VENDOR_DIR.glob(pattern), key=lambda path: [int(part) for part in re.findall(r"\d+", path.name)])
    if not found:
        raise SettingsError(f"vendor/{pattern} is missing: run `make vendor` (npm) first")
    return found[-1]


def vendored_url(pattern: str) -> str:
    """Where the page loads the file :func:`vendored_file` finds."""
    return VENDOR_URL_PREFIX + vendored_file(pattern).name


def add_vendored_files(server: Flask) -> tuple[list[str], list[str]]:
    """Serve ``vendor/``; returns Dash's ``external_scripts`` (plotly.js strict) and ``external_stylesheets``."""

    def vendored(name: str) -> Response:
        response = send_from_directory(VENDOR_DIR, name, max_age=ONE_YEAR_SECONDS)  # the version is in the name
        # A body, not a file stream: flask-compress compresses bodies once per worker and keeps them.
        response.direct_passthrough = False
        response.make_sequence()
        return response

    server.add_url_rule(f"{VENDOR_URL_PREFIX}<path:name>", "vendored", vendored)
    return [vendored_url(PLOTLY_STRICT_PATTERN)], [vendored_url(BOOTSTRAP_CSS_PATTERN)]


def _admin_and_login_headers(response: Response) -> Response:
    """Admin and login pages: never framed (clickjacking), never stored by a browser or proxy."""
    if request.path.startswith(NO_FRAMING_PATHS):
        response.headers["X-Frame-Options"] = "DENY"
        policy = response.headers.get("Content-Security-Policy")
        response.headers["Content-Security-Policy"] = "; ".join(filter(None, [policy, "frame-ancestors 'none'"]))
        response.headers["Cache-Control"] = "no-store"
    return response


class StaticCompressionCache(dict[str, bytes]):
    """flask-compress cache backend keeping compressed bodies of static files only (other keys are ``"br;"``)."""

    MAX_ENTRIES = 128  # versioned files: a handful per release; a race may add one or two more

    def set(self, key: str, value: bytes) -> None:
        """Keep a static file's compressed body (``get`` is the dict's)."""
        if not key.endswith(";") and len(self) < self.MAX_ENTRIES:
            self[key] = value


def static_cache_key(req: Request) -> str:
    """The URL of a GET for a versioned static file, else empty (not cached)."""
    if req.method == "GET" and req.path.startswith(STATIC_PREFIXES):
        return req.full_path
    return ""


def _compress(server: Flask) -> None:
    server.config.update(
        COMPRESS_ALGORITHM=["br", "gzip"],
        COMPRESS_MIMETYPES=COMPRESSED_TYPES,
        COMPRESS_BR_LEVEL=BROTLI_QUALITY,
        COMPRESS_LEVEL=GZIP_LEVEL,
        COMPRESS_MIN_SIZE=MIN_COMPRESSED_BYTES,
        COMPRESS_CACHE_BACKEND=StaticCompressionCache,
        COMPRESS_CACHE_KEY=static_cache_key,
    )
    Compress(server)


def _favicon() -> Response:
    """The site's icon where browsers ask when a page names none; not versioned, so kept a day."""
    return send_file(FAVICON_FILE, mimetype="image/vnd.microsoft.icon", max_age=ONE_DAY_SECONDS)


def _readyz() -> tuple[Response, int]:
    """Ready when storage answers the version check and the shared cache answers; no names, no errors."""
    from app_context import current_live_data

    live_data = current_live_data()
    storage_ok, cache_ok = live_data.check_version().ok, live_data.cache.ping()
    ready = storage_ok and cache_ok
    response = jsonify(
        status="ready" if ready else "unavailable",
        storage="ok" if storage_ok else "failing",
        cache="ok" if cache_ok else "failing",
    )
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if ready else 503
