"""No FHIR read without IV iron (issue 14 item 5): the EHR's token is used only when there is an order to check.

Every test runs the whole hook call against a `responses` mock of the FHIR server that answers every
URL, and counts the calls that were made.
"""

from __future__ import annotations

import re

import pytest
import responses

from support.fhir_mock import AUTH, BASE, medication_server
from support.hook_requests import hook_request, hook_url, medication_request

IV = {"coding": [{"system": "http://snomed.info/sct", "code": "47625008", "display": "Intravenous route"}]}


@pytest.fixture
def fhir():
    with medication_server(BASE) as mock:
        yield mock


def post(client, *drafts, hook="order-sign", **extra):
    body = hook_request(*drafts, hook=hook, fhirServer=BASE, fhirAuthorization=AUTH, **extra)
    response = client.post(hook_url(hook), json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["cards"]


def amoxicillin(rid="amox-1"):
    return {"resourceType": "MedicationRequest", "id": rid, "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/pat-1"},
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": "723", "display": "amoxicillin"}]},
            "dosageInstruction": [{"route": IV}]}


def referenced(med_id, rid="ref-1", display=None):
    reference = {"reference": f"Medication/{med_id}"}
    if display:
        reference["display"] = display
    return {"resourceType": "MedicationRequest", "id": rid, "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/pat-1"}, "medicationReference": reference,
            "dosageInstruction": [{"route": IV, "doseAndRate": [{"doseQuantity": {"value": 750, "unit": "mg"}}],
                                   "timing": {"repeat": {"duration": 15, "durationUnit": "min"}}}]}


@pytest.mark.parametrize("drafts", [
    pytest.param([{"resourceType": "DeviceRequest", "id": "d1", "status": "draft", "intent": "order",
                   "codeCodeableConcept": {"text": "infusion pump"}, "subject": {"reference": "Patient/pat-1"}}],
                 id="device-request"),
    pytest.param([{"resourceType": "ServiceRequest", "id": "s1", "status": "draft", "intent": "order",
                   "code": {"text": "CBC"}, "subject": {"reference": "Patient/pat-1"}}], id="service-request"),
    pytest.param([amoxicillin()], id="amoxicillin"),
    pytest.param([{"resourceType": "MedicationRequest", "id": "m0", "status": "draft", "intent": "order",
                   "subject": {"reference": "Patient/pat-1"}}], id="no-medication"),
    pytest.param([referenced("amox-x", display="amoxicillin 1 g")], id="reference-named-amoxicillin"),
])
def test_drafts_without_iron_cost_no_read_and_get_no_card(client, fhir, drafts):
    assert post(client, *drafts) == []
    assert len(fhir.calls) == 0


def test_prefetch_of_a_call_without_iron_is_not_parsed(client, fhir, monkeypatch):
    from cds_service.fhir import access
    parsed = []
    monkeypatch.setattr(access, "interpret", lambda value: parsed.append(value))
    post(client, amoxicillin(), prefetch={"patient": {"resourceType": "Patient", "id": "pat-1"}})
    assert parsed == [] and len(fhir.calls) == 0


def test_an_iron_order_reads_the_history(client, fhir):
    cards = post(client, medication_request())
    assert cards and len(fhir.calls) > 0


def test_a_reference_that_must_be_read_costs_that_one_read_only_when_not_iron(client, fhir):
    assert post(client, referenced("amox")) == []
    assert [c.request.url for c in fhir.calls] == [f"{BASE}/Medication/amox"]


def test_a_reference_read_that_turns_out_iron_then_reads_the_history(client, fhir):
    cards = post(client, referenced("fcm"))
    urls = [c.request.url for c in fhir.calls]
    assert urls[0] == f"{BASE}/Medication/fcm" and len(urls) > 1
    assert any(c["source"]["topic"]["code"] == "observation-period" for c in cards)


def test_order_select_reads_only_for_a_selected_iron_order(client, fhir):
    body = hook_request(amoxicillin("a1"), medication_request("mr-9"), hook="order-select",
                        fhirServer=BASE, fhirAuthorization=AUTH)
    body["context"]["selections"] = ["MedicationRequest/a1"]
    response = client.post(hook_url("order-select"), json=body)
    assert response.status_code == 200 and response.get_json()["cards"] == []
    assert len(fhir.calls) == 0


def test_a_failed_medication_read_for_a_named_iron_order_is_not_history_unavailable(client):
    # the reference's display names the drug; only its Medication read fails (404)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.GET, re.compile(re.escape(BASE) + r"/Medication/.*"), status=404,
                 json={"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]})
        mock.add(responses.GET, re.compile(re.escape(BASE) + r"/.*"),
                 json={"resourceType": "Bundle", "type": "searchset", "entry": []})
        cards = post(client, referenced("gone", display="Injectafer 750 mg/15 mL"))
    topics = [c["source"]["topic"]["code"] for c in cards]
    assert "history-unavailable" not in topics and "observation-period" in topics
    for card in cards:
        assert not card["detail"].rstrip().endswith(":")     # never a heading with an empty list


def test_an_unreadable_reference_with_an_oral_route_costs_no_read(client, fhir):
    draft = referenced("unknown-med")
    draft["dosageInstruction"][0]["route"] = {"coding": [{"system": "http://snomed.info/sct", "code": "26643006"}]}
    assert post(client, draft) == []
    assert len(fhir.calls) == 0
