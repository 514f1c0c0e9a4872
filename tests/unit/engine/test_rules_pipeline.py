"""evaluate() with the real order and patient readers: plain FHIR in, findings out (no HTTP)."""

from __future__ import annotations

from fhir.resources.R4B.medicationrequest import MedicationRequest

from cds_service.engine import evaluate
from cds_service.fhir.record import PatientRecord
from support.hook_requests import medication_request
from support.rules import ctx, days_before, knowledge

KEYS = ("weight",)


def bundle(*resources):
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def record(*resources, unavailable=None):
    rec = PatientRecord(unavailable=dict(unavailable or {}))
    rec.add({"resourceType": "Patient", "id": "pat-1", "birthDate": "1970-01-01"})
    for resource in resources:
        rec.add(resource)
    return rec


def weight(kg):
    return {"resourceType": "Observation", "id": "w1", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "subject": {"reference": "Patient/pat-1"}, "effectiveDateTime": days_before(3),
            "valueQuantity": {"value": kg, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}


def topics(findings):
    return sorted(f.topic for f in findings)


def test_a_compliant_order_gets_the_observation_card_only():
    findings = evaluate(bundle(medication_request(dose_mg=750, minutes=15)), None, record(weight(70)), knowledge(),
                        ctx(), KEYS)
    assert topics(findings) == ["observation-period"]


def test_too_much_too_fast_gets_one_update_with_the_lower_dose_and_the_time_it_needs():
    # 1,200 mg over 5 min at 60 kg: the dose card lowers it to 900 mg and sets the 15 min that 900 mg needs; a
    # separate rate update (1,200 mg over 15 min) would undo the dose change if accepted after it.
    findings = evaluate(bundle(medication_request(dose_mg=1200, minutes=5)), None, record(weight(60)), knowledge(),
                        ctx(), KEYS)
    by_topic = {f.topic: f for f in findings}
    assert "dose-limit" in by_topic and "infusion-rate" not in by_topic
    (update,) = by_topic["dose-limit"].suggestions
    MedicationRequest.model_validate(update.resource)
    dosage = update.resource["dosageInstruction"][0]
    assert update.resource["id"] == "mr-1"
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 900 and dosage["timing"]["repeat"]["duration"] == 15


def test_oral_iron_and_other_drugs_get_nothing():
    oral = medication_request(code="310325", display="ferrous sulfate 325 MG Oral Tablet", route="oral")
    oral["dosageInstruction"][0]["route"] = {"coding": [{"system": "http://snomed.info/sct", "code": "26643006",
                                                         "display": "Oral route"}]}
    other = medication_request("mr-2", code="11124", display="vancomycin")
    assert evaluate(bundle(oral, other), None, record(unavailable={"weight": "timeout"}), knowledge(), ctx(),
                    KEYS) == []


def test_history_unavailable_with_an_iron_order():
    findings = evaluate(bundle(medication_request()), None, record(unavailable={"weight": "HTTP 500"}), knowledge(),
                        ctx(), KEYS)
    assert "history-unavailable" in topics(findings) and "dose-limit" in topics(findings)


def test_order_select_checks_only_the_selected_iron_order():
    first, second = medication_request("mr-1"), medication_request("mr-2", dose_mg=500)
    findings = evaluate(bundle(first, second), ["MedicationRequest/mr-2"], record(weight(70)), knowledge(),
                        ctx(hook="order-select"), KEYS)
    assert {f.order.request_id for f in findings if f.order} == {"mr-2"}
    assert all("order 2 of 2" not in f.summary for f in findings)  # only one order is in play
