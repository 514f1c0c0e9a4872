"""The synthetic fixtures are valid R4, loadable as transactions, consistent and up to date."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter

import pytest
from fhir.resources.R4B import get_fhir_model_class

from support.conformance import INDICATORS, TOPICS
from support.hook_requests import FIXTURES

INDEX = json.loads((FIXTURES / "scenarios.json").read_text())
SCENARIOS = INDEX["scenarios"]
PATIENT_FILES = sorted(p.name for p in (FIXTURES / "patients").glob("*.json"))
ORDER_FILES = sorted(p.name for p in (FIXTURES / "orders").glob("*.json"))
MAX_PATIENT_ENTRIES = 20          # the test FHIR server's search is a linear scan: keep patients small


def _load(relative: str) -> dict:
    return json.loads((FIXTURES / relative).read_text())


def _validate(resource: dict) -> None:
    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def test_committed_fixtures_match_the_generator():
    spec = importlib.util.spec_from_file_location("fixture_build", FIXTURES / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    rendered = module.render()
    stale = [name for name, content in rendered.items() if (FIXTURES / name).read_text() != content]
    assert not stale, f"run `python fhir_fixtures/build.py`: these files differ from the generator: {stale}"
    on_disk = {f"patients/{n}" for n in PATIENT_FILES} | {f"orders/{n}" for n in ORDER_FILES} | {"scenarios.json"}
    assert on_disk == set(rendered), "files on disk that the generator does not make (or the reverse)"


@pytest.mark.parametrize("name", PATIENT_FILES)
def test_patient_bundle_is_a_loadable_transaction_of_valid_resources(name):
    bundle = _load(f"patients/{name}")
    _validate(bundle)
    assert bundle["type"] == "transaction"
    assert 0 < len(bundle["entry"]) <= MAX_PATIENT_ENTRIES
    patients = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert len(patients) == 1
    patient_ref = f"Patient/{patients[0]['id']}"
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert entry["fullUrl"].startswith("urn:uuid:")
        assert entry["request"] == {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}
        assert resource["id"].startswith("icds-"), "fixture ids carry the icds- prefix"
        if resource["resourceType"] != "Patient":
            owner = resource.get("subject") or resource.get("patient")
            assert owner == {"reference": patient_ref}, f"{resource['id']} belongs to another patient"
    ids = [e["request"]["url"] for e in bundle["entry"]]
    assert len(ids) == len(set(ids))


def test_fixture_ids_are_unique_across_patients():
    seen = Counter(e["request"]["url"] for name in PATIENT_FILES for e in _load(f"patients/{name}")["entry"])
    assert [url for url, n in seen.items() if n > 1] == []


def test_fixture_patients_are_obviously_synthetic():
    for name in PATIENT_FILES:
        patient = next(e["resource"] for e in _load(f"patients/{name}")["entry"]
                       if e["resource"]["resourceType"] == "Patient")
        assert patient["name"][0]["family"] == "Fixture"
        assert patient["meta"]["tag"][0]["code"] == "synthetic"


@pytest.mark.parametrize("name", ORDER_FILES)
def test_order_file_holds_valid_draft_orders(name):
    bundle = _load(f"orders/{name}")
    _validate(bundle)
    assert bundle["type"] == "collection" and bundle["entry"]
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert resource["status"] == "draft"
        assert resource["id"].startswith("icds-")


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_scenario_points_to_matching_files(name):
    scenario = SCENARIOS[name]
    patient_bundle = _load(scenario["patient"])
    patient_ids = [e["resource"]["id"] for e in patient_bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    assert patient_ids == [scenario["patient_id"]]
    for entry in _load(scenario["order"])["entry"]:
        assert entry["resource"]["subject"] == {"reference": f"Patient/{scenario['patient_id']}"}
    assert scenario["hook"] in ("order-select", "order-sign")
    assert scenario["demonstrates"]
    for card in scenario["expected"]:
        assert card["topic"] in TOPICS and card["indicator"] in INDICATORS
        assert card["actions"] == sorted(card["actions"])
        assert set(card["actions"]) <= {"create", "update", "delete"}


def test_every_patient_and_order_file_is_used_by_a_scenario():
    used_patients = {s["patient"] for s in SCENARIOS.values()}
    used_orders = {s["order"] for s in SCENARIOS.values()}
    assert {f"patients/{n}" for n in PATIENT_FILES} == used_patients
    assert {f"orders/{n}" for n in ORDER_FILES} == used_orders


def test_scenarios_cover_every_clinical_topic_and_both_sides():
    topics = Counter(card["topic"] for s in SCENARIOS.values() for card in s["expected"])
    # history-unavailable comes from FHIR faults (tested in test_e2e_faults), not from a fixture
    assert set(TOPICS) - {"history-unavailable"} <= set(topics)
    indicators = {card["indicator"] for s in SCENARIOS.values() for card in s["expected"]}
    assert indicators == set(INDICATORS)
    no_card = [n for n, s in SCENARIOS.items() if not s["expected"]]
    assert {"oral-iron", "non-iron"} <= set(no_card)
    drafted = SCENARIOS["observation-already-drafted"]["expected"]
    assert "observation-period" not in {c["topic"] for c in drafted}


def test_all_six_products_have_a_clean_scenario():
    products = {"iron-sucrose", "ferric-carboxymaltose", "ferric-derisomaltose", "ferumoxytol",
                "sodium-ferric-gluconate", "iron-dextran"}
    assert {f"clean-{p}" for p in products} <= set(SCENARIOS)
