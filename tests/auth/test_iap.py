"""IAP assertions, verified offline with a generated ES256 key."""

from __future__ import annotations

import time

import pytest

from auth.iap import IapError, IapVerifier
from tests.auth.iap_tokens import AUDIENCE, KeyPair, KeyServer

TRUSTED = KeyPair("trusted-key")
STRANGER = KeyPair("trusted-key")  # same key id, different key: a forged signature


@pytest.fixture()
def verifier() -> IapVerifier:
    return IapVerifier(AUDIENCE, transport=KeyServer(TRUSTED))


def test_valid_assertion_gives_the_email(verifier):
    assert verifier.email(TRUSTED.sign(email="Alice@Example.com")) == "alice@example.com"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (lambda: STRANGER.sign(), "signed with another key"),
        (lambda: TRUSTED.sign(aud="/projects/999/apps/other"), "wrong audience"),
        (lambda: TRUSTED.sign(iss="https://accounts.google.com"), "wrong issuer"),
        (lambda: TRUSTED.sign(exp=int(time.time()) - 60, iat=int(time.time()) - 700), "expired"),
        (lambda: TRUSTED.sign(email=""), "no e-mail"),
        (lambda: "", "missing"),
        (lambda: "not.a.jwt", "garbage"),
    ],
)
def test_bad_assertions_are_refused(verifier, token, reason):
    with pytest.raises(IapError):
        verifier.email(token())


def test_public_keys_are_fetched_once_for_many_requests():
    key_server = KeyServer(TRUSTED)
    verifier = IapVerifier(AUDIENCE, transport=key_server)
    for _ in range(5):
        verifier.email(TRUSTED.sign())
    assert key_server.requests == 1
