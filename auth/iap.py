"""``AUTH_MODE=iap``: who is calling, from the Identity-Aware Proxy's signed header.

Only the JWT in ``x-goog-iap-jwt-assertion`` is trusted. google-auth checks signature and expiry
but not the issuer, and any audience when given none: both are checked here. A token with an unknown
key id refetches the keys (rotation), at most once per ``MIN_REFETCH_SECONDS``.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from google.auth import exceptions as auth_errors
from google.auth import jwt
from google.auth.transport import requests as google_requests
from google.oauth2 import id_token

IAP_HEADER = "x-goog-iap-jwt-assertion"
IAP_ISSUER = "https://cloud.google.com/iap"
IAP_CERTS_URL = "https://www.gstatic.com/iap/verify/public_key"  # {key id: PEM}
CERTS_CACHE_SECONDS = 600
MIN_REFETCH_SECONDS = 30


class IapError(ValueError):
    """The IAP assertion is missing or invalid."""


class IapVerifier:
    """Verifies IAP assertions for one audience (``/projects/NUMBER/apps/PROJECT_ID``)."""

    def __init__(self, audience: str, transport: Any = None, certs_url: str = IAP_CERTS_URL) -> None:
        if not audience:
            raise IapError("IAP_AUDIENCE is required")
        self.audience = audience
        self.certs_url = certs_url
        # google-auth fetches the keys on every verification; keep them for a while instead.
        self._transport = _CachingTransport(transport or google_requests.Request(), certs_url)

    def email(self, token: str | None) -> str:
        """The verified e-mail address in ``token``; :class:`IapError` when anything is off."""
        if not token:
            raise IapError("no IAP assertion on the request")
        try:
            self._transport.refetch_unless_known(str(jwt.decode_header(token).get("kid")))
            claims = id_token.verify_token(token, self._transport, audience=self.audience, certs_url=self.certs_url)
        except (ValueError, TypeError, auth_errors.GoogleAuthError) as error:  # UnicodeDecodeError is a ValueError
            raise IapError(f"invalid IAP assertion: {error}") from error
        if claims.get("iss") != IAP_ISSUER:
            raise IapError("IAP assertion has the wrong issuer")
        if claims.get("aud") != self.audience:
            raise IapError("IAP assertion has the wrong audience")
        email = claims.get("email")
        if not email:
            raise IapError("IAP assertion carries no e-mail")
        return str(email).lower()


class _CachingTransport:
    """Answers repeated GETs of the public keys from memory for ``CERTS_CACHE_SECONDS``."""

    def __init__(self, transport: Any, certs_url: str) -> None:
        self._transport = transport
        self._certs_url = certs_url
        self._lock = threading.Lock()
        self._cached: tuple[float, Any] | None = None
        self._key_ids: frozenset[str] = frozenset()

    def refetch_unless_known(self, key_id: str) -> None:
        """Forget the cached keys when ``key_id`` is not among them (keys rotated), unless just fetched."""
        with self._lock:
            if self._cached is None or key_id in self._key_ids:
                return
            if time.monotonic() - self._cached[0] >= MIN_REFETCH_SECONDS:
                self._cached = None

    def __call__(self, url: str, method: str = "GET", **kwargs: Any) -> Any:
        if url != self._certs_url or method != "GET":
            return self._transport(url, method=method, **kwargs)
        with self._lock:
            if self._cached and time.monotonic() - self._cached[0] < CERTS_CACHE_SECONDS:
                return self._cached[1]
            response = self._transport(url, method=method, **kwargs)
            if getattr(response, "status", None) == 200:
                self._cached = (time.monotonic(), response)
                self._key_ids = _key_ids(response.data)
            return response


def _key_ids(body: bytes) -> frozenset[str]:
    try:
        keys = json.loads(body)
    except ValueError:
        return frozenset()
    return frozenset(keys) if isinstance(keys, dict) else frozenset()
