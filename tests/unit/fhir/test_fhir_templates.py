"""Prefetch template tokens (CDS Hooks 2.0) and how FHIR payloads are interpreted."""

from __future__ import annotations

import pytest

from cds_service.fhir.payload import Failure, Obtained, interpret
from cds_service.fhir.templates import resolve, token_values

CONTEXT = {"patientId": "pat-1", "encounterId": "enc-1", "userId": "Practitioner/prac-1"}


def test_context_tokens_are_filled():
    resolved = resolve("Observation?patient={{context.patientId}}&encounter={{context.encounterId}}", CONTEXT)
    assert resolved.url == "Observation?patient=pat-1&encounter=enc-1"
    assert resolved.missing == ()


@pytest.mark.parametrize("user_id, token, expected", [
    ("Practitioner/prac-1", "userPractitionerId", "prac-1"),
    ("PractitionerRole/role-9", "userPractitionerRoleId", "role-9"),
    ("Patient/p-2", "userPatientId", "p-2"),
    ("RelatedPerson/rp-3", "userRelatedPersonId", "rp-3"),
    ("https://ehr.example/fhir/Practitioner/abc", "userPractitionerId", "abc"),
])
def test_user_tokens_come_from_user_id(user_id, token, expected):
    resolved = resolve("X?u={{" + token + "}}", {**CONTEXT, "userId": user_id})
    assert resolved.url == f"X?u={expected}"


def test_user_token_of_another_type_is_unresolved():
    resolved = resolve("PractitionerRole?practitioner={{userPractitionerId}}",
                       {**CONTEXT, "userId": "PractitionerRole/r"})
    assert resolved.url is None
    assert resolved.missing == ("{{userPractitionerId}}",)


@pytest.mark.parametrize("template, context", [
    ("Encounter/{{context.encounterId}}", {"patientId": "pat-1"}),
    ("Encounter/{{context.encounterId}}", {"patientId": "pat-1", "encounterId": ""}),
    ("Encounter/{{context.encounterId}}", {"patientId": "pat-1", "encounterId": {"id": "x"}}),
    ("Medication/{{context.medication.id}}", CONTEXT),      # nested paths are not 2.0 tokens
    ("Observation?date=gt{{today() - 90 days}}", CONTEXT),  # 3.0-ballot FHIRPath, not 2.0
    ("Observation?patient={{context.patientId}}", "not a dict"),
])
def test_unfillable_templates_are_not_resolved(template, context):
    resolved = resolve(template, context)
    assert resolved.url is None
    assert resolved.missing


def test_values_are_percent_encoded_including_slashes():
    resolved = resolve("Patient/{{context.patientId}}", {"patientId": "../Practitioner/x y&z"})
    assert resolved.url == "Patient/..%2FPractitioner%2Fx%20y%26z"


def test_token_values_ignore_blank_and_non_string_fields():
    assert token_values({"patientId": "  ", "encounterId": 5, "userId": "Practitioner/"}) == {
        "context.userId": "Practitioner/",
    }


# --- payload interpretation -------------------------------------------------------------------------

def _bundle(*resources, **extra):
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources], **extra}


OBS = {"resourceType": "Observation", "id": "o1"}
ERROR_OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception",
                                                                "diagnostics": "patient pat-1 broke"}]}
INFO_OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "information", "code": "informational"}]}


def test_single_resource_is_obtained():
    assert interpret({"resourceType": "Patient", "id": "p"}) == Obtained([{"resourceType": "Patient", "id": "p"}])


def test_empty_bundle_is_obtained_with_no_resources():
    result = interpret({"resourceType": "Bundle", "type": "searchset"})
    assert isinstance(result, Obtained) and result.resources == []


def test_operation_outcome_is_a_failure_naming_the_code_not_the_diagnostics():
    result = interpret(ERROR_OUTCOME)
    assert result == Failure("operation-outcome", "OperationOutcome (exception)")
    assert "pat-1" not in result.reason


def test_bundle_with_an_error_outcome_fails_even_with_matches():
    outcome_entry = {"resource": ERROR_OUTCOME, "search": {"mode": "outcome"}}
    bundle = {"resourceType": "Bundle", "entry": [{"resource": OBS}, outcome_entry]}
    assert isinstance(interpret(bundle), Failure)


def test_bundle_holding_only_operation_outcomes_fails():
    assert isinstance(interpret(_bundle(INFO_OUTCOME)), Failure)


def test_bundle_with_matches_and_an_informational_outcome_keeps_the_matches():
    bundle = {"resourceType": "Bundle", "entry": [{"resource": OBS},
                                                  {"resource": INFO_OUTCOME, "search": {"mode": "outcome"}}]}
    result = interpret(bundle)
    assert isinstance(result, Obtained) and result.resources == [OBS]


def test_r5_bundle_issues_with_an_error_fail():
    assert isinstance(interpret(_bundle(OBS, issues=ERROR_OUTCOME)), Failure)


def test_unreadable_entries_are_counted_and_skipped():
    bundle = {"resourceType": "Bundle", "entry": [
        {"resource": OBS}, "junk", {"resource": {"id": "no-type"}}, {"fullUrl": "x"}, {"resource": [1]},
    ]}
    result = interpret(bundle)
    assert result.resources == [OBS]
    assert result.skipped == 4


def test_nested_search_bundles_are_flattened():
    inner = _bundle(OBS)
    result = interpret(_bundle(inner))
    assert result.resources == [OBS]


def test_next_link_is_reported():
    bundle = _bundle(OBS, link=[{"relation": "self", "url": "a"}, {"relation": "next", "url": "http://h/b"}])
    assert interpret(bundle).next_url == "http://h/b"


@pytest.mark.parametrize("value", ["a string", ["a", "list"], 42, {"id": "x"}, {"resourceType": ""},
                                   {"resourceType": "Bundle", "entry": {"not": "a list"}}])
def test_malformed_values_are_not_fhir(value):
    result = interpret(value)
    assert isinstance(result, Failure) and result.outcome == "not-fhir"
