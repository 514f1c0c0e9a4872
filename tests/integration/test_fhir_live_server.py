"""gather_record against the real FHIR test server (Medplum in memory): our own templates, read for real."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from cds_service.engine.model import EvaluationContext
from cds_service.engine.patient import read_patient
from cds_service.fhir.access import gather_record

PID = "fhir-access-live"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOINC = "http://loinc.org"


def _put(resource: dict) -> dict:
    return {"resource": resource, "request": {"method": "PUT", "url": f"{resource['resourceType']}/{resource['id']}"}}


def _observation(rid: str, code: str, value: float, unit: str, when: str, status: str = "final") -> dict:
    return {"resourceType": "Observation", "id": rid, "status": status, "subject": {"reference": f"Patient/{PID}"},
            "code": {"coding": [{"system": LOINC, "code": code}]}, "effectiveDateTime": when,
            "valueQuantity": {"value": value, "unit": unit}}


@pytest.fixture(scope="module")
def loaded(fhir_server):
    subject = {"reference": f"Patient/{PID}"}
    fhir_server.transaction({"resourceType": "Bundle", "type": "transaction", "entry": [
        _put({"resourceType": "Patient", "id": PID, "birthDate": "1950-02-01", "gender": "female"}),
        _put(_observation(f"{PID}-w-old", "29463-7", 70, "kg", "2024-01-01T08:00:00Z")),
        _put(_observation(f"{PID}-w-new", "29463-7", 64, "kg", "2025-06-01T08:00:00Z")),
        _put(_observation(f"{PID}-w-error", "29463-7", 6.4, "kg", "2025-06-02T08:00:00Z", "entered-in-error")),
        _put(_observation(f"{PID}-w-cancelled", "29463-7", 46, "kg", "2025-06-03T08:00:00Z", "cancelled")),
        _put(_observation(f"{PID}-ferritin", "2276-4", 15, "ng/mL", "2025-06-01T08:00:00Z")),
        _put({"resourceType": "AllergyIntolerance", "id": f"{PID}-allergy", "patient": subject,
              "code": {"text": "penicillin"}, "category": ["medication"]}),
        _put({"resourceType": "Condition", "id": f"{PID}-asthma", "subject": subject,
              "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                             "code": "active"}]},
              "code": {"coding": [{"system": "http://snomed.info/sct", "code": "195967001"}]}}),
        _put({"resourceType": "MedicationAdministration", "id": f"{PID}-fcm", "status": "completed",
              "subject": subject, "effectiveDateTime": "2025-05-20T10:00:00Z",
              "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "1435169"}]}}),
        _put({"resourceType": "Medication", "id": f"{PID}-med",
              "code": {"coding": [{"system": RXNORM, "code": "1435169"}]}}),
    ]})
    return fhir_server


def test_every_key_is_read_from_the_real_server(loaded, make_app):
    state = make_app(fhir_timeout=5).extensions["iron_cds"]
    order = {"resourceType": "MedicationRequest", "id": "mr-live", "status": "draft", "intent": "order",
             "subject": {"reference": f"Patient/{PID}"}, "medicationReference": {"reference": f"Medication/{PID}-med"}}
    body = {"hook": "order-sign", "hookInstance": "live-1", "fhirServer": loaded.base_url,
            "fhirAuthorization": {"access_token": "any", "token_type": "Bearer"},
            "context": {"patientId": PID, "userId": "Practitioner/p",
                        "draftOrders": {"resourceType": "Bundle", "type": "collection",
                                        "entry": [{"resource": order}]}}}
    record = gather_record(body, state.prefetch, state)
    assert record.unavailable == {}
    assert {k.key for k in state.prefetch} | {f"medication:{PID}-med"} == set(record.sources)
    assert set(record.sources.values()) == {"fhir"}
    assert record.patient["id"] == PID
    observations = {o["id"] for o in record.of_type("Observation")}
    # weight asks for the newest few of a status the reader uses: the newer entered-in-error and cancelled
    # weights are filtered out by the server, so the valid newest one is read
    assert observations == {f"{PID}-w-new", f"{PID}-w-old", f"{PID}-ferritin"}
    ctx = EvaluationContext(patient_id=PID, encounter_id=None, user_id=None, hook="order-sign",
                            now=datetime(2025, 6, 10, tzinfo=timezone.utc), jurisdiction="US")
    assert read_patient(record, state.knowledge, ctx).weight_kg == 64
    assert [a["id"] for a in record.of_type("AllergyIntolerance")] == [f"{PID}-allergy"]
    assert [c["id"] for c in record.of_type("Condition")] == [f"{PID}-asthma"]
    assert [m["id"] for m in record.of_type("MedicationAdministration")] == [f"{PID}-fcm"]
    assert [m["id"] for m in record.of_type("Medication")] == [f"{PID}-med"]


def test_an_unknown_patient_is_unavailable_not_an_empty_history(loaded, make_app):
    state = make_app(fhir_timeout=5).extensions["iron_cds"]
    body = {"hook": "order-sign", "hookInstance": "live-2", "fhirServer": loaded.base_url,
            "context": {"patientId": "no-such-patient", "userId": "Practitioner/p",
                        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": []}}}
    record = gather_record(body, state.prefetch, state)
    assert record.unavailable["patient"].startswith("HTTP 404")
    assert record.patient is None
