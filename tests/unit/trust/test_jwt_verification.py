"""JWT verification through the HTTP API: what CDS clients send is accepted, everything else is a bare 401."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
import responses

from cds_service.config import TrustedIssuer
from support.hook_requests import hook_request
from support.jwt_keys import (
    BASE,
    DISCOVERY_PATH,
    EPIC_ISS,
    EPIC_JWKS,
    FEEDBACK_PATH,
    HOOK_PATH,
    SANDBOX_ISS,
    SANDBOX_JKU,
    Signer,
    bearer,
    claims,
    epic_issuer,
    jwks,
)

ES384 = Signer("ES384")
RS384 = Signer("RS384")
OTHER = Signer("ES384", slot="attacker", kid=ES384.kid)   # same kid, different key


@pytest.fixture
def keyserver():
    """The client's JWKS URL (and nothing else) answers; every request made is recorded."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(EPIC_JWKS, json=jwks(ES384, RS384))
        yield mock


@pytest.fixture
def jwt_app(make_app, keyserver):
    def _make(**overrides):
        settings = {"auth": "jwt", "trusted_issuers": {EPIC_ISS: epic_issuer()}}
        settings.update(overrides)
        return make_app(**settings)

    return _make


@pytest.fixture
def client(jwt_app):
    return jwt_app().test_client()


def call_hook(client, token=None, headers=None):
    return client.post(HOOK_PATH, json=hook_request(), headers=headers if headers is not None else bearer(token))


def assert_refused(response):
    assert response.status_code == 401
    assert response.get_json() == {"error": "unauthorized"}
    assert response.headers["WWW-Authenticate"] == "Bearer"   # RFC 9110 15.5.2: the scheme, and no reason


def jwks_requests(keyserver):
    return [c for c in keyserver.calls if c.request.url == EPIC_JWKS]


# --- accepted ------------------------------------------------------------------------------


@pytest.mark.parametrize("signer", [ES384, RS384], ids=["ES384", "RS384"])
def test_valid_token_is_accepted(client, signer):
    response = call_hook(client, signer.token(claims(), jku=EPIC_JWKS))
    assert response.status_code == 200, response.get_json()
    assert "cards" in response.get_json()
    assert "WWW-Authenticate" not in response.headers


def test_other_asymmetric_algorithms_are_accepted(jwt_app, keyserver):
    ps256, es256 = Signer("PS256"), Signer("ES256")
    keyserver.replace("GET", EPIC_JWKS, json=jwks(ps256, es256))
    client = jwt_app().test_client()
    for signer in (ps256, es256):
        assert call_hook(client, signer.token(claims())).status_code == 200


def test_audience_may_be_an_array_holding_the_called_url(client):
    token = ES384.token(claims(aud=["https://other.example.org/x", BASE + HOOK_PATH]))
    assert call_hook(client, token).status_code == 200


def test_rsa_key_without_declared_alg_verifies_rs384(jwt_app, keyserver):
    # Epic-style JWKS entries often carry no "alg": the header's RS384 must still work.
    keyserver.replace("GET", EPIC_JWKS, json={"keys": [RS384.public_jwk(with_alg=False)]})
    assert call_hook(jwt_app().test_client(), RS384.token(claims())).status_code == 200


def test_feedback_endpoint_requires_a_token_for_its_own_url(client):
    if not any(rule.rule.endswith("/feedback") for rule in client.application.url_map.iter_rules()):
        pytest.skip("the feedback endpoint is not registered yet")
    body = {"feedback": []}
    assert_refused(client.post(FEEDBACK_PATH, json=body))
    # a token minted for the hook URL is not valid for the feedback URL
    assert_refused(client.post(FEEDBACK_PATH, json=body, headers=bearer(ES384.token(claims()))))
    response = client.post(FEEDBACK_PATH, json=body, headers=bearer(ES384.token(claims(aud=BASE + FEEDBACK_PATH))))
    assert response.status_code != 401


def test_discovery_is_open_unless_protected(jwt_app):
    assert jwt_app().test_client().get(DISCOVERY_PATH).status_code == 200
    protected = jwt_app(protect_discovery=True).test_client()
    assert_refused(protected.get(DISCOVERY_PATH))
    token = ES384.token(claims(aud=BASE + DISCOVERY_PATH))
    assert protected.get(DISCOVERY_PATH, headers=bearer(token)).status_code == 200


def test_public_base_url_is_the_audience_behind_a_proxy(jwt_app):
    client = jwt_app(public_base_url="https://cds.example.org/iron").test_client()
    # the internal URL the proxy forwards to is not what the EHR signed for
    assert_refused(call_hook(client, ES384.token(claims(aud=BASE + HOOK_PATH))))
    assert call_hook(client, ES384.token(claims(aud="https://cds.example.org/iron" + HOOK_PATH))).status_code == 200


def test_tenant_allow_list(jwt_app):
    client = jwt_app(allowed_tenants=("hospital-a",)).test_client()
    assert call_hook(client, ES384.token(claims(tenant="hospital-a"))).status_code == 200
    assert_refused(call_hook(client, ES384.token(claims(tenant="hospital-b"))))
    assert_refused(call_hook(client, ES384.token(claims())))


def test_clock_skew_is_tolerated_within_the_setting(jwt_app):
    client = jwt_app(clock_skew_seconds=60).test_client()
    now = int(time.time())
    assert call_hook(client, ES384.token(claims(iat=now + 30, nbf=now + 30))).status_code == 200
    assert call_hook(client, ES384.token(claims(iat=now - 330, exp=now - 30))).status_code == 200
    assert_refused(call_hook(client, ES384.token(claims(iat=now + 120))))
    assert_refused(call_hook(client, ES384.token(claims(iat=now - 400, exp=now - 90))))


# --- refused -------------------------------------------------------------------------------


def _none_token():
    def b64(obj):
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': ES384.kid})}.{b64(claims())}."


def _hmac_with_public_key(signer: Signer) -> str:
    """The classic key-confusion attack: HS256 'signed' with the verifier's public key as the secret."""
    header = {"alg": "HS256", "typ": "JWT", "kid": signer.kid}
    signing_input = ".".join(
        base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode() for part in (header, claims())
    )
    import hashlib
    import hmac

    for secret in (signer.public_pem(), json.dumps(signer.public_jwk()).encode()):
        mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
        yield signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


REFUSED = {   # case -> (token factory, the reason class logged and counted)
    "expired": (lambda: ES384.token(claims(iat=int(time.time()) - 900, exp=int(time.time()) - 600)), "expired"),
    "not-yet-valid": (lambda: ES384.token(claims(nbf=int(time.time()) + 600)), "not-yet-valid"),
    "issued-in-the-future": (lambda: ES384.token(claims(iat=int(time.time()) + 600)), "not-yet-valid"),
    "wrong-aud": (lambda: ES384.token(claims(aud="https://cds.example.org/cds-services/iron")), "audience"),
    "aud-of-other-service": (lambda: ES384.token(claims(aud=BASE + "/cds-services/other")), "audience"),
    "unknown-iss": (lambda: ES384.token(claims(iss="https://evil.example.com")), "untrusted-issuer"),
    "no-iss": (lambda: ES384.token(claims(iss=None)), "untrusted-issuer"),
    "wrong-key": (lambda: OTHER.token(claims()), "bad-signature"),
    "unknown-kid": (lambda: ES384.token(claims(), kid="no-such-kid"), "unknown-key"),
    "alg-none": (_none_token, "algorithm"),
    "no-exp": (lambda: ES384.token(claims(exp=None)), "missing-claim"),
    "no-iat": (lambda: ES384.token(claims(iat=None)), "missing-claim"),
    "no-jti": (lambda: ES384.token(claims(jti=None)), "missing-claim"),
    "no-aud": (lambda: ES384.token(claims(aud=None)), "missing-claim"),
    "no-kid": (lambda: ES384.token(claims(), kid=None), "malformed"),
    "typ-not-jwt": (lambda: ES384.token(claims(), typ="at+jwt"), "malformed"),
    "lifetime-too-long": (lambda: ES384.token(claims(lifetime=7 * 24 * 3600)), "lifetime"),
    "malformed": (lambda: "not.a.jwt", "malformed"),
    "garbage": (lambda: "eyJhbGciOiJFUzM4NCJ9.%%%.***", "malformed"),
    "es384-header-rsa-key-kid": (lambda: jwt.encode(
        claims(), ES384.private_key, algorithm="ES384", headers={"kid": RS384.kid, "typ": "JWT"}), "unknown-key"),
    "es256-with-p384-key": (lambda: _es256_signed_with_p384(), "bad-signature"),   # a P-384 signature is 96 bytes
}


def _es256_signed_with_p384():
    """A P-384 key used for ES256 (curve/algorithm mismatch) must not verify; PyJWT will not sign it, so we do."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from jwt.utils import base64url_encode, der_to_raw_signature

    def b64(obj):
        return base64url_encode(json.dumps(obj).encode()).decode()

    signing_input = f"{b64({'alg': 'ES256', 'typ': 'JWT', 'kid': ES384.kid})}.{b64(claims())}"
    der = ES384.private_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    raw = der_to_raw_signature(der, ES384.private_key.curve)
    return f"{signing_input}.{base64url_encode(raw).decode()}"


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_bad_tokens_are_refused_with_no_detail(client, case, monkeypatch):
    counted = []
    monkeypatch.setattr("cds_service.ops.metrics.count_jwt_failure", counted.append)
    make_token, reason = REFUSED[case]
    assert_refused(call_hook(client, make_token()))
    assert counted == [reason]


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer  ", "Token abc"])
def test_missing_or_malformed_authorization_header(client, header):
    headers = {} if header is None else {"Authorization": header}
    assert_refused(call_hook(client, headers=headers))


def test_hmac_signed_token_using_public_key_as_secret_is_refused(client):
    for signer in (ES384, RS384):
        for token in _hmac_with_public_key(signer):
            assert_refused(call_hook(client, token))


def test_untrusted_jku_is_refused_and_never_requested(client, keyserver):
    evil = "https://evil.example.com/jwks.json"
    keyserver.get(evil, json=jwks(OTHER))
    assert_refused(call_hook(client, OTHER.token(claims(), jku=evil)))
    assert_refused(call_hook(client, ES384.token(claims(), jku=evil)))
    assert all(c.request.url != evil for c in keyserver.calls)


def test_replayed_token_is_refused(client):
    token = ES384.token(claims())
    assert call_hook(client, token).status_code == 200
    assert_refused(call_hook(client, token))


def test_a_refused_token_does_not_use_up_its_jti(client):
    good = claims()
    assert_refused(call_hook(client, OTHER.token(good)))   # forged with the same jti
    assert call_hook(client, ES384.token(good)).status_code == 200


def test_no_trusted_issuer_refuses_everything_and_says_so(jwt_app, caplog):
    caplog.set_level("WARNING", logger="iron_cds")
    client = jwt_app(trusted_issuers={}).test_client()
    assert any("IRON_CDS_TRUSTED_ISSUERS is empty" in r.getMessage() for r in caplog.records)
    assert_refused(call_hook(client, ES384.token(claims())))


def test_failures_are_counted_by_reason(client, monkeypatch):
    seen = []
    monkeypatch.setattr("cds_service.ops.metrics.count_jwt_failure", seen.append)
    call_hook(client, ES384.token(claims(aud="https://wrong.example.org/")))
    call_hook(client, "nonsense")
    assert seen == ["audience", "malformed"]


def test_refusal_reason_is_logged_with_iss_and_jti_but_not_the_token(client, caplog):
    caplog.set_level("INFO", logger="iron_cds")
    body = claims(aud="https://wrong.example.org/")
    token = ES384.token(body)
    call_hook(client, token)
    refusals = [r for r in caplog.records if getattr(r, "event", None) == "jwt-refused"]
    assert len(refusals) == 1
    assert refusals[0].reason == "audience"
    assert refusals[0].iss == EPIC_ISS and refusals[0].jti == body["jti"]
    assert token not in caplog.text and token.split(".")[2] not in caplog.text


# --- JWKS handling -------------------------------------------------------------------------


def test_jwks_is_fetched_once_for_many_calls(client, keyserver):
    for _ in range(10):
        assert call_hook(client, ES384.token(claims())).status_code == 200
        assert call_hook(client, RS384.token(claims())).status_code == 200
    assert len(jwks_requests(keyserver)) == 1


def test_sandbox_issuer_by_local_jwks_file_with_its_jku(jwt_app, keyserver, tmp_path):
    path = tmp_path / "sandbox-jwks.json"
    path.write_text(json.dumps(jwks(ES384)))
    issuers = {SANDBOX_ISS: TrustedIssuer(SANDBOX_ISS, jwks_url=SANDBOX_JKU, jwks_file=str(path))}
    client = jwt_app(trusted_issuers=issuers).test_client()
    assert call_hook(client, ES384.token(claims(iss=SANDBOX_ISS), jku=SANDBOX_JKU)).status_code == 200
    assert call_hook(client, ES384.token(claims(iss=SANDBOX_ISS))).status_code == 200
    assert_refused(call_hook(client, ES384.token(claims(iss=SANDBOX_ISS), jku="https://elsewhere.example/jwks")))
    assert [c.request.url for c in keyserver.calls] == []   # the file is the only key source: no URL fetched


def test_jwks_file_without_jku_refuses_any_jku(jwt_app, tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(jwks(ES384)))
    issuers = {SANDBOX_ISS: TrustedIssuer(SANDBOX_ISS, jwks_file=str(path))}
    client = jwt_app(trusted_issuers=issuers).test_client()
    assert_refused(call_hook(client, ES384.token(claims(iss=SANDBOX_ISS), jku=SANDBOX_JKU)))
    assert call_hook(client, ES384.token(claims(iss=SANDBOX_ISS))).status_code == 200


def test_unreachable_jwks_refuses_calls(jwt_app, keyserver):
    keyserver.replace("GET", EPIC_JWKS, status=503)
    assert_refused(call_hook(jwt_app().test_client(), ES384.token(claims())))
