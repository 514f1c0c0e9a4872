"""observation-period: observe >= N minutes after every IV-iron dose, unless already ordered."""

from __future__ import annotations

from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.engine.rules import observation
from cds_service.engine.suggest import SUGGESTION_SYSTEM
from cds_service.knowledge.model import Fact
from support.rules import (
    administration,
    facts,
    knowledge,
    needs_products,
    order,
    patient,
    reaction,
    with_protocol,
)

PROTOCOL = knowledge().protocol.observation


def test_every_iv_iron_order_gets_an_observation_order_of_at_least_the_default():
    finding = observation.check(facts())
    assert finding.topic == "observation-period" and finding.indicator == "info"
    default = PROTOCOL.default_minutes.value
    label = knowledge().products["ferric_carboxymaltose"].labels["US"].observation_minutes.value
    minutes = max(default, label)
    assert f"{minutes} min" in finding.summary and "ferric carboxymaltose" in finding.summary
    assert len(finding.summary) < 140
    (suggestion,) = finding.suggestions
    assert suggestion.action == "create" and suggestion.is_recommended
    resource = suggestion.resource
    ServiceRequest.model_validate(resource)
    assert resource["status"] == "draft" and resource["intent"] == "order"
    assert resource["subject"] == {"reference": "Patient/pat-1"}
    assert resource["encounter"] == {"reference": "Encounter/enc-1"}
    assert resource["code"]["coding"][0]["code"] == PROTOCOL.service_code.code
    assert resource["occurrenceTiming"]["repeat"]["duration"] == minutes
    assert "blood pressure" in resource["note"][0]["text"] and "pulse" in resource["note"][0]["text"]
    assert "blood pressure" in finding.detail
    assert finding.sources  # cites the label and the protocol


def test_no_card_when_the_observation_order_is_already_drafted_by_code():
    code = PROTOCOL.service_code
    drafted = {"resourceType": "ServiceRequest", "id": "sr-1", "status": "draft", "intent": "order",
               "code": {"coding": [{"system": code.system, "code": code.code}]}}
    assert observation.check(facts(drafts=[drafted])) is None


def test_no_card_when_our_own_suggested_order_came_back_in_the_drafts():
    first = observation.check(facts())
    accepted = dict(first.suggestions[0].resource)
    accepted["code"] = {"text": "observation"}  # the EHR may recode it; our identifier still marks it
    assert accepted["identifier"][0]["system"] == SUGGESTION_SYSTEM
    assert observation.check(facts(drafts=[accepted])) is None


def test_an_unrelated_or_revoked_service_request_does_not_count():
    code = PROTOCOL.service_code
    other = {"resourceType": "ServiceRequest", "id": "sr-2", "status": "draft", "intent": "order",
             "code": {"coding": [{"system": "http://loinc.org", "code": "2777-1"}]}}
    revoked = {"resourceType": "ServiceRequest", "id": "sr-3", "status": "revoked", "intent": "order",
               "code": {"coding": [{"system": code.system, "code": code.code}]}}
    assert observation.check(facts(drafts=[other, revoked])) is not None


@needs_products("iron_dextran")
def test_first_iron_dextran_dose_is_observed_longer():
    first = PROTOCOL.first_dextran_dose_minutes.value
    dextran = order(product="iron_dextran", dose_mg=100, minutes=2)
    finding = observation.check(facts(dextran))
    assert finding.suggestions[0].resource["occurrenceTiming"]["repeat"]["duration"] == first
    assert "First dose of iron dextran" in finding.detail


@needs_products("iron_dextran")
def test_a_later_iron_dextran_dose_gets_the_usual_time():
    default = PROTOCOL.default_minutes.value
    dextran = order(product="iron_dextran", dose_mg=100, minutes=2)
    seen = patient(administrations=(administration(product="iron_dextran", days=20, dose_mg=100),))
    finding = observation.check(facts(dextran, seen))
    label = knowledge().products["iron_dextran"].labels["US"].observation_minutes.value
    assert finding.suggestions[0].resource["occurrenceTiming"]["repeat"]["duration"] == max(default, label)


@needs_products("iron_dextran")
def test_unknown_dextran_history_is_treated_as_a_first_dose():
    first = PROTOCOL.first_dextran_dose_minutes.value
    dextran = order(product="iron_dextran", dose_mg=100, minutes=2)
    finding = observation.check(facts(dextran, patient(unavailable=("ironAdministrations",))))
    assert finding.suggestions[0].resource["occurrenceTiming"]["repeat"]["duration"] == first
    assert "could not be looked up" in finding.detail


def test_earlier_reaction_lengthens_the_observation_and_shows_the_data_point():
    after = PROTOCOL.after_reaction_minutes.value
    finding = observation.check(facts(the_patient=patient(reactions=(reaction(),))))
    assert finding.suggestions[0].resource["occurrenceTiming"]["repeat"]["duration"] == after
    assert "Back pain 6/10" in finding.detail and "Earlier reaction" in finding.detail


def test_unidentified_iv_iron_still_gets_the_protocol_observation():
    unknown = order(product=None, medication_text="IV iron infusion")
    finding = observation.check(facts(unknown))
    assert finding.suggestions[
        0].resource["occurrenceTiming"]["repeat"]["duration"] == PROTOCOL.default_minutes.value
    assert "IV iron infusion" in finding.summary


def test_the_observation_order_carries_the_nurse_advice_for_infusion_pain():
    (suggestion,) = observation.check(facts()).suggestions
    notes = " ".join(n["text"] for n in suggestion.resource["note"]).lower()
    for words in ("slow or pause", "half the previous rate", "wheeze", "widespread hives", "stop the infusion"):
        assert words in notes
    assert "**" not in notes   # plain text for the order, not markdown


def _standing(on: bool):
    switch = Fact(value=on, source="S-ISSUE-PROTOCOL", status="institutional")
    return with_protocol(knowledge(), "observation.standing_protocol", switch)


def test_a_standing_observation_protocol_drops_the_card_for_the_standard_time_only():
    import dataclasses
    on, off = _standing(True), _standing(False)
    assert observation.check(dataclasses.replace(facts(), knowledge=on)) is None   # 30 min: the unit observes anyway
    after_pain = facts(the_patient=patient(reactions=(reaction(),)))
    longer = observation.check(dataclasses.replace(after_pain, knowledge=on))
    assert longer is not None and "60 min" in longer.summary                     # this patient needs longer
    assert observation.check(dataclasses.replace(facts(), knowledge=off)) is not None
