"""The per-issuer JWKS cache: fetched once, refreshed on an unknown kid (rate-limited) and after max age."""

from __future__ import annotations

import json

import pytest
import requests
import responses

from cds_service.config import ConfigError, TrustedIssuer
from cds_service.trust.jwks import IssuerKeys, KeyRegistry, parse_jwks
from support.jwt_keys import EPIC_ISS, EPIC_JWKS, Signer, epic_issuer, jwks

OLD, NEW = Signer("ES384", slot="old", kid="old"), Signer("ES384", slot="new", kid="new")


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def keyserver():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(EPIC_JWKS, json=jwks(OLD))
        yield mock


def _fetches(mock):
    return sum(1 for c in mock.calls if c.request.url == EPIC_JWKS)


def test_unknown_kid_refreshes_at_most_once_per_interval(keyserver):
    clock = Clock()
    keys = IssuerKeys(epic_issuer(), requests.Session(), min_refresh_interval=60, clock=clock)
    assert keys.get("old")["kid"] == "old"
    keyserver.replace("GET", EPIC_JWKS, json=jwks(OLD, NEW))   # the client rotates its key
    assert keys.get("new") is None            # too soon after the last fetch: no new request
    for _ in range(20):
        assert keys.get("made-up") is None    # a flood of unknown kids does not hammer the key URL
    assert _fetches(keyserver) == 1
    clock.now += 61
    assert keys.get("new")["kid"] == "new"    # rotation picked up on the first unknown kid after the interval
    assert _fetches(keyserver) == 2


def test_keys_are_refetched_after_max_age(keyserver):
    clock = Clock()
    keys = IssuerKeys(epic_issuer(), requests.Session(), max_age=600, min_refresh_interval=60, clock=clock)
    for _ in range(5):
        keys.get("old")
    assert _fetches(keyserver) == 1
    clock.now += 601
    keyserver.replace("GET", EPIC_JWKS, json=jwks(NEW))   # old key withdrawn
    assert keys.get("old") is None
    assert _fetches(keyserver) == 2


def test_failed_refresh_keeps_the_keys_we_had(keyserver):
    clock = Clock()
    keys = IssuerKeys(epic_issuer(), requests.Session(), max_age=600, clock=clock)
    assert keys.get("old")
    clock.now += 601
    keyserver.replace("GET", EPIC_JWKS, status=500)
    assert keys.get("old")


@pytest.mark.parametrize(
    "answer",
    [
        {"body": "not json"},
        {"json": {"no": "keys"}},
        {"status": 302, "headers": {"Location": "https://evil.example/jwks"}},
        {"body": b"x" * (600 * 1024)},
    ],
    ids=["not-json", "not-a-jwks", "redirect", "too-large"],
)
def test_bad_key_set_answers_give_no_keys(keyserver, answer):
    keyserver.replace("GET", EPIC_JWKS, **answer)
    keyserver.get("https://evil.example/jwks", json=jwks(OLD))
    keys = IssuerKeys(epic_issuer(), requests.Session())
    assert keys.get("old") is None
    assert all(c.request.url != "https://evil.example/jwks" for c in keyserver.calls)


def test_parse_jwks_keeps_only_asymmetric_signature_keys_with_kid():
    hmac_key = {"kty": "oct", "kid": "shared", "k": "c2VjcmV0"}
    enc_key = {**OLD.public_jwk(), "kid": "enc", "use": "enc"}
    no_kid = {k: v for k, v in OLD.public_jwk().items() if k != "kid"}
    private = {**NEW.public_jwk(), "d": "AAAA"}
    parsed = parse_jwks({"keys": [hmac_key, enc_key, no_kid, OLD.public_jwk(), private, "junk"]})
    assert sorted(parsed) == ["new", "old"]
    assert "d" not in parsed["new"]


def test_registry_knows_only_configured_issuers(keyserver):
    registry = KeyRegistry({EPIC_ISS: epic_issuer()})
    assert registry.key("https://other.example", "old") is None
    assert registry.key(EPIC_ISS, "old")
    assert [c.request.url for c in keyserver.calls] == [EPIC_JWKS]


def test_unusable_jwks_file_fails_at_start(tmp_path, make_app):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{"kty": "oct", "kid": "x", "k": "c2VjcmV0"}]}))
    issuers = {EPIC_ISS: TrustedIssuer(EPIC_ISS, jwks_file=str(path))}
    with pytest.raises(ConfigError, match="no RSA/EC signing key"):
        make_app(auth="jwt", trusted_issuers=issuers)
    path.write_text("{broken")
    with pytest.raises(ConfigError, match="cannot read JWKS file"):
        make_app(auth="jwt", trusted_issuers=issuers)
