"""Epic's "no results" search answer: a searchset holding only an OperationOutcome coded 4101 (warning) under
Epic's OID root, where other servers send an empty Bundle. It is "no data", not a failed query; any other
outcome-only answer still counts as not obtained (tests both ways, as a prefetch value and as a read)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import responses

from cds_service.cds_hooks.discovery import PrefetchKey
from cds_service.config import Config
from cds_service.fhir.access import gather_record
from cds_service.fhir.payload import Failure, Obtained, interpret

BASE = "http://fhir.test/r4"
PATIENT = "pat-1"
KEYS = (PrefetchKey("patient", "Patient/{{context.patientId}}"),
        PrefetchKey("allergies", "AllergyIntolerance?patient={{context.patientId}}"))
PATIENT_RES = {"resourceType": "Patient", "id": PATIENT}
EPIC_SYSTEM = "urn:oid:1.2.840.114350.1.13.0.1.7.2.657369"


def issue(code="4101", system=EPIC_SYSTEM, severity="warning", issue_code="processing"):
    return {"severity": severity, "code": issue_code,
            "details": {"coding": [{"system": system, "code": code, "display": "Resource request returns no results."}],
                        "text": "Resource request returns no results."}}


def outcome_bundle(*issues):
    return {"resourceType": "Bundle", "type": "searchset", "total": 0, "entry": [
        {"fullUrl": "urn:uuid:ca5c2a8c-4f93-44db-b0f7-021812692338",
         "resource": {"resourceType": "OperationOutcome", "issue": list(issues)}, "search": {"mode": "outcome"}}]}


# Epic's "this response may not hold the entire record" warning (4119), which it adds beside other issues.
PARTIAL_ACCESS = issue(code="4119", issue_code="informational")

NO_RESULTS = [
    outcome_bundle(issue()),
    outcome_bundle(issue(issue_code="informational"), PARTIAL_ACCESS),
    outcome_bundle(issue(system="urn:oid:1.2.840.114350.1.13.20.3.7.2.657369", severity="information")),
]
NOT_OBTAINED = [
    outcome_bundle(issue(code="4119")),                                     # only "may be partial"
    outcome_bundle(issue(system="urn:oid:2.16.840.1.113883.4.642")),        # 4101, not Epic's
    outcome_bundle(issue(), issue(code="4100", severity="fatal")),          # with a fatal issue beside it
    outcome_bundle({"severity": "warning", "code": "too-costly"}),          # no code at all
]


@pytest.mark.parametrize("bundle", NO_RESULTS)
def test_epic_no_results_is_an_empty_answer(bundle):
    found = interpret(bundle)
    assert isinstance(found, Obtained) and found.resources == [] and found.skipped == 0


@pytest.mark.parametrize("bundle", NOT_OBTAINED)
def test_other_outcome_only_answers_are_still_not_obtained(bundle):
    assert isinstance(interpret(bundle), Failure)


def _state():
    return SimpleNamespace(config=Config(fhir_timeout=2.0, fhir_max_pages=3), extras={})


def _request(prefetch=None):
    body = {"hook": "order-sign", "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea", "fhirServer": BASE,
            "context": {"userId": "Practitioner/p", "patientId": PATIENT,
                        "draftOrders": {"resourceType": "Bundle", "entry": []}}}
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def test_epic_no_results_prefetch_is_used_as_no_data_and_not_read_again():
    with responses.RequestsMock() as fhir:   # any request would fail the test
        record = gather_record(_request({"patient": PATIENT_RES, "allergies": NO_RESULTS[0]}), KEYS, _state())
        assert len(fhir.calls) == 0
    assert record.sources == {"patient": "prefetch", "allergies": "prefetch"}
    assert record.unavailable == {}


@pytest.mark.parametrize("answer, unavailable", [(NO_RESULTS[1], False), (NOT_OBTAINED[0], True)])
def test_epic_no_results_read_is_no_data(answer, unavailable):
    with responses.RequestsMock() as fhir:
        fhir.get(f"{BASE}/AllergyIntolerance", json=answer)
        record = gather_record(_request({"patient": PATIENT_RES}), KEYS, _state())
    assert ("allergies" in record.unavailable) is unavailable
    assert record.of_type("AllergyIntolerance") == [] and record.of_type("OperationOutcome") == []
