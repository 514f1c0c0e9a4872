"""``iron-cds fire`` and ``iron-cds load-fixtures`` end to end: a real FHIR server, a patient bundle file,
the service in-process and over HTTP, with and without JWT signing, and every error path."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from cds_service.app import create_app
from cds_service.config import Config, TrustedIssuer
from cds_service.ops.logs import configure_logging
from support.fire import card_signature, error_line, run_cli, serve, write_key
from support.paths import FIXTURES

configure_logging()   # bind the app's log handler to the session's stderr, not to one CliRunner's stream

ORDER = FIXTURES / "orders" / "clean-ferric-carboxymaltose.json"
PATIENT_FILE = FIXTURES / "patients" / "clean.json"
PATIENT = "icds-clean"
ISSUER = "https://ehr.example.org"


@pytest.fixture(autouse=True)
def service_env(monkeypatch, tmp_path):
    """The in-process service reads the environment: give it a private store and no auth by default."""
    for name in list(os.environ):
        if name.startswith("IRON_CDS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("IRON_CDS_AUTH", "off")
    monkeypatch.setenv("IRON_CDS_DATABASE_URL", f"sqlite:///{tmp_path / 'fire.db'}")
    monkeypatch.setenv("IRON_CDS_LOG_LEVEL", "WARNING")


@pytest.fixture(scope="module")
def server(fhir_server):
    result = run_cli("load-fixtures", "--fhir-server", fhir_server.base_url, "--only", "clean")
    assert result.exit_code == 0, result.stderr
    return fhir_server


def _app(tmp_path, **overrides):
    return create_app(replace(Config(auth="off", database_url=f"sqlite:///{tmp_path / 'svc.db'}"), **overrides))


def _topics(response):
    return sorted(card["source"]["topic"]["code"] for card in response["cards"])


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- load-fixtures ---------------------------------------------------------------------------------


def test_load_fixtures_uploads_every_patient_and_is_idempotent(fhir_server):
    names = sorted(p.stem for p in (FIXTURES / "patients").glob("*.json"))
    for _ in range(2):
        result = run_cli("load-fixtures", "--fhir-server", fhir_server.base_url)
        assert result.exit_code == 0, result.stderr
        assert f"{len(names)} fixture patient(s) loaded" in result.stdout
    for name in names:
        bundle = json.loads((FIXTURES / "patients" / f"{name}.json").read_text())
        patient = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
        assert f"loaded {name}: {len(bundle['entry'])} resources (Patient/{patient['id']})" in result.stdout
        assert fhir_server.get(f"Patient/{patient['id']}").status_code == 200


def test_load_fixtures_sends_the_bearer_token(start_fhir_server):
    private = start_fhir_server({"FHIR_SERVER_TOKEN": "load-token"})
    refused = run_cli("load-fixtures", "--fhir-server", private.base_url, "--only", "clean")
    assert refused.exit_code == 1 and "HTTP 401" in error_line(refused)
    loaded = run_cli("load-fixtures", "--fhir-server", private.base_url, "--only", "clean", "--bearer-token",
                     "load-token")
    assert loaded.exit_code == 0, loaded.stderr
    assert private.get(f"Patient/{PATIENT}", headers={"Authorization": "Bearer load-token"}).status_code == 200


@pytest.mark.parametrize("args, message", [
    (["--only", "no-such-patient"], "no fixture patient named 'no-such-patient'"),
    (["--fhir-server", "http://127.0.0.1:{closed}"], "cannot reach FHIR server"),
])
def test_load_fixtures_errors_are_one_line(fhir_server, args, message):
    args = [a.format(closed=_closed_port()) for a in args]
    if "--fhir-server" not in args:
        args = ["--fhir-server", fhir_server.base_url, *args]
    result = run_cli("load-fixtures", *args)
    assert result.exit_code == 1
    assert message in error_line(result)
    assert result.stdout == ""


# --- fire: in-process ---------------------------------------------------------------------------------


def test_fire_in_process_against_the_fhir_server(server):
    result = run_cli("fire", "--order", ORDER, "--fhir-server", server.base_url, "--patient", PATIENT, "--json")
    assert result.exit_code == 0, result.stderr
    response = json.loads(result.stdout)
    assert "observation-period" in _topics(response)
    readable = run_cli("fire", "--order", ORDER, "--fhir-server", server.base_url, "--patient", PATIENT)
    assert readable.exit_code == 0, readable.stderr
    assert "[INFO]" in readable.stdout and "topic observation-period" in readable.stdout
    assert "create ServiceRequest" in readable.stdout


def test_fire_in_process_against_a_patient_bundle_agrees_with_the_server(server):
    from_file = run_cli("fire", "--order", ORDER, "--patient-bundle", PATIENT_FILE, "--json")
    from_server = run_cli("fire", "--order", ORDER, "--fhir-server", server.base_url, "--patient", PATIENT, "--json")
    assert from_file.exit_code == 0 and from_server.exit_code == 0, from_file.stderr + from_server.stderr
    assert card_signature(json.loads(from_file.stdout)) == card_signature(json.loads(from_server.stdout))


def test_fire_order_select_sends_selections(server, tmp_path):
    with serve(_app(tmp_path)) as (url, recorder):
        result = run_cli("fire", "--order", ORDER, "--patient-bundle", PATIENT_FILE, "--hook", "order-select",
                         "--service", url, "--json")
    assert result.exit_code == 0, result.stderr
    sent = recorder.bodies[-1]
    assert sent["hook"] == "order-select"
    order = json.loads(ORDER.read_text())["entry"][0]["resource"]
    assert sent["context"]["selections"] == [f"MedicationRequest/{order['id']}"]


def test_json_output_is_only_json_through_the_console_script(tmp_path):
    """The real entry point in a fresh process: stdout must parse as one JSON document."""
    script = Path(sys.executable).parent / "iron-cds"
    env = {**os.environ, "IRON_CDS_AUTH": "off", "IRON_CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
           "IRON_CDS_LOG_LEVEL": "INFO"}
    done = subprocess.run([str(script), "fire", "--order", str(ORDER), "--patient-bundle", str(PATIENT_FILE), "--json"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    assert "observation-period" in _topics(json.loads(done.stdout))
    assert done.stderr.strip()            # the service's own log lines went to stderr, not stdout


# --- fire: over HTTP, as an EHR -------------------------------------------------------------------


def test_fire_over_http_sends_what_an_ehr_sends(server, tmp_path):
    with serve(_app(tmp_path)) as (url, recorder):
        result = run_cli("fire", "--order", ORDER, "--fhir-server", server.base_url, "--patient", PATIENT,
                         "--bearer-token", "ehr-token", "--service", url, "--encounter", "icds-encounter")
        discovery = _app(tmp_path).test_client().get("/cds-services").get_json()["services"][0]
    assert result.exit_code == 0, result.stderr
    assert "topic observation-period" in result.stdout
    sent = recorder.bodies[-1]
    assert sent["fhirServer"] == server.base_url
    assert sent["fhirAuthorization"]["access_token"] == "ehr-token"
    assert sent["context"]["patientId"] == PATIENT and sent["context"]["encounterId"] == "icds-encounter"
    # every template resolved against the server, each answer what the server itself returns
    assert set(sent["prefetch"]) == set(discovery["prefetch"])
    assert sent["prefetch"]["patient"]["id"] == PATIENT
    assert len(sent["prefetch"]["weight"]["entry"]) <= 1
    for key, value in sent["prefetch"].items():
        if value and value.get("resourceType") == "Bundle":
            for entry in value.get("entry", []):
                subject = entry["resource"].get("subject") or entry["resource"].get("patient")
                assert subject["reference"] == f"Patient/{PATIENT}", key
    # the draft order is for the patient in context
    order = sent["context"]["draftOrders"]["entry"][0]["resource"]
    assert order["subject"]["reference"] == f"Patient/{PATIENT}"


def test_fire_prefetch_none_lets_the_service_read_the_server_with_the_token(start_fhir_server, tmp_path):
    private = start_fhir_server({"FHIR_SERVER_TOKEN": "read-token"})
    assert run_cli("load-fixtures", "--fhir-server", private.base_url, "--only", "clean",
                   "--bearer-token", "read-token").exit_code == 0
    full = run_cli("fire", "--order", ORDER, "--fhir-server", private.base_url, "--patient", PATIENT,
                   "--bearer-token", "read-token", "--json")
    with serve(_app(tmp_path)) as (url, recorder):
        none = run_cli("fire", "--order", ORDER, "--fhir-server", private.base_url, "--patient", PATIENT,
                       "--bearer-token", "read-token", "--prefetch", "none", "--service", url, "--json")
    assert full.exit_code == 0 and none.exit_code == 0, full.stderr + none.stderr
    assert "prefetch" not in recorder.bodies[-1]
    # the service's own reads carried the token (the server refuses any without it): same cards, no gap
    assert card_signature(json.loads(none.stdout)) == card_signature(json.loads(full.stdout))
    assert "history-unavailable" not in _topics(json.loads(none.stdout))
    # and without a token the EHR side cannot read the server at all
    refused = run_cli("fire", "--order", ORDER, "--fhir-server", private.base_url, "--patient", PATIENT)
    assert refused.exit_code == 1 and "refused access (HTTP 401)" in error_line(refused)


@pytest.mark.parametrize("kind, alg", [("ec", "ES384"), ("rsa", "RS384")])
def test_fire_signs_a_jwt_the_service_accepts(server, tmp_path, kind, alg):
    pem, jwks = write_key(tmp_path, kind)
    app = _app(tmp_path, auth="jwt", trusted_issuers={ISSUER: TrustedIssuer(issuer=ISSUER, jwks_file=str(jwks))})
    with serve(app) as (url, _):
        unsigned = run_cli("fire", "--order", ORDER, "--patient-bundle", PATIENT_FILE, "--service", url)
        assert unsigned.exit_code == 1
        assert "HTTP 401" in error_line(unsigned) and "--sign-key" in error_line(unsigned)
        for _ in range(2):   # a fresh jti each call: the replay guard must not refuse the second one
            signed = run_cli("fire", "--order", ORDER, "--patient-bundle", PATIENT_FILE, "--service", url,
                             "--sign-key", pem, "--issuer", ISSUER, "--json")
            assert signed.exit_code == 0, signed.stderr
            assert "observation-period" in _topics(json.loads(signed.stdout))
        stranger = run_cli("fire", "--order", ORDER, "--patient-bundle", PATIENT_FILE, "--service", url,
                           "--sign-key", pem, "--issuer", "https://someone-else.example", "--json")
        assert stranger.exit_code == 1 and "HTTP 401" in error_line(stranger)
        assert stranger.stdout == ""


def test_fire_signs_for_the_in_process_service_too(server, tmp_path, monkeypatch):
    pem, jwks = write_key(tmp_path, "ec")
    monkeypatch.setenv("IRON_CDS_AUTH", "jwt")
    monkeypatch.setenv("IRON_CDS_TRUSTED_ISSUERS", json.dumps({ISSUER: str(jwks)}))
    unsigned = run_cli("fire", "--order", ORDER, "--fhir-server", server.base_url, "--patient", PATIENT)
    assert unsigned.exit_code == 1 and "in-process service answered HTTP 401" in error_line(unsigned)
    signed = run_cli("fire", "--order", ORDER, "--fhir-server", server.base_url, "--patient", PATIENT,
                     "--sign-key", pem, "--issuer", ISSUER, "--json")
    assert signed.exit_code == 0, signed.stderr
    assert "observation-period" in _topics(json.loads(signed.stdout))


def test_sandbox_recipe_key_file_with_its_jku(server, tmp_path, monkeypatch):
    """The README's CDS Hooks sandbox set-up: keys from a local file, the token's jku recognised, not fetched."""
    pem, jwks = write_key(tmp_path, "ec")
    jku = "https://sandbox.example.invalid/.well-known/jwks.json"     # never reachable: proves nothing is fetched
    monkeypatch.setenv("IRON_CDS_AUTH", "jwt")
    monkeypatch.setenv("IRON_CDS_TRUSTED_ISSUERS", json.dumps({ISSUER: {"jwks_file": str(jwks), "jwks_url": jku}}))
    signed = run_cli("fire", "--order", ORDER, "--patient-bundle", PATIENT_FILE, "--sign-key", pem,
                     "--issuer", ISSUER, "--jku", jku, "--json")
    assert signed.exit_code == 0, signed.stderr
    other_jku = run_cli("fire", "--order", ORDER, "--patient-bundle", PATIENT_FILE, "--sign-key", pem,
                        "--issuer", ISSUER, "--jku", "https://attacker.example.invalid/jwks.json")
    assert other_jku.exit_code == 1 and "HTTP 401" in error_line(other_jku)


# --- fire: errors ------------------------------------------------------------------------------------


def test_unreachable_fhir_server(tmp_path):
    result = run_cli("fire", "--order", ORDER, "--fhir-server", f"http://127.0.0.1:{_closed_port()}", "--patient",
                     PATIENT)
    assert result.exit_code == 1 and result.stdout == ""
    assert "cannot reach FHIR server" in error_line(result) and "connection refused" in error_line(result)


def test_unknown_patient(server):
    result = run_cli("fire", "--order", ORDER, "--fhir-server", server.base_url, "--patient", "no-such-patient",
                     "--json")
    assert result.exit_code == 1 and result.stdout == ""
    assert "patient 'no-such-patient' not found" in error_line(result)


def test_patient_missing_from_bundle(tmp_path):
    result = run_cli("fire", "--order", ORDER, "--patient-bundle", PATIENT_FILE, "--patient", "someone-else")
    assert result.exit_code == 1 and "not in the patient bundle" in error_line(result)


@pytest.mark.parametrize("content, message", [
    ("{broken", "is not valid JSON"),
    ('{"resourceType": "Observation", "id": "o"}', "expected a MedicationRequest"),
    (None, "cannot read order file"),
])
def test_bad_order_file(tmp_path, content, message):
    path = tmp_path / "order.json"
    if content is not None:
        path.write_text(content)
    result = run_cli("fire", "--order", path, "--patient-bundle", PATIENT_FILE, "--json")
    assert result.exit_code == 1 and result.stdout == ""
    assert message in error_line(result)


def test_bad_patient_bundle_and_option_mistakes(tmp_path, server):
    not_bundle = tmp_path / "patient.json"
    not_bundle.write_text('{"resourceType": "Patient", "id": "x"}')
    cases = [
        (["--patient-bundle", not_bundle], "is not a FHIR Bundle"),
        (["--fhir-server", server.base_url], "--fhir-server needs --patient"),
        (["--patient-bundle", PATIENT_FILE, "--fhir-server", server.base_url, "--patient", PATIENT], "not both"),
        (["--patient-bundle", PATIENT_FILE, "--sign-key", not_bundle], "--sign-key and --issuer go together"),
        (["--patient-bundle", PATIENT_FILE, "--prefetch", "weight,nonsense"], "does not define: nonsense"),
        (["--patient-bundle", PATIENT_FILE, "--service", "ftp://x"], "--service must be an http(s) URL"),
    ]
    for args, message in cases:
        result = run_cli("fire", "--order", ORDER, *args)
        assert result.exit_code == 1, args
        assert message in error_line(result), args


def test_unreachable_service():
    result = run_cli("fire", "--order", ORDER, "--patient-bundle", PATIENT_FILE,
                     "--service", f"http://127.0.0.1:{_closed_port()}")
    assert result.exit_code == 1 and "cannot reach service" in error_line(result)


def test_service_error_status_is_reported(tmp_path):
    with serve(_app(tmp_path)) as (url, _):
        result = run_cli("fire", "--order", ORDER, "--patient-bundle", PATIENT_FILE,
                         "--service", f"{url}/cds-services/no-such-service")
    assert result.exit_code == 1
    assert "offers no 'no-such-service' service for hook order-sign" in error_line(result)
