"""Offline IAP assertions: ES256 tokens signed with a key generated here, and a transport
that serves its public key the way IAP's key endpoint does ({key id: PEM})."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.auth import jwt
from google.auth.crypt import es256

from auth.iap import IAP_CERTS_URL, IAP_ISSUER

AUDIENCE = "/projects/123456/apps/live-dashboard-test"


class KeyPair:
    def __init__(self, key_id: str) -> None:
        self.key_id = key_id
        self._private = ec.generate_private_key(ec.SECP256R1())
        self.private_pem = self._private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        self.public_pem = (
            self._private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    def sign(self, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            "iss": IAP_ISSUER,
            "aud": AUDIENCE,
            "email": "admin@example.com",
            "sub": "accounts.google.com:1",
            "iat": now,
            "exp": now + 600,
            **claims,
        }
        signer = es256.ES256Signer.from_string(self.private_pem, self.key_id)
        return jwt.encode(signer, payload).decode()


@dataclass
class _Response:
    status: int
    data: bytes
    headers: dict


class KeyServer:
    """A google-auth transport answering the IAP key URL with the given public keys (no network)."""

    def __init__(self, *key_pairs: KeyPair) -> None:
        self.keys = {pair.key_id: pair.public_pem for pair in key_pairs}
        self.requests = 0

    def __call__(self, url: str, method: str = "GET", **_: Any) -> _Response:
        assert url == IAP_CERTS_URL, url
        self.requests += 1
        return _Response(200, json.dumps(self.keys).encode(), {})
