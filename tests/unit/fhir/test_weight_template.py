"""The weight prefetch template asks for the weights the reader uses: a newer entered-in-error (or cancelled) weight
must not take the only place in the answer and hide the valid one. Prefetched or read by the service (fallback), the
same template is used, so both paths are tested."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from cds_service.cds_hooks.discovery import prefetch_keys
from cds_service.ehr.bundle_search import search_bundle
from cds_service.engine.model import EvaluationContext
from cds_service.engine.observations import READ_STATUS, SKIPPED_STATUS
from cds_service.engine.patient import read_patient
from cds_service.fhir.record import PatientRecord
from support.bundle_fhir import prefetch_for
from support.rules import NOW, knowledge

R4_OBSERVATION_STATUS = {"registered", "preliminary", "final", "amended", "corrected", "cancelled",
                         "entered-in-error", "unknown"}
K = knowledge()
TEMPLATE = next(k.template for k in prefetch_keys(K) if k.key == "weight")


def _weight(rid, kg, day, status="final"):
    return {"resourceType": "Observation", "id": rid, "status": status, "subject": {"reference": "Patient/p1"},
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "effectiveDateTime": f"2026-11-{day:02d}T08:00:00Z", "valueQuantity": {"value": kg, "unit": "kg"}}


def _bundle(*weights):
    patient = {"resourceType": "Patient", "id": "p1", "birthDate": "1980-01-01"}
    return {"resourceType": "Bundle", "entry": [{"resource": r} for r in (patient, *weights)]}


def _weight_read(bundle) -> float | None:
    answer = prefetch_for(bundle, {"weight": TEMPLATE}, {"patientId": "p1"})["weight"]
    record = PatientRecord()
    for entry in answer["entry"]:
        record.add(entry["resource"])
    ctx = EvaluationContext(patient_id="p1", encounter_id=None, user_id=None, hook="order-sign", now=NOW,
                            jurisdiction="US")
    return read_patient(record, K, ctx).weight_kg


def test_the_template_filters_on_every_status_the_reader_uses_and_asks_for_a_few():
    query = dict(parse_qsl(urlsplit(TEMPLATE).query))
    assert set(query["status"].split(",")) == set(READ_STATUS) == R4_OBSERVATION_STATUS - set(SKIPPED_STATUS)
    assert query["_sort"] == "-date" and int(query["_count"]) >= 2


@pytest.mark.parametrize("status", ["entered-in-error", "cancelled"])
def test_a_newest_weight_in_error_does_not_hide_the_valid_older_one(status):
    assert _weight_read(_bundle(_weight("w-old", 45, 18), _weight("w-err", 70, 24, status))) == 45


@pytest.mark.parametrize("status", ["final", "amended", "corrected", "preliminary"])
def test_a_newest_valid_weight_is_the_one_used(status):
    assert _weight_read(_bundle(_weight("w-old", 45, 18), _weight("w-new", 70, 24, status))) == 70


def test_even_a_server_that_ignores_the_status_filter_returns_the_valid_weight_behind_an_error():
    params = [(k, v) for k, v in parse_qsl(urlsplit(TEMPLATE.replace("{{context.patientId}}", "p1")).query)
              if k != "status"]
    resources = [_weight("w-old", 45, 18), _weight("w-err", 70, 24, "entered-in-error")]
    answer = search_bundle(resources, "Observation", params)
    assert [e["resource"]["id"] for e in answer["entry"]] == ["w-err", "w-old"]


def test_the_bundle_search_status_filter_on_both_sides():
    resources = [_weight("a", 45, 18), _weight("b", 70, 24, "entered-in-error")]
    found = search_bundle(resources, "Observation", [("status", "final,amended")])
    assert [e["resource"]["id"] for e in found["entry"]] == ["a"]
    found = search_bundle(resources, "Observation", [("status", "entered-in-error")])
    assert [e["resource"]["id"] for e in found["entry"]] == ["b"]
