"""The access token stays on fhirServer: Bundle ``next`` links against REAL local servers.

The attacker's host is a real HTTP server on 127.0.0.1 that records every request it gets
(and its Authorization header), so these tests prove what the HTTP client really connected
to, not what a URL parser thought it would. Issue 10, findings 1 and 6.
"""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

from cds_service.cds_hooks.discovery import PrefetchKey
from cds_service.config import Config, TrustedIssuer
from cds_service.ehr.prefetch import FhirServerSource
from cds_service.fhir.access import gather_record
from cds_service.fhir.urls import Refused, parse_base, resolve_link
from cds_service.ops.logs import JsonFormatter
from support.hook_requests import hook_request, medication_request
from support.jwt_keys import EPIC_ISS, HOOK_PATH, Signer, bearer, claims, jwks
from support.local_http import local_server, send_json

TOKEN = "ehr-access-token-5f3a"
PATIENT = "pat-77"
KEYS = (PrefetchKey("allergies", "AllergyIntolerance?patient={{context.patientId}}"),)
ALLERGY = {"resourceType": "AllergyIntolerance", "id": "a1", "patient": {"reference": f"Patient/{PATIENT}"}}


def _page(next_url=None, rid="a1"):
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {**ALLERGY, "id": rid}}]}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def _request(base, prefetch=None):
    body = {"hook": "order-sign", "hookInstance": "h-next-1", "fhirServer": base,
            "fhirAuthorization": {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 300,
                                  "scope": "patient/*.read", "subject": "iron-cds"},
            "context": {"patientId": PATIENT, "userId": "Practitioner/p1",
                        "draftOrders": {"resourceType": "Bundle", "entry": []}}}
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def _state():
    return SimpleNamespace(config=Config(fhir_timeout=2.0, fhir_max_pages=5), extras={})


def _backslash_link(attacker, fhir):
    # The exact shape from the issue: urlsplit sees fhir's port, urllib3 connects to the attacker's.
    return f"http://127.0.0.1:{attacker.port}\\@127.0.0.1:{fhir.port}/fhir/AllergyIntolerance?page=2"


def _serve_page_with_next(make_link):
    """A FHIR server whose first search page links to ``make_link(server)``; page 2 is harmless."""
    def respond(handler):
        if "page=2" in handler.path:
            send_json(handler, _page(rid="a2"))
        else:
            send_json(handler, _page(make_link(handler.server)))
    return respond


# --- the exact attack from the issue ----------------------------------------------------------------

def test_backslash_next_link_from_the_fhir_server_never_reaches_the_attacker():
    with local_server() as attacker:
        with local_server(_serve_page_with_next(lambda fhir: _backslash_link(attacker, fhir))) as fhir:
            record = gather_record(_request(f"{fhir.origin}/fhir"), KEYS, _state())
    assert attacker.seen == [] and attacker.tokens() == []
    assert fhir.tokens() == [f"Bearer {TOKEN}"]          # page 1 only, on fhirServer
    assert [a["id"] for a in record.of_type("AllergyIntolerance")] == ["a1"]
    assert record.incomplete["allergies"] == "next page not followed: backslash in the URL"


def test_backslash_next_link_in_the_prefetch_never_reaches_the_attacker():
    with local_server() as attacker, local_server() as fhir:
        prefetch = {"allergies": _page(_backslash_link(attacker, fhir))}
        record = gather_record(_request(f"{fhir.origin}/fhir", prefetch), KEYS, _state())
    assert attacker.seen == [] and fhir.seen == []
    assert record.incomplete["allergies"] == "next prefetch page not followed: backslash in the URL"


def test_allow_listed_server_cannot_hand_the_token_to_another_host(make_app, tmp_path):
    """The fhir_servers allow-list checks fhirServer; the next link must not be a way around it."""
    signer = Signer("ES384")
    keys_file = tmp_path / "jwks.json"
    keys_file.write_text(json.dumps(jwks(signer)))
    with local_server() as attacker:
        with local_server(_serve_page_with_next(lambda fhir: _backslash_link(attacker, fhir))) as fhir:
            base = f"{fhir.origin}/fhir"
            issuer = TrustedIssuer(issuer=EPIC_ISS, jwks_file=str(keys_file), fhir_servers=(base,))
            app = make_app(auth="jwt", trusted_issuers={EPIC_ISS: issuer}, fhir_timeout=2.0)
            body = hook_request(medication_request(patient=PATIENT), patient=PATIENT, fhirServer=base,
                                fhirAuthorization=_request(base)["fhirAuthorization"])
            response = app.test_client().post(HOOK_PATH, json=body, headers=bearer(signer.token(claims())))
    assert response.status_code == 200
    assert any(path.startswith("/fhir/AllergyIntolerance") for path in fhir.paths())   # the read happened
    assert attacker.seen == []


# --- links that stay on the host but leave fhirServer's path ----------------------------------------

_ODD_CHARACTER = "whitespace, control or non-ASCII character in the URL"


@pytest.mark.parametrize("link, reason", [
    ("{origin}/admin/secret", "outside the fhirServer path"),
    ("{origin}/fhirx/AllergyIntolerance?page=2", "outside the fhirServer path"),
    ("{origin}/fhir/../internal?page=2", "dot segment in the path"),
    ("{origin}/fhir/%2e%2E/internal?page=2", "dot segment in the path"),
    ("{origin}/fhir/..%2Finternal?page=2", "dot segment in the path"),
    ("../internal?page=2", "dot segment in the path"),
    ("http://someone@127.0.0.1:{port}/fhir/AllergyIntolerance?page=2", "user info in the URL"),
    ("{origin}/fhir/AllergyIntolerance?page=2 x", _ODD_CHARACTER),
    ("{origin}/fhir/AllergyIntolerance?page=2\r\nX-Injected: 1", _ODD_CHARACTER),
])
def test_links_leaving_the_base_path_are_not_followed(link, reason):
    def make_link(fhir):
        return link.format(origin=fhir.origin, port=fhir.port)
    with local_server(_serve_page_with_next(make_link)) as fhir:
        record = gather_record(_request(f"{fhir.origin}/fhir"), KEYS, _state())
    assert len(fhir.seen) == 1 and fhir.paths()[0].startswith("/fhir/AllergyIntolerance?patient=")
    assert record.incomplete["allergies"] == f"next page not followed: {reason}"


def test_a_link_under_the_base_path_is_followed_with_the_token():
    with local_server(_serve_page_with_next(lambda fhir: f"{fhir.origin}/fhir/AllergyIntolerance?page=2")) as fhir:
        record = gather_record(_request(f"{fhir.origin}/fhir"), KEYS, _state())
    assert [a["id"] for a in record.of_type("AllergyIntolerance")] == ["a1", "a2"]
    assert fhir.tokens() == [f"Bearer {TOKEN}"] * 2
    assert "allergies" not in record.incomplete


def test_the_refusal_is_logged_without_the_query_or_the_token(caplog):
    caplog.set_level(logging.INFO, logger="iron_cds")
    with local_server() as attacker:
        link = f"http://127.0.0.1:{attacker.port}/fhir/AllergyIntolerance?patient={PATIENT}&page=2"
        with local_server(_serve_page_with_next(lambda fhir: link)) as fhir:
            gather_record(_request(f"{fhir.origin}/fhir"), KEYS, _state())
    refusals = [r for r in caplog.records if getattr(r, "event", None) == "fhir-url-refused"]
    assert len(refusals) == 1 and refusals[0].reason == "another host"
    assert refusals[0].target == f"http://127.0.0.1:{attacker.port}"
    text = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert PATIENT not in text and "page=2" not in text and TOKEN not in text
    assert attacker.seen == []


# --- iron-cds fire (the EHR side) uses the same check -------------------------------------------------

def test_fire_follows_no_backslash_link_to_another_host():
    with local_server() as attacker:
        with local_server(_serve_page_with_next(lambda fhir: _backslash_link(attacker, fhir))) as fhir:
            bundle = FhirServerSource(f"{fhir.origin}/fhir", bearer_token=TOKEN, timeout=2.0).fetch(
                f"AllergyIntolerance?patient={PATIENT}")
    assert attacker.seen == []
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["a1"]


# --- the rules themselves, without a network ----------------------------------------------------------

BASE = parse_base("https://fhir.example.org/api/FHIR/R4/")


@pytest.mark.parametrize("link", [
    "https://fhir.example.org/api/FHIR/R4/Observation?page=2",
    "HTTPS://FHIR.example.org:443/api/FHIR/R4/Observation?code=http%3A%2F%2Floinc.org%7C718-7",
    "https://fhir.example.org/api/FHIR/R4",
    "Observation?page=2",
])
def test_links_on_the_base_are_resolved(link):
    resolved = resolve_link(link, BASE, page_url="https://fhir.example.org/api/FHIR/R4/Observation")
    assert resolved.lower().startswith(("https://fhir.example.org/api/fhir/r4", "https://fhir.example.org:443/api/fhir/r4"))
    assert BASE.owns(resolved)


@pytest.mark.parametrize("link", [
    "https://fhir.example.org\\@evil.example/api/FHIR/R4/x",
    "https://evil.example\\@fhir.example.org/api/FHIR/R4/x",
    "https://fhir.example.org:443@evil.example/api/FHIR/R4/x",
    "https://evil.example#@fhir.example.org/api/FHIR/R4/x",
    "https://fhir.example.org/api/FHIR/R4/%2E/x",
    "https://fhir.example.org/api/FHIR/R4/./x",
    "https://fhir.example.org/api/FHIR/R4/x/%2e%2e/%2e%2e/%2e%2e/admin",
    "https://fhir.example.org/api/FHIR/R4\t/x",
    "https://fhir.example.org/api/FHIR/R4/x\x00",
    "https://fhir.example.org/api/FHIR/R4/ｘ",
    "https://fhir.example.org/api/FHIR/R4x",
    "http://fhir.example.org/api/FHIR/R4/x",
    "https://fhir.example.org:8443/api/FHIR/R4/x",
    "//evil.example/api/FHIR/R4/x",
    "file:///etc/passwd",
    None,
])
def test_links_off_the_base_are_refused(link):
    with pytest.raises(Refused):
        resolve_link(link, BASE)


def test_ids_cannot_climb_out_of_the_base():
    assert BASE.join("Patient/abc") == "https://fhir.example.org/api/FHIR/R4/Patient/abc"
    for relative in ("Patient/..", "Patient/.", "Patient/%2e%2e", "..", "Patient/..%2F..%2Fadmin"):
        with pytest.raises(Refused):
            BASE.join(relative)


@pytest.mark.parametrize("server", [
    "http://127.0.0.1:5079\\@127.0.0.1:5080/fhir",
    "http://user@127.0.0.1:5080/fhir",
    "http://127.0.0.1:5080/fhir?x=1",
    "http://127.0.0.1:5080/fhir/../admin",
])
def test_a_fhir_server_the_reads_would_parse_differently_is_a_400(client, server):
    body = hook_request(medication_request(), fhirServer=server)
    response = client.post(HOOK_PATH, json=body)
    assert response.status_code == 400 and response.get_json()["field"] == "fhirServer"
