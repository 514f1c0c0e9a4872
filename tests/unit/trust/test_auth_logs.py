"""Secrets and PHI never reach the logs: full request cycles, including refusals and FHIR faults."""

from __future__ import annotations

import json
import logging

import pytest
import requests
import responses

from support.hook_requests import hook_request, medication_request
from support.jwt_keys import (
    BASE,
    EPIC_ISS,
    EPIC_JWKS,
    FEEDBACK_PATH,
    FHIR_BASE,
    HOOK_PATH,
    Signer,
    bearer,
    claims,
    epic_issuer,
    jwks,
)

SIGNER = Signer("RS384")
PATIENT_ID = "PHI-pat-73519"
PATIENT_NAME = "Quixotella"
ACCESS_TOKEN = "fhir-access-7f3a9c2e5b1d4e6f8a0b"


def _record_text(record: logging.LogRecord) -> str:
    """Everything a log handler could print from a record: message, extras, exception — unscrubbed."""
    fields = {k: v for k, v in record.__dict__.items() if k not in ("exc_info",)}
    text = json.dumps(fields, default=str) + record.getMessage()
    if record.exc_info:
        text += logging.Formatter().formatException(record.exc_info)
    return text


@pytest.fixture
def fhir_faults():
    """The JWKS answers; the EHR's FHIR server fails in every way it can."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(EPIC_JWKS, json=jwks(SIGNER))
        mock.get(f"{FHIR_BASE}/Patient/{PATIENT_ID}", status=500, body=f"internal error for {PATIENT_ID}")
        mock.get(f"{FHIR_BASE}/AllergyIntolerance", body="<html>not json</html>")
        mock.get(f"{FHIR_BASE}/Observation", body=requests.exceptions.ReadTimeout("timed out"))
        mock.get(f"{FHIR_BASE}/Condition", json={"resourceType": "OperationOutcome", "issue": [
            {"severity": "error", "code": "forbidden", "diagnostics": f"no access to {PATIENT_ID}"}]})
        yield mock


def _body(**extra):
    prefetch = {"patient": {"resourceType": "Patient", "id": PATIENT_ID, "name": [{"family": PATIENT_NAME}]}}
    body = hook_request(
        medication_request(patient=PATIENT_ID),
        patient=PATIENT_ID,
        prefetch=prefetch,
        fhirServer=FHIR_BASE,
        fhirAuthorization={"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 300,
                           "scope": "patient/*.read", "subject": "iron-cds", "patient": PATIENT_ID},
    )
    body.update(extra)
    return body


def test_no_token_jwt_or_patient_id_in_any_log_output(make_app, fhir_faults, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    app = make_app(auth="jwt", trusted_issuers={EPIC_ISS: epic_issuer((FHIR_BASE,))})
    client = app.test_client()
    tokens = []

    def token(**overrides):
        tokens.append(SIGNER.token(claims(**overrides)))
        return tokens[-1]

    statuses, errors = [], []
    # a full cycle with every fallback read failing, then the same token replayed
    good = token()
    first = client.post(HOOK_PATH, json=_body(), headers=bearer(good))
    statuses.append(first.status_code)
    errors.append(first.get_json().get("error"))
    statuses.append(client.post(HOOK_PATH, json=_body(), headers=bearer(good)).status_code)
    # prefetch absent: every key is read from the faulty server
    no_prefetch = _body()
    no_prefetch.pop("prefetch", None)
    statuses.append(client.post(HOOK_PATH, json=no_prefetch, headers=bearer(token())).status_code)
    # refusals of all kinds; the patient id smuggled into claims must not be echoed either
    statuses.append(client.post(HOOK_PATH, json=_body(), headers=bearer(token(aud="https://x.example/"))).status_code)
    statuses.append(client.post(HOOK_PATH, json=_body(), headers=bearer(token(exp=1, iat=0))).status_code)
    statuses.append(client.post(HOOK_PATH, json=_body(), headers=bearer(token(iss="https://evil.example"))).status_code)
    statuses.append(client.post(HOOK_PATH, json=_body(),
                                headers={"Authorization": f"Bearer {ACCESS_TOKEN}"}).status_code)
    # malformed input after a valid token
    bad = _body(context={"patientId": PATIENT_ID, "draftOrders": f"Patient/{PATIENT_ID}"})
    statuses.append(client.post(HOOK_PATH, json=bad, headers=bearer(token())).status_code)
    # a server that is not allowed
    statuses.append(client.post(HOOK_PATH, json=_body(fhirServer=f"https://evil.example/{PATIENT_ID}"),
                                headers=bearer(token())).status_code)
    # feedback with and without a token
    feedback = {"feedback": [{"card": "c-1", "outcome": "overridden", "outcomeTimestamp": "2026-01-01T00:00:00Z",
                              "overrideReason": {"userComment": f"patient {PATIENT_ID} refused"}}]}
    statuses.append(client.post(FEEDBACK_PATH, json=feedback,
                                headers=bearer(token(aud=BASE + FEEDBACK_PATH))).status_code)
    statuses.append(client.post(FEEDBACK_PATH, json=feedback).status_code)

    assert all(status < 500 for status in statuses), statuses
    assert statuses[0] == statuses[2] == 200, (statuses, errors)   # full cycles, through the failing FHIR reads
    assert statuses[1] == 401 and statuses[3:7] == [401] * 4 and statuses[7] == 400 and statuses[8] == 400

    captured = capfd.readouterr()
    everything = "\n".join([captured.out, captured.err, caplog.text] + [_record_text(r) for r in caplog.records])
    assert caplog.records, "the cycle should have logged something"
    secrets = [ACCESS_TOKEN, PATIENT_ID, PATIENT_NAME]
    for jwt_text in tokens:
        secrets.append(jwt_text)
        secrets.extend(jwt_text.split("."))     # no part of a JWT either (its header is shared: skip none)
    leaked = sorted({s for s in secrets if s in everything})
    assert leaked == [], f"found in logs: {leaked}"
