"""premedication: protocol regimens after pain / reactions / risk factors; never an H1 antihistamine."""

from __future__ import annotations

from fhir.resources.R4B.medicationrequest import MedicationRequest

from cds_service.engine.rules import premedication
from support.rules import facts, flat, knowledge, patient, reaction, risk

K = knowledge()
REGIMENS = K.protocol.premedication_regimens
MIN_RISKS = K.protocol.corticosteroid_min_risk_factors.value
AVOID = K.wording["topics"]["premedication"]["avoid_h1"]


def created(finding):
    resources = [s.resource for s in finding.suggestions if s.action == "create"]
    for resource in resources:
        MedicationRequest.model_validate(resource)
        assert resource["status"] == "draft" and resource["intent"] == "order"
        assert resource[
            "subject"] == {"reference": "Patient/pat-1"} and resource["encounter"] == {"reference": "Encounter/enc-1"}
        assert resource["supportingInformation"] == [{"reference": "MedicationRequest/mr-1"}]
        name = resource["medicationCodeableConcept"]["text"].lower()
        assert not any(word in name for word in AVOID["names"])  # never an H1 antihistamine
    return [r["medicationCodeableConcept"]["coding"][0]["code"] for r in resources]


def rxnorm(key):
    return K.premedications[key].rxnorm


def diphenhydramine(by="name"):
    resource = {"resourceType": "MedicationRequest", "id": "mr-dph", "status": "draft", "intent": "order",
                "subject": {"reference": "Patient/pat-1"}}
    if by == "name":
        resource["medicationCodeableConcept"] = {"text": "Diphenhydramine 50 mg IV before iron"}
    else:
        resource["medicationCodeableConcept"] = {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                             "code": "3498"}]}
    return resource


def test_no_history_no_premedication():
    assert premedication.check(facts()) is None


def test_infusion_pain_history_gives_the_protocol_premedication():
    finding = premedication.check(facts(the_patient=patient(reactions=(reaction(),))))
    assert finding.indicator == "info"
    assert created(finding) == [rxnorm(k) for k in REGIMENS.infusion_pain]
    assert "ferric carboxymaltose" in finding.summary and "Back pain 6/10" in finding.detail
    resource = finding.suggestions[0].resource
    spec = K.premedications[REGIMENS.infusion_pain[0]]
    assert resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == spec.dose_value
    assert resource["dosageInstruction"][0]["route"]["coding"][0]["code"] == spec.route_code


def test_moderate_reaction_gives_the_corticosteroid():
    finding = premedication.check(facts(the_patient=patient(reactions=(reaction("hypersensitivity", "moderate"),))))
    assert created(finding) == [rxnorm(k) for k in REGIMENS.moderate_reaction]


def test_corticosteroid_from_the_protocols_number_of_risk_factors():
    assert MIN_RISKS == 2
    one = patient(risk_factors=(risk("asthma", "Asthma"),))
    same_twice = patient(risk_factors=(risk("asthma", "Asthma"), risk("asthma", "Asthma")))
    two = patient(risk_factors=(risk("asthma", "Asthma"), risk("mastocytosis", "Mastocytosis")))
    assert premedication.check(facts(the_patient=one)) is None
    assert premedication.check(facts(the_patient=same_twice)) is None
    finding = premedication.check(facts(the_patient=two))
    assert created(finding) == [rxnorm(k) for k in REGIMENS.multiple_risk_factors]
    assert "Mastocytosis" in finding.detail


def test_a_premedication_already_drafted_is_not_suggested_again():
    spec = K.premedications[REGIMENS.infusion_pain[0]]
    drafted = {"resourceType": "MedicationRequest", "id": "pre-1", "status": "draft", "intent": "order",
               "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                         "code": spec.rxnorm}]}}
    assert premedication.check(facts(the_patient=patient(reactions=(reaction(),)), drafts=[drafted])) is None
    first = premedication.check(facts(the_patient=patient(reactions=(reaction(),))))
    assert premedication.check(facts(the_patient=patient(reactions=(reaction(),)),
                                     drafts=[first.suggestions[0].resource])) is None


def test_drafted_diphenhydramine_is_flagged_and_removal_suggested_by_name_and_by_code():
    for by in ("name", "code"):
        finding = premedication.check(facts(drafts=[diphenhydramine(by)]))
        assert finding.indicator == "warning" and "diphenhydramine" in finding.summary.lower()
        (remove,) = finding.suggestions
        assert remove.action == "delete" and remove.resource_id == "MedicationRequest/mr-dph"
        assert "mimic anaphylaxis" in flat(finding.detail)


def test_second_generation_antihistamine_is_not_flagged():
    cetirizine = {"resourceType": "MedicationRequest", "id": "c", "status": "draft", "intent": "order",
                  "medicationCodeableConcept": {"text": "cetirizine 10 mg by mouth"}}
    assert premedication.check(facts(drafts=[cetirizine])) is None


def test_pain_history_with_drafted_diphenhydramine_suggests_the_alternative_and_removal():
    finding = premedication.check(facts(the_patient=patient(reactions=(reaction(),)), drafts=[diphenhydramine()]))
    assert {s.action for s in finding.suggestions} == {"create", "delete"}
    assert len(finding.summary) < 140


def test_critical_history_keeps_only_the_antihistamine_warning():
    severe = patient(reactions=(reaction("hypersensitivity", "severe"), reaction()))
    finding = premedication.check(facts(the_patient=severe, drafts=[diphenhydramine()]))
    assert [s.action for s in finding.suggestions] == ["delete"]
    assert "no premedication is suggested" in flat(finding.detail)
