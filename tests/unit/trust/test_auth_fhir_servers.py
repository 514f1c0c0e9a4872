"""The fhirServer allow-list: a verified issuer may only send us to the FHIR servers it is configured for."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import pytest
import responses

from cds_service.trust.auth import normalise_url
from support.hook_requests import hook_request, medication_request
from support.jwt_keys import EPIC_ISS, EPIC_JWKS, FHIR_BASE, HOOK_PATH, Signer, bearer, claims, epic_issuer, jwks

SIGNER = Signer("RS384")
AUTHZ = {"access_token": "fhir-access-token-value", "token_type": "Bearer", "expires_in": 300,
         "scope": "patient/*.read", "subject": "iron-cds"}


@pytest.fixture
def network():
    """Only the key URL answers; FHIR reads, if any are attempted, are recorded (and fail)."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(EPIC_JWKS, json=jwks(SIGNER))
        yield mock


def _non_key_requests(mock):
    return [c.request.url for c in mock.calls if c.request.url != EPIC_JWKS]


def _call(client, fhir_server):
    body = hook_request(medication_request(), fhirServer=fhir_server, fhirAuthorization=AUTHZ)
    return client.post(HOOK_PATH, json=body, headers=bearer(SIGNER.token(claims())))


@pytest.mark.parametrize(
    "fhir_server",
    [
        "https://evil.example.com/api/FHIR/R4",
        "https://fhir.example.org/api/FHIR/R4/../../admin",
        "https://fhir.example.org/api/FHIR",
        "https://fhir.example.org:8443/api/FHIR/R4",
        "http://fhir.example.org/api/FHIR/R4",
        "https://fhir.example.org@evil.example.com/api/FHIR/R4",
        "https://fhir.example.org/api/FHIR/R4?x=1",
        "http://169.254.169.254/latest/meta-data",
    ],
)
def test_server_not_on_the_list_is_refused_before_any_read(make_app, network, fhir_server):
    app = make_app(auth="jwt", trusted_issuers={EPIC_ISS: epic_issuer((FHIR_BASE,))})
    response = _call(app.test_client(), fhir_server)
    assert response.status_code == 400
    assert response.get_json()["field"] == "fhirServer"
    assert _non_key_requests(network) == []


@pytest.mark.parametrize(
    "fhir_server",
    [FHIR_BASE, FHIR_BASE + "/", "HTTPS://FHIR.example.org/api/FHIR/R4", "https://fhir.example.org:443/api/FHIR/R4"],
)
def test_listed_server_is_allowed_in_any_equivalent_spelling(make_app, network, fhir_server):
    app = make_app(auth="jwt", trusted_issuers={EPIC_ISS: epic_issuer((FHIR_BASE,))})
    response = _call(app.test_client(), fhir_server)
    assert response.status_code != 400 or response.get_json().get("field") != "fhirServer"
    # reads went to the listed server only
    assert all(
        urlsplit(url).hostname == "fhir.example.org" and urlsplit(url).port in (None, 443)
        for url in _non_key_requests(network)
    )


def test_issuer_without_a_list_may_name_any_server_and_start_up_warns(make_app, network, caplog):
    caplog.set_level(logging.WARNING, logger="iron_cds")
    app = make_app(auth="jwt", trusted_issuers={EPIC_ISS: epic_issuer()})
    warnings = [r for r in caplog.records if getattr(r, "event", None) == "no-fhir-allow-list"]
    assert warnings and "server-side request forgery" in warnings[0].getMessage()
    response = _call(app.test_client(), "https://any.example.net/fhir")
    assert not (response.status_code == 400 and response.get_json().get("field") == "fhirServer")


def test_auth_off_has_no_claims_and_no_list(make_app, network):
    client = make_app(auth="off").test_client()
    body = hook_request(medication_request(), fhirServer="https://any.example.net/fhir", fhirAuthorization=AUTHZ)
    response = client.post(HOOK_PATH, json=body)
    assert not (response.status_code == 400 and (response.get_json() or {}).get("field") == "fhirServer")


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://Fhir.Example.org/api/R4/", "https://fhir.example.org/api/R4"),
        ("https://fhir.example.org:443/r4", "https://fhir.example.org/r4"),
        ("http://fhir.example.org:80/r4", "http://fhir.example.org/r4"),
        ("http://127.0.0.1:8080/fhir", "http://127.0.0.1:8080/fhir"),
        ("https://[::1]:8443/fhir", "https://[::1]:8443/fhir"),
        ("https://user:pw@fhir.example.org/r4", None),
        ("ftp://fhir.example.org/r4", None),
        ("https://fhir.example.org/r4#frag", None),
        ("https://fhir.example.org\\@evil/r4", None),
        ("https://fhir.example.org:99999/r4", None),
        ("not a url", None),
        ("", None),
    ],
)
def test_normalise_url(url, expected):
    assert normalise_url(url) == expected
