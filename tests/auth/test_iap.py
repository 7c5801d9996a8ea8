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


def test_an_unknown_key_id_fetches_the_keys_again_once(monkeypatch):
    key_server = KeyServer(TRUSTED)
    verifier = IapVerifier(AUDIENCE, transport=key_server)
    assert verifier.email(TRUSTED.sign(email="a@example.com")) == "a@example.com"
    monkeypatch.setattr("auth.iap.MIN_REFETCH_SECONDS", 0)

    rotated = KeyPair("rotated-key")
    key_server.keys[rotated.key_id] = rotated.public_pem  # Google rotates its keys
    assert verifier.email(rotated.sign(email="a@example.com")) == "a@example.com"
    assert key_server.requests == 2  # one refetch, not a lock-out until the cache expires
    verifier.email(rotated.sign())
    verifier.email(TRUSTED.sign())
    assert key_server.requests == 2  # known ids use the cached keys


def test_made_up_key_ids_cannot_make_every_request_fetch():
    key_server = KeyServer(TRUSTED)
    verifier = IapVerifier(AUDIENCE, transport=key_server)
    verifier.email(TRUSTED.sign())
    for number in range(5):
        with pytest.raises(IapError):
            verifier.email(KeyPair(f"made-up-{number}").sign())
    assert key_server.requests == 1  # fetched just now: no refetch within MIN_REFETCH_SECONDS
