"""INFeD (iron dextran) ordered intramuscularly, a route its US label allows: evaluate() with the real readers.

The boxed warning (anaphylaxis; a test dose before the first therapeutic dose) and an earlier severe reaction
apply whatever the route; the label's daily maximum is the same for IV and IM doses (Dosage and Administration,
Administration: 2. Intramuscular Injection). The checks of an IV administration (infusion rate, observation after
the infusion, premedication before it) do not run.
"""

from __future__ import annotations

import pytest
from fhir.resources.R4B.medicationrequest import MedicationRequest

from cds_service.engine import evaluate
from cds_service.engine.rules import hypersensitivity, observation, premedication, rate
from cds_service.fhir.record import PatientRecord
from support.hook_requests import medication_request
from support.rules import ctx, days_before, flat, knowledge

KEYS = ("weight", "ironAdministrations", "allergies")
SNOMED = "http://snomed.info/sct"
IM = {"coding": [{"system": SNOMED, "code": "78421000", "display": "Intramuscular route"}], "text": "IM"}
INFED = knowledge().products["iron_dextran"].labels["US"]


def infed_im(dose_mg=75, rid="mr-1", minutes=None):
    resource = medication_request(rid, code="206216", display="2 ML iron-dextran complex 50 MG/ML Injection [InFed]",
                                  dose_mg=dose_mg, minutes=minutes)
    resource["dosageInstruction"][0]["route"] = dict(IM)
    return resource


def bundle(*resources):
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def record(*resources):
    rec = PatientRecord()
    rec.add({"resourceType": "Patient", "id": "pat-1", "birthDate": "1970-01-01"})
    rec.add({"resourceType": "Observation", "id": "w1", "status": "final",
             "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
             "subject": {"reference": "Patient/pat-1"}, "effectiveDateTime": days_before(3),
             "valueQuantity": {"value": 70, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}})
    for resource in resources:
        rec.add(resource)
    return rec


def earlier_infed(route=IM, days=2, dose=100, rid="ma-1"):
    when = days_before(days)
    return {"resourceType": "MedicationAdministration", "id": rid, "status": "completed",
            "subject": {"reference": "Patient/pat-1"},
            "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                      "code": "206216"}], "text": "INFeD"},
            "effectiveDateTime": when,
            "dosage": {"route": route, "dose": {"value": dose, "unit": "mg", "system": "http://unitsofmeasure.org",
                                                "code": "mg"}}}


def iron_allergy(severity="severe", manifestation="Anaphylaxis"):
    return {"resourceType": "AllergyIntolerance", "id": "al-1", "patient": {"reference": "Patient/pat-1"},
            "clinicalStatus": {"coding": [{"code": "active"}]},
            "verificationStatus": {"coding": [{"code": "confirmed"}]},
            "category": ["medication"], "code": {"text": "iron sucrose (Venofer)"},
            "reaction": [{"manifestation": [{"text": manifestation}], "severity": severity}]}


def run(*drafts, history=()):
    return evaluate(bundle(*drafts), None, record(*history), knowledge(), ctx(), KEYS)


def by_topic(findings):
    return {f.topic: f for f in findings}


def test_a_first_im_dose_gets_the_im_test_dose_and_no_iv_check():
    found = by_topic(run(infed_im(75)))
    assert set(found) == {"formulation"}              # no rate, observation or premedication card
    card = found["formulation"]
    assert card.indicator == "warning" and "test dose" in card.summary
    detail = flat(card.detail)
    assert "by intramuscular injection" in detail and "at least 60 minutes" in detail
    assert "boxed warning" in detail and " IV " not in detail and "30 seconds" not in detail
    (suggestion,) = card.suggestions
    assert suggestion.action == "create" and "intramuscular test dose" in suggestion.label
    resource = suggestion.resource
    MedicationRequest.model_validate(resource)
    dosage = resource["dosageInstruction"][0]
    assert dosage["route"]["coding"][0]["code"] == "78421000"          # the IM route of codes.yaml, not the IV one
    assert "method" not in dosage and "duration" not in dosage["timing"]["repeat"]   # no IV push over 30 seconds
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == INFED.test_dose["dose_mg"]


def test_the_im_test_dose_drafted_beside_the_order_gets_no_card_of_its_own():
    first = run(infed_im(75))
    test_dose = first[0].suggestions[0].resource
    found = run(infed_im(75), test_dose)
    assert [f.topic for f in found] == ["formulation"]      # the order's reminder only; no rate card for the test dose
    assert found[0].indicator == "info" and "already among the draft orders" in found[0].detail


def test_after_an_earlier_im_dose_the_boxed_warning_stays_without_a_test_dose():
    found = run(infed_im(100), history=[earlier_infed()])
    assert [(f.topic, f.indicator) for f in found] == [("formulation", "info")]
    assert "boxed warning" in found[0].summary and "test dose" not in found[0].summary
    assert not found[0].suggestions


def test_an_earlier_iv_dose_counts_as_the_first_dose_too():
    iv = {"coding": [{"system": SNOMED, "code": "47625008", "display": "Intravenous route"}]}
    found = run(infed_im(100), history=[earlier_infed(route=iv, days=30)])
    assert [(f.topic, f.indicator) for f in found] == [("formulation", "info")]


def test_a_severe_earlier_reaction_gets_the_critical_stop_card_by_im_too():
    found = run(infed_im(75), history=[iron_allergy()])
    assert found[0].topic == "hypersensitivity-history" and found[0].indicator == "critical"
    assert [s.action for s in found[0].suggestions] == ["delete"]
    assert "infusion-rate" not in by_topic(found) and "observation-period" not in by_topic(found)
    assert sum(f.indicator in ("warning", "critical") for f in found) == 1   # one interruptive card


def test_a_mild_earlier_reaction_is_worded_for_an_injection_not_an_infusion():
    found = by_topic(run(infed_im(100), history=[earlier_infed(), iron_allergy("mild", "Urticaria")]))
    card = found["hypersensitivity-history"]
    assert card.indicator == "warning" and "slower rate" not in card.summary
    intro = flat(card.detail.split("**Patient data")[0])
    assert "by intramuscular injection" in intro and "infusion" not in intro and "slower" not in intro
    assert "premedication" not in found and "infusion-rate" not in found


@pytest.mark.parametrize("dose,over", [(100, False), (100.5, True), (150, True)])
def test_the_labels_daily_maximum_applies_to_an_im_dose_on_both_sides(dose, over):
    assert INFED.max_daily_mg.value == 100
    found = by_topic(run(infed_im(dose), history=[earlier_infed(days=3)]))   # no test dose: the dose alone
    assert ("dose-limit" in found) is over
    if over:
        (update,) = found["dose-limit"].suggestions
        dosage = update.resource["dosageInstruction"][0]
        assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 100
        assert "timing" not in dosage                                   # no infusion time set on an injection
        assert "sets the administration time" not in flat(found["dose-limit"].detail)


def test_an_im_dose_given_earlier_today_counts_toward_the_daily_maximum():
    assert "dose-limit" not in by_topic(run(infed_im(50), history=[earlier_infed(days=0.1, dose=50)]))
    assert "dose-limit" in by_topic(run(infed_im(75), history=[earlier_infed(days=0.1, dose=50)]))


def test_a_first_im_dose_with_its_test_dose_counts_the_test_dose_toward_the_day():
    assert "dose-limit" not in by_topic(run(infed_im(75)))      # 25 mg test dose + 75 mg = the 100 mg daily maximum
    assert "dose-limit" in by_topic(run(infed_im(100)))         # 125 mg that day


def test_the_iv_only_topics_are_those_of_an_infusion():
    assert {m.TOPIC for m in (rate, observation, premedication) if m.TOPIC.iv_only} == {
        rate.TOPIC, observation.TOPIC, premedication.TOPIC}
    assert not hypersensitivity.TOPIC.iv_only


def test_the_same_order_by_iv_still_gets_the_iv_checks():
    resource = medication_request(code="206216", display="2 ML iron-dextran complex 50 MG/ML Injection [InFed]",
                                  dose_mg=75, minutes=2)
    found = by_topic(run(resource))
    assert "observation-period" in found and "formulation" in found
    assert "30 seconds" in flat(found["formulation"].detail)


def test_injection_site_pain_after_an_im_dose_is_not_infusion_pain():
    pain = {"resourceType": "Observation", "id": "p1", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "72514-3"}]},
            "subject": {"reference": "Patient/pat-1"}, "effectiveDateTime": days_before(2 - 10 / 1440),
            "valueQuantity": {"value": 7, "unit": "{score}"}}
    iv = {"coding": [{"system": SNOMED, "code": "47625008", "display": "Intravenous route"}]}
    iv_dose = medication_request(code="206216", display="2 ML iron-dextran complex 50 MG/ML Injection",
                                 dose_mg=100, minutes=2)
    after_iv = by_topic(run(iv_dose, history=[earlier_infed(route=iv), pain]))
    after_im = by_topic(run(iv_dose, history=[earlier_infed(), pain]))
    assert "infusion-rate" in after_iv and "infusion-rate" not in after_im
