"""An IV order whose Medication could not be read: one visible card, no clinical guesses."""

from datetime import datetime, timezone

from cds_service.engine import evaluate
from cds_service.engine.model import EvaluationContext
from cds_service.fhir.record import PatientRecord
from cds_service.knowledge.loader import load_knowledge
from support.hook_requests import medication_request

CTX = EvaluationContext("pat-1", "enc-1", "Practitioner/prac-1", "order-sign",
                        datetime(2026, 11, 25, tzinfo=timezone.utc))


def _referenced_order(rid="mr-ref"):
    order = medication_request(rid)
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": "Medication/med-9"}
    return order


def _bundle(*orders):
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": o} for o in orders]}


def test_unreadable_medication_gives_one_history_unavailable_card_and_no_clinical_card():
    record = PatientRecord()
    record.unavailable["medication:med-9"] = "timeout after 3s"
    findings = evaluate(_bundle(_referenced_order()), None, record, load_knowledge(), CTX, {})
    assert [(f.topic, f.indicator) for f in findings] == [("history-unavailable", "warning")]
    assert "mr-ref" in findings[0].detail and "could not be read" in findings[0].summary


def test_readable_medication_reference_is_checked_as_iron():
    record = PatientRecord()
    record.add({"resourceType": "Medication", "id": "med-9", "code": {"coding": [
        {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1435169"}]}})
    topics = {f.topic for f in evaluate(_bundle(_referenced_order()), None, record, load_knowledge(), CTX, {})}
    assert "observation-period" in topics and "history-unavailable" not in topics


def test_unreadable_medication_beside_an_iron_order_is_listed_in_the_same_card():
    record = PatientRecord()
    record.unavailable["medication:med-9"] = "HTTP 404"
    findings = evaluate(_bundle(medication_request("mr-iron"), _referenced_order()), None, record, load_knowledge(),
                        CTX, {})
    unavailable = [f for f in findings if f.topic == "history-unavailable"]
    assert len(unavailable) == 1 and "mr-ref" in unavailable[0].detail
    assert {f.order.request_id for f in findings if f.order is not None} == {"mr-iron"}
