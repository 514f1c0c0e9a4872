"""Ids as EHRs send them, and one patient per call (issue 10 items 7 and 8; issue 14 item 1).

Epic-style ids (the CDS Hooks specification's own order-select example uses 200-character ids)
are accepted up to 256 characters; ``.`` and ``..`` never are (they climb FHIR URLs). An order for
another patient is refused; another patient's prefetched data is left out and the key is said to
be unavailable, and the log carries a count, never the other patient's id.
"""

from __future__ import annotations

import copy
import json
import logging

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from cds_service.fhir.ids import (
    MAX_ID_CHARS,
    PATIENT_FIELDS,
    is_fhir_id,
    other_patient_test,
    referenced_patient,
)
from cds_service.ops.logs import JsonFormatter
from support.bundle_fhir import prefetch_for
from support.e2e import SCENARIOS, context_for, load, pin_now, templates
from support.hook_requests import HOOK_URL, hook_request, medication_request

# The shape of an Epic FHIR id, 200 characters: letters, digits, '-' and '.'.
EPIC_ID = ("eXnJ5wAc3Fy9.2bkQ-r7VZ0uHh1LmsD4oTqP6gWvKxYe8IjB" * 5)[:200]
EPIC_PATIENT = ("eq081-VQEgP8drUUqCWzHfw3" * 3)[:64] + "." + "x" * 10


def _order_select(rid=EPIC_ID, patient=EPIC_PATIENT):
    order = medication_request(rid, patient=patient)
    return hook_request(order, hook="order-select", patient=patient)


def test_an_epic_style_order_select_with_200_character_ids_is_answered(client):
    body = _order_select()
    assert body["context"]["selections"] == [f"MedicationRequest/{EPIC_ID}"] and len(EPIC_ID) == 200
    response = client.post(HOOK_URL, json=body)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["cards"], "an IV-iron order at order-select gets its cards"


@pytest.mark.parametrize("where, value", [
    ("selection", "MedicationRequest/.."),
    ("selection", "MedicationRequest/."),
    ("draft id", ".."),
    ("patientId", ".."),
    ("patientId", "."),
    ("patientId", "p" * (MAX_ID_CHARS + 1)),
])
def test_dot_segment_and_overlong_ids_are_refused_with_the_field_named(client, where, value):
    body = _order_select()
    field = {"selection": "context.selections[0]", "draft id": "context.draftOrders.entry[0].resource.id",
             "patientId": "context.patientId"}[where]
    if where == "selection":
        body["context"]["selections"] = [value]
    elif where == "draft id":
        body["context"]["draftOrders"]["entry"][0]["resource"]["id"] = value
        body["context"]["selections"] = [f"MedicationRequest/{value}"]
    else:
        body["context"]["patientId"] = value
    response = client.post(HOOK_URL, json=body)
    assert response.status_code == 400 and response.get_json()["field"] == field


def test_each_selection_must_name_a_draft_order(client):
    body = _order_select()
    body["context"]["selections"].append("MedicationRequest/not-in-the-drafts")
    response = client.post(HOOK_URL, json=body)
    assert response.status_code == 400 and response.get_json()["field"] == "context.selections[1]"


def test_the_id_rule_itself():
    assert is_fhir_id(EPIC_ID) and is_fhir_id("a.b-C9") and is_fhir_id("...")
    for bad in (".", "..", "", "a/b", "a b", "a_b", "é", "x" * (MAX_ID_CHARS + 1), None, 7):
        assert not is_fhir_id(bad)


# --- one patient per call ---------------------------------------------------------------------------

def _severe_order_under_clean_context():
    clean = context_for("clean-ferric-carboxymaltose")
    severe_drafts = load(SCENARIOS["severe-reaction"]["order"])
    context = {**clean, "draftOrders": severe_drafts}
    return {"hook": "order-sign", "hookInstance": "h-other-patient", "context": context}


def test_a_severe_reaction_patients_order_under_a_clean_patients_context_is_refused(client):
    body = _severe_order_under_clean_context()
    assert body["context"]["patientId"] == "icds-clean"
    response = client.post(HOOK_URL, json=body)
    assert response.status_code == 400
    assert response.get_json()["field"] == "context.draftOrders.entry[0].resource.subject"
    assert "icds-severe-reaction" not in response.get_data(as_text=True)


def test_a_dstu2_style_patient_field_is_compared_too(client):
    body = hook_request(medication_request(patient="pat-1"), patient="pat-1")
    resource = body["context"]["draftOrders"]["entry"][0]["resource"]
    resource["patient"] = resource.pop("subject") | {"reference": "Patient/pat-2"}
    response = client.post(HOOK_URL, json=body)
    assert response.status_code == 400
    assert response.get_json()["field"] == "context.draftOrders.entry[0].resource.patient"


def test_an_order_naming_this_patient_by_absolute_url_is_fine(client):
    body = hook_request(medication_request(patient="pat-1"), patient="pat-1")
    body["context"]["draftOrders"]["entry"][0]["resource"]["subject"] = {
        "reference": "https://fhir.example.org/r4/Patient/pat-1/_history/3"}
    assert client.post(HOOK_URL, json=body).status_code == 200


def _cards(response):
    return {(card["indicator"], card.get("summary", "")) for card in response.get_json()["cards"]}


def test_another_patients_prefetched_reactions_are_left_out_and_counted_in_the_log(client, monkeypatch, caplog):
    """The clean patient's own order, but the prefetch holds the severe-reaction patient's record."""
    pin_now(monkeypatch)
    caplog.set_level(logging.INFO, logger="iron_cds")
    severe = SCENARIOS["severe-reaction"]
    severe_prefetch = prefetch_for(load(severe["patient"]), templates(client, "order-sign"),
                                   context_for("severe-reaction"))
    # The same record under its own patient gives the critical stop card: the data is what it claims.
    own = {"hook": "order-sign", "hookInstance": "h-own", "context": context_for("severe-reaction"),
           "prefetch": severe_prefetch}
    assert any(indicator == "critical" for indicator, _ in _cards(client.post(HOOK_URL, json=own)))

    mixed = {"hook": "order-sign", "hookInstance": "h-mixed", "context": context_for("clean-ferric-carboxymaltose"),
             "prefetch": copy.deepcopy(severe_prefetch)}
    caplog.clear()
    response = client.post(HOOK_URL, json=mixed)
    assert response.status_code == 200
    cards = response.get_json()["cards"]
    assert not any(card["indicator"] == "critical" for card in cards), "another patient's reaction is not this one's"
    unavailable = [card for card in cards if "could not" in json.dumps(card).lower()
                   or "unavailable" in json.dumps(card).lower()]
    assert unavailable, "the checks that had only another patient's data say they could not be done"
    counts = [r for r in caplog.records if getattr(r, "event", None) == "fhir-other-patient-left-out"]
    assert counts and all(isinstance(r.count, int) and r.count > 0 for r in counts)
    text = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    assert "icds-severe-reaction" not in text


def test_the_patient_comparison_reads_each_reference_shape():
    names_other = other_patient_test("a")
    assert names_other({"resourceType": "Observation", "subject": {"reference": "Patient/a"}}) is None
    assert names_other({"resourceType": "Observation", "subject": {"reference": "Patient/b"}}) == "subject"
    assert names_other({"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/b"}}) == "patient"
    assert names_other({"resourceType": "Patient", "id": "b"}) == "id"
    assert names_other({"resourceType": "Medication", "id": "m"}) is None
    assert names_other({"resourceType": "Observation", "subject": {"reference": "#contained"}}) is None
    assert names_other({"resourceType": "Observation", "subject": {"reference": "Group/g"}}) is None


def _names_other_by_parsing(resource: dict, patient_id: str) -> str | None:
    """The definition the one-comparison shortcut must agree with: every reference parsed."""
    if resource.get("resourceType") == "Patient":
        rid = resource.get("id")
        return "id" if isinstance(rid, str) and rid != patient_id else None
    for field in PATIENT_FIELDS:
        named = referenced_patient(resource.get(field))
        if named is not None and named != patient_id:
            return field
    return None


_ID_PARTS = st.sampled_from(["a", "b", "a1", "x-y", "a.b", ".", "..", "a/b", "a?x", " a", "a ", "_history", ""])
_REFERENCE = st.one_of(
    st.builds(lambda t, i: f"{t}/{i}", st.sampled_from(["Patient", "Group", "patient"]), _ID_PARTS),
    st.builds(lambda i, v: f"https://ehr.example/fhir/Patient/{i}/_history/{v}", _ID_PARTS, st.sampled_from(["1", ""])),
    st.sampled_from(["#contained", "Patient/", "/Patient/a", "Patient/a/", "Patient/a?x=1", ""]),
    st.text(max_size=12),
)
_HOLDER = st.one_of(st.none(), st.builds(lambda r: {"reference": r}, _REFERENCE), st.just("Patient/a"),
                    st.just({"display": "no reference"}))


@given(patient_id=_ID_PARTS, subject=_HOLDER, patient=_HOLDER,
       resource_type=st.sampled_from(["Observation", "AllergyIntolerance", "Patient"]))
@example(patient_id="a?x", subject={"reference": "Patient/a?x"}, patient=None, resource_type="Observation")
@example(patient_id="a/b", subject=None, patient={"reference": "Patient/a/b"}, resource_type="AllergyIntolerance")
@example(patient_id=" a", subject={"reference": "Patient/ a"}, patient=None, resource_type="Observation")
def test_the_one_comparison_shortcut_agrees_with_parsing_every_reference(patient_id, subject, patient, resource_type):
    resource = {"resourceType": resource_type, "id": "b"}
    if subject is not None:
        resource["subject"] = subject
    if patient is not None:
        resource["patient"] = patient
    assert other_patient_test(patient_id)(resource) == _names_other_by_parsing(resource, patient_id)
