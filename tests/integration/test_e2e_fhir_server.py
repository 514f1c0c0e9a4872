"""End to end through a real FHIR server (Medplum's engine, tests/fhir_server): every fixture scenario.

Each scenario's patient is loaded into the server with ``load-fixtures``; the hook is then called three
ways: (a) no prefetch: the service reads everything from ``fhirServer`` itself; (b) partial prefetch:
the EHR sent the patient, weight and labs, the service reads the history; (c) full prefetch, resolved
against the server the way an EHR does (``iron-cds fire``'s resolver). The cards (topic, indicator,
suggestion action types) must be the same all three ways and match ``fhir_fixtures/scenarios.json``.
Paging and faults the real server cannot produce are tested with ``responses`` elsewhere.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import datetime

import pytest

from cds_service import LEGACY_SERVICE_ID
from cds_service.ehr.fixtures import load_fixtures
from cds_service.ehr.prefetch import BundleSource, FhirServerSource, resolve_prefetch, token_values
from support.paths import FIXTURES

INDEX = json.loads((FIXTURES / "scenarios.json").read_text()) if (FIXTURES / "scenarios.json").is_file() else {}
SCENARIOS: dict = INDEX.get("scenarios", {})
NOW = datetime.fromisoformat(INDEX["now"].replace("Z", "+00:00")) if "now" in INDEX else None
USER = "Practitioner/icds-prescriber"
ENCOUNTER = "icds-encounter"
PARTIAL_KEYS = ("patient", "weight", "labs")
HOOK_URL = f"/cds-services/{LEGACY_SERVICE_ID}"


@pytest.fixture(scope="module")
def loaded(fhir_server):
    loaded = load_fixtures(fhir_server.base_url)
    assert {item.name for item in loaded} == {p.stem for p in (FIXTURES / "patients").glob("*.json")}
    return fhir_server


@pytest.fixture
def service(make_app, monkeypatch):
    """The service in-process, its clock pinned to the fixtures' ``now`` (their dates sit around it).

    The test server answers one search at a time, scanning every resource, so on a busy CI machine
    the service's parallel reads queue up: a generous read timeout keeps this test about what the
    cards say, not about the test server's speed (timeouts are tested with ``responses``).
    """
    import cds_service.cds_hooks.hooks as hooks

    real = hooks.evaluate
    monkeypatch.setattr(hooks, "evaluate", lambda orders, selections, record, knowledge, ctx, prefetch_keys=None:
                        real(orders, selections, record, knowledge, replace(ctx, now=NOW), prefetch_keys))
    return lambda jurisdiction="US": make_app(fhir_timeout=60.0, jurisdiction=jurisdiction).test_client()


@pytest.fixture
def client(service):
    return service()


_EHR_PREFETCH: dict[tuple, object] = {}


def _ehr_prefetch(base_url: str, templates: dict, patient_id: str):
    """Full prefetch as an EHR resolves it (once per patient: several scenarios share one)."""
    key = (base_url, patient_id, tuple(sorted(templates.items())))
    if key not in _EHR_PREFETCH:
        values = token_values(patient_id, USER, ENCOUNTER)
        _EHR_PREFETCH[key] = resolve_prefetch(templates, values, FhirServerSource(base_url, timeout=60.0))
    return _EHR_PREFETCH[key]


def _templates(client, hook):
    services = client.get("/cds-services").get_json()["services"]
    return next(s for s in services if s["hook"] == hook)["prefetch"]


def _request(name: str, base_url: str, prefetch: dict | None) -> dict:
    scenario = SCENARIOS[name]
    drafts = json.loads((FIXTURES / scenario["order"]).read_text())
    context = {"userId": USER, "patientId": scenario["patient_id"], "encounterId": ENCOUNTER, "draftOrders": drafts}
    if scenario["hook"] == "order-select":
        context["selections"] = [f"MedicationRequest/{e['resource']['id']}" for e in drafts["entry"]
                                 if e["resource"]["resourceType"] == "MedicationRequest"]
    body = {"hook": scenario["hook"], "hookInstance": str(uuid.uuid4()), "fhirServer": base_url, "context": context}
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def _signature(response: dict) -> list[dict]:
    cards = [{"topic": c["source"]["topic"]["code"], "indicator": c["indicator"],
              "actions": sorted(a["type"] for s in c.get("suggestions") or [] for a in s.get("actions") or [])}
             for c in response["cards"]]
    return sorted(cards, key=lambda c: (c["topic"], c["indicator"], c["actions"]))


def _expected(name: str) -> list[dict]:
    return sorted(({"topic": e["topic"], "indicator": e["indicator"], "actions": sorted(e.get("actions") or [])}
                   for e in SCENARIOS[name]["expected"]), key=lambda c: (c["topic"], c["indicator"], c["actions"]))


def _call(client, body: dict) -> dict:
    response = client.post(HOOK_URL, json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


@pytest.mark.skipif(not SCENARIOS, reason="fhir_fixtures/scenarios.json is not there yet")
@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_through_the_real_server_agrees_three_ways(loaded, service, name):
    scenario = SCENARIOS[name]
    client = service(scenario.get("jurisdiction", "US"))
    templates = _templates(client, scenario["hook"])
    full = _ehr_prefetch(loaded.base_url, templates, scenario["patient_id"])
    assert not full.skipped, full.skipped
    partial = {key: full.prefetch[key] for key in PARTIAL_KEYS}

    answers = {
        "no prefetch": _call(client, _request(name, loaded.base_url, None)),
        "partial prefetch": _call(client, _request(name, loaded.base_url, partial)),
        "full prefetch": _call(client, _request(name, loaded.base_url, full.prefetch)),
    }
    for mode, answer in answers.items():
        topics = [card["source"]["topic"]["code"] for card in answer["cards"]]
        assert "history-unavailable" not in topics, (mode, answer)
    signatures = {mode: _signature(answer) for mode, answer in answers.items()}
    assert signatures["no prefetch"] == signatures["partial prefetch"] == signatures["full prefetch"], signatures
    assert signatures["full prefetch"] == _expected(name), scenario["demonstrates"]


@pytest.mark.skipif(not SCENARIOS, reason="fhir_fixtures/scenarios.json is not there yet")
def test_every_template_means_the_same_on_the_server_and_in_a_bundle(loaded, client):
    """``fire --patient-bundle`` must see what ``fire --fhir-server`` sees: same resources for every key.

    (This caught ``AdverseEvent?subject=<bare id>``, which the server matched to nothing.)
    """
    templates = {**_templates(client, "order-sign"), **_templates(client, "order-select")}
    compared = 0
    for path in sorted((FIXTURES / "patients").glob("*.json")):
        bundle = BundleSource(json.loads(path.read_text()))
        (patient_id,) = bundle.patient_ids()
        values = token_values(patient_id, USER, ENCOUNTER)
        from_server = _ehr_prefetch(loaded.base_url, templates, patient_id).prefetch
        from_bundle = resolve_prefetch(templates, values, bundle).prefetch
        for key in templates:
            assert _ids(from_server[key]) == _ids(from_bundle[key]), (path.name, key)
            compared += 1
        resources = {(r["resourceType"], r["id"]) for r in bundle.resources if r["resourceType"] != "Patient"}
        fetched = {(e["resource"]["resourceType"], e["resource"]["id"])
                   for value in from_server.values() if value and value.get("resourceType") == "Bundle"
                   for e in value.get("entry", [])}
        # nothing the patient file holds is invisible to every template, except what we do not look at
        assert not {r for r in resources - fetched if r[0] in ("AdverseEvent", "AllergyIntolerance")}, path.name
    assert compared == len(templates) * len(list((FIXTURES / "patients").glob("*.json")))


def _ids(value):
    if value is None:
        return None
    if value.get("resourceType") == "Bundle":
        # the server does not sort on Period-valued dates (the bundle does), so compare the sets;
        # where _count keeps one entry, that one entry must be the same
        return sorted(e["resource"]["id"] for e in value.get("entry", []))
    return value.get("id")
