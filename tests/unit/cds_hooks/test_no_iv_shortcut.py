"""A hook call whose drafts hold no order to check skips the engine and the card builder (hooks.py,
``has_orders_to_check``). Proven equal to the plain way: every request of the table is answered twice, once as
the service does and once with the engine always run, and the answer, the hook-call log line and the
audited cards must agree. The table has calls on both sides (the shortcut taken and not)."""

from __future__ import annotations

import copy
import logging

import pytest

import cds_service.cds_hooks.hooks as hooks
from support.e2e import SCENARIOS, clients_by_jurisdiction, comparable, pin_now, request_with_prefetch, service_url
from support.hook_requests import hook_request, hook_url, medication_request

IV = {"coding": [{"system": "http://snomed.info/sct", "code": "47625008", "display": "Intravenous route"}]}
ORAL = {"coding": [{"system": "http://snomed.info/sct", "code": "26643006", "display": "Oral route"}]}


def _amoxicillin(rid="amox-1", route=ORAL):
    return {"resourceType": "MedicationRequest", "id": rid, "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/pat-1"},
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": "723", "display": "amoxicillin"}]},
            "dosageInstruction": [{"route": route}]}


def _referenced(med_id, rid="ref-1", route=IV):
    return {"resourceType": "MedicationRequest", "id": rid, "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/pat-1"}, "medicationReference": {"reference": f"Medication/{med_id}"},
            "dosageInstruction": [{"route": route}]}


def _selecting(body, *selections):
    body = copy.deepcopy(body)
    body["context"]["selections"] = list(selections)
    return body


IRON = medication_request("fcm-1")
ORAL_IRON = medication_request("oral-1", code="310325", display="ferrous sulfate 325 MG Oral Tablet", route="oral")
CARRIED = {"resourceType": "Medication", "id": "carried", "code": {"text": "iron sucrose 20 mg/mL injection"}}
# Made-up requests around the edge of "nothing to check": no fhirServer, so an unread Medication stays unread.
MADE = {
    "oral antibiotic": hook_request(_amoxicillin()),
    "IV antibiotic": hook_request(_amoxicillin(route=IV)),
    "no drafts": hook_request(),
    "a device only": hook_request({"resourceType": "DeviceRequest", "id": "dr-1", "status": "draft",
                                   "intent": "order", "subject": {"reference": "Patient/pat-1"}}),
    "oral iron": hook_request(ORAL_IRON),
    "IV iron": hook_request(IRON),
    "IV iron beside an antibiotic": hook_request(_amoxicillin(), IRON),
    "unreadable Medication, IV": hook_request(_referenced("nowhere")),
    "unreadable Medication, oral": hook_request(_referenced("nowhere", route=ORAL)),
    "carried iron Medication": hook_request(CARRIED, _referenced("carried")),
    "order-select: the antibiotic selected": _selecting(
        hook_request(_amoxicillin(), IRON, hook="order-select"), "MedicationRequest/amox-1"),
    "order-select: the iron selected": _selecting(
        hook_request(_amoxicillin(), IRON, hook="order-select"), "MedicationRequest/fcm-1"),
    "order-select: the unreadable one not selected": _selecting(
        hook_request(_amoxicillin(), _referenced("nowhere"), hook="order-select"), "MedicationRequest/amox-1"),
}


@pytest.fixture
def answer(make_app, monkeypatch, caplog):
    """``answer(body, name, plain)``: (status, cards, hook-call line fields, audited cards) of one call."""
    pin_now(monkeypatch)
    client_for = clients_by_jurisdiction(lambda jurisdiction: make_app(jurisdiction=jurisdiction).test_client())
    caplog.set_level(logging.INFO, logger="iron_cds")
    real = hooks.has_orders_to_check

    def _answer(body: dict, scenario: str | None, plain: bool):
        client = client_for(scenario) if scenario else client_for(next(iter(SCENARIOS)))
        monkeypatch.setattr(hooks, "has_orders_to_check", (lambda *args: True) if plain else real)
        store = client.application.extensions["iron_cds"].store
        queued = []
        monkeypatch.setattr(store, "record_issued_later", lambda service, hook, cards: queued.extend(cards))
        caplog.clear()
        response = client.post(service_url(client, body["hook"]) if scenario else hook_url(body["hook"]), json=body)
        lines = [r for r in caplog.records if getattr(r, "event", None) == "hook-call"]
        assert len(lines) == 1
        line = {k: v for k, v in vars(lines[0]).items() if k in ("service", "hook", "cards", "data_sources")}
        return response.status_code, comparable(response.get_json()), line, comparable({"cards": queued})

    return _answer


def _check_equal(answer, body, scenario=None):
    shortcut = answer(body, scenario, plain=False)
    assert shortcut[0] == 200
    assert shortcut == answer(body, scenario, plain=True)


@pytest.mark.parametrize("name", sorted(MADE))
def test_made_up_requests_are_answered_as_with_the_engine(answer, name):
    _check_equal(answer, MADE[name])


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_every_scenario_is_answered_as_with_the_engine(answer, make_app, name):
    client = make_app(jurisdiction=SCENARIOS[name].get("jurisdiction", "US")).test_client()
    _check_equal(answer, request_with_prefetch(client, name), name)


def test_the_table_has_calls_on_both_sides(client, monkeypatch):
    real, decided = hooks.has_orders_to_check, []
    monkeypatch.setattr(hooks, "has_orders_to_check", lambda *args: decided.append(real(*args)) or decided[-1])
    taken = {}
    for name, body in MADE.items():
        decided.clear()
        assert client.post(hook_url(body["hook"]), json=body).status_code == 200
        taken[name] = decided == [False]
    assert taken == {
        "oral antibiotic": True, "IV antibiotic": True, "no drafts": True, "a device only": True, "oral iron": True,
        "IV iron": False, "IV iron beside an antibiotic": False, "unreadable Medication, IV": False,
        "unreadable Medication, oral": True, "carried iron Medication": False,
        "order-select: the antibiotic selected": True, "order-select: the iron selected": False,
        "order-select: the unreadable one not selected": True,
    }
