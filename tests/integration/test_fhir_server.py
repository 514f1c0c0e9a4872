"""The FHIR test server itself (tests/fhir_server/server.mjs): what the other integration tests rely on."""

from __future__ import annotations

import json

import pytest
import requests

from support.paths import TESTS

SAMPLE = json.loads((TESTS / "fhir_server" / "sample-patient.json").read_text())
PID = "wrapper-check"


@pytest.fixture(scope="module")
def loaded(fhir_server):
    fhir_server.transaction(SAMPLE)
    return fhir_server


def _ids(bundle: dict) -> list[str]:
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    return [entry["resource"]["id"] for entry in bundle.get("entry", [])]


def test_metadata_is_an_r4_capability_statement(fhir_server):
    response = fhir_server.get("metadata")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "CapabilityStatement"
    assert body["fhirVersion"] == "4.0.1"
    assert {"transaction"} <= {i["code"] for i in body["rest"][0]["interaction"]}


def test_transaction_bundle_puts_every_entry(fhir_server):
    answer = fhir_server.transaction(SAMPLE)
    assert answer["type"] == "transaction-response"
    assert len(answer["entry"]) == len(SAMPLE["entry"])
    assert all(entry["response"]["status"].startswith("20") for entry in answer["entry"])
    # PUT keeps our ids, so loading twice is idempotent and references stay valid
    assert fhir_server.get(f"Patient/{PID}").json()["birthDate"] == "1961-04-12"


def test_read_answers_fhir_json_and_404_with_operation_outcome(loaded):
    found = loaded.get(f"Patient/{PID}")
    assert found.status_code == 200
    assert found.headers["Content-Type"].startswith("application/fhir+json")
    missing = loaded.get("Patient/nobody-here")
    assert missing.status_code == 404
    assert missing.json()["resourceType"] == "OperationOutcome"


def test_search_by_bare_patient_id_with_code_sort_and_count(loaded):
    bundle = loaded.get(
        "Observation", params={"patient": PID, "code": "http://loinc.org|29463-7", "_sort": "-date", "_count": "1"}
    ).json()
    assert _ids(bundle) == ["wrapper-check-weight-new"]
    both = loaded.get("Observation", params={"patient": PID, "code": "http://loinc.org|29463-7",
                                             "_sort": "date"}).json()
    assert _ids(both) == ["wrapper-check-weight-old", "wrapper-check-weight-new"]


def test_token_search_with_a_list_of_codes(loaded):
    bundle = loaded.get("Observation", params={"patient": PID,
                                               "code": "http://loinc.org|2276-4,http://loinc.org|4548-4"}).json()
    assert _ids(bundle) == ["wrapper-check-ferritin"]


def test_clinical_status_filter(loaded):
    bundle = loaded.get("Condition", params={"patient": PID, "clinical-status": "active"}).json()
    assert _ids(bundle) == ["wrapper-check-asthma"]


def test_post_search_with_form_encoded_body(loaded):
    response = requests.post(
        f"{loaded.base_url}/Condition/_search",
        data={"patient": PID, "clinical-status": "active"},
        timeout=10,
    )
    assert response.status_code == 200
    assert _ids(response.json()) == ["wrapper-check-asthma"]
    # parameters in the URL count too
    mixed = requests.post(
        f"{loaded.base_url}/Observation/_search?patient={PID}", data={"code": "http://loinc.org|2276-4"}, timeout=10
    )
    assert _ids(mixed.json()) == ["wrapper-check-ferritin"]


def test_cors_preflight_and_headers(loaded):
    preflight = requests.options(
        f"{loaded.base_url}/Observation/_search",
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=10,
    )
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://sandbox.cds-hooks.org"
    assert "POST" in preflight.headers["Access-Control-Allow-Methods"]
    assert "authorization" in preflight.headers["Access-Control-Allow-Headers"].lower()
    simple = loaded.get(f"Patient/{PID}", headers={"Origin": "https://sandbox.cds-hooks.org"})
    assert simple.headers["Access-Control-Allow-Origin"] == "https://sandbox.cds-hooks.org"


def test_bad_json_is_400_operation_outcome(fhir_server):
    response = requests.post(
        fhir_server.base_url, data="{not json", headers={"Content-Type": "application/fhir+json"}, timeout=10
    )
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


def test_token_mode_refuses_calls_without_the_bearer_token(start_fhir_server):
    """FHIR_SERVER_TOKEN makes the server check Authorization, so tests can prove a token is sent."""
    server = start_fhir_server({"FHIR_SERVER_TOKEN": "s3cret-token"})
    assert server.get("metadata").status_code == 200          # the capability statement stays open
    assert server.get("Patient/x").status_code == 401
    assert server.get("Patient/x", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert server.get("Patient/x", headers={"Authorization": "Bearer s3cret-token"}).status_code == 404


def test_missing_node_skips_locally_but_fails_under_ci(monkeypatch, tmp_path):
    from support import fhir_server_plugin as plugin

    monkeypatch.setattr(plugin, "SERVER_DIR", tmp_path)          # no node_modules here
    assert "npm ci --prefix tests/fhir_server" in plugin.unavailable_reason()
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception):
        plugin.require_server_or_skip()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="must run there"):
        plugin.require_server_or_skip()
    monkeypatch.setattr(plugin.shutil, "which", lambda name: None)
    assert plugin.unavailable_reason().startswith("node is not installed")


def test_server_exits_when_its_test_runner_goes_away(start_fhir_server):
    """A crashed pytest must not leave Node servers behind: closing stdin ends the server."""
    server = start_fhir_server()
    server.process.stdin.close()
    assert server.process.wait(timeout=10) == 0
