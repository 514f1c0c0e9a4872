"""Negation of free-text keywords: "no anaphylaxis" is not anaphylaxis (engine, no HTTP).

The cue lists live in cards/codes.yaml (codes.negation); these tests run on the packaged
knowledge, so a change to the cues that breaks one of these readings fails here.
Coded data (SNOMED) is never negated.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest

from cds_service.engine.manifestations import classifier_for, grade
from cds_service.engine.model import EvaluationContext
from cds_service.engine.negation import KeywordFinder, NegationRules, negation_rules_for
from cds_service.engine.patient import read_patient
from cds_service.engine.risk import risk_matcher_for
from cds_service.fhir.record import PatientRecord
from cds_service.knowledge.loader import load_knowledge

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def knowledge():
    return load_knowledge()


def with_codes(knowledge, **changes):
    codes = dict(knowledge.codes)
    for key, value in changes.items():
        if value is None:
            codes.pop(key, None)
        else:
            codes[key] = value
    return dataclasses.replace(knowledge, codes=codes)


def classes(knowledge, text):
    return classifier_for(knowledge).classify_texts([text])


# ---------------------------------------------------------------- the examples of the issue
def test_anaphylaxis_is_severe(knowledge):
    assert classes(knowledge, "anaphylaxis") == {"severe": ["anaphylaxis"]}
    assert grade(classes(knowledge, "anaphylaxis"))[:2] == ("hypersensitivity", "severe")


@pytest.mark.parametrize("text", ["no anaphylaxis", "No anaphylaxis.", "denies chest pain", "without hypotension",
                                  "anaphylaxis ruled out", "not anaphylaxis", "anaphylaxis was ruled out",
                                  "Anaphylaxis excluded", "negative for anaphylaxis", "no signs of angioedema",
                                  "never had anaphylaxis", "patient denied any flushing"])
def test_negated_mentions_are_not_findings(knowledge, text):
    assert classes(knowledge, text) == {}


def test_a_cue_stays_in_its_own_clause(knowledge):
    assert classes(knowledge, "no rash but anaphylaxis") == {"severe": ["anaphylaxis"]}
    assert classes(knowledge, "no rash, however stridor") == {"severe": ["stridor"]}


def test_chest_pain_counts_and_denied_flushing_does_not(knowledge):
    assert classes(knowledge, "chest pain; denies flushing") == {"pain": ["chest pain"]}
    assert classes(knowledge, "Denies flushing. Chest pain") == {"pain": ["chest pain"]}


def test_one_affirmed_mention_is_enough(knowledge):
    assert classes(knowledge, "no anaphylaxis at first; later anaphylaxis") == {"severe": ["anaphylaxis"]}


# ---------------------------------------------------------------- guards against wrong negation
@pytest.mark.parametrize("text", ["anaphylaxis not ruled out", "anaphylaxis cannot be excluded",
                                  "anaphylaxis not excluded",
                                  "no further doses after anaphylaxis",
                                  "not given epinephrine until hypotension despite fluids",
                                  "hypotension, ECG negative", "infusion stopped due to hypotension"])
def test_pseudo_negations_terminators_and_distant_post_cues_do_not_negate(knowledge, text):
    assert "severe" in classes(knowledge, text), text


@pytest.mark.parametrize("text,negated", [
    ("no history of any prior anaphylaxis", True),          # 4 words between cue and keyword: inside the window
    ("no history of any such prior anaphylaxis", False),    # 5 words: outside
])
def test_window_on_both_sides(knowledge, text, negated):
    assert negation_rules_for(knowledge).window_words == 4
    assert (classes(knowledge, text) == {}) is negated


def test_a_list_after_one_cue_is_negated_within_the_window(knowledge):
    assert classes(knowledge, "denies rash, hives or wheeze") == {}


def test_cues_come_from_the_knowledge(knowledge):
    negation = dict(knowledge.codes["negation"])
    negation["pre"] = [*negation["pre"], "nil"]
    local = with_codes(knowledge, negation=negation)
    assert classes(knowledge, "nil anaphylaxis") == {"severe": ["anaphylaxis"]}
    assert classes(local, "nil anaphylaxis") == {}


def test_without_negation_rules_every_mention_counts(knowledge):
    bare = with_codes(knowledge, negation=None)
    assert NegationRules.from_knowledge(bare).active is False
    assert classes(bare, "no anaphylaxis") == {"severe": ["anaphylaxis"]}


def test_keyword_finder_reports_negated_keywords():
    rules = NegationRules(pre=(("no",),), post=(("excluded",),), window_words=3)
    finder = KeywordFinder([("rash", "r"), ("chest pain", "c"), ("stridor", "s")], rules)
    assert finder.find("no rash; chest pain") == (["c"], ["r"])
    assert finder.find("stridor excluded, no rash") == ([], ["r", "s"])
    assert finder.find("nothing relevant") == ([], [])


# ---------------------------------------------------------------- through the patient reader
def ctx():
    return EvaluationContext(patient_id="pat-1", encounter_id=None, user_id=None, hook="order-sign", now=NOW)


def picture(knowledge, *resources):
    record = PatientRecord()
    record.add({"resourceType": "Patient", "id": "pat-1", "birthDate": "1980-01-15"})
    for resource in resources:
        record.add(resource)
    return read_patient(record, knowledge, ctx())


def iron_allergy(*manifestations, rid="al-1"):
    return {"resourceType": "AllergyIntolerance", "id": rid, "patient": {"reference": "Patient/pat-1"},
            "category": ["medication"], "code": {"text": "Venofer"},
            "clinicalStatus": {"coding": [{"code": "active"}]},
            "reaction": [{"manifestation": list(manifestations)}]}


def kinds(p):
    return [(r.kind, r.severity) for r in p.reactions]


def test_allergy_with_negated_manifestation_text_is_not_severe(knowledge):
    assert kinds(picture(knowledge, iron_allergy({"text": "Anaphylaxis"}))) == [("hypersensitivity", "severe")]
    (reaction,) = picture(knowledge, iron_allergy({"text": "No anaphylaxis"})).reactions
    # still an allergy record to IV iron (a reaction), but neither severe nor an "other" feature named "no anaphylaxis"
    assert (reaction.kind, reaction.severity) == ("hypersensitivity", "mild")
    assert reaction.features == ()


def test_coded_manifestation_is_never_negated(knowledge):
    coded = {"coding": [{"system": SNOMED, "code": "39579001"}], "text": "no anaphylaxis"}
    assert kinds(picture(knowledge, iron_allergy(coded))) == [("hypersensitivity", "severe")]


def admin_stopped(reason):
    return {"resourceType": "MedicationAdministration", "id": "a1", "status": "stopped",
            "medicationCodeableConcept": {"text": "Venofer"}, "statusReason": [{"text": reason}],
            "effectivePeriod": {"start": "2025-04-01T10:00:00Z", "end": "2025-04-01T10:10:00Z"},
            "dosage": {"route": {"text": "Intravenous"}, "dose": {"value": 200, "unit": "mg", "code": "mg"}}}


@pytest.mark.parametrize("reason,expected", [
    ("No reaction; IV line lost", []),
    ("allergic reaction", [("hypersensitivity", "mild")]),
    ("chest pain; denies flushing", [("infusion-pain", "mild")]),
    ("no chest pain but stridor", [("hypersensitivity", "severe")]),
])
def test_stop_reasons_respect_negation(knowledge, reason, expected):
    assert kinds(picture(knowledge, admin_stopped(reason))) == expected


def condition(text):
    return {"resourceType": "Condition", "id": f"c-{abs(hash(text))}", "code": {"text": text},
            "clinicalStatus": {"coding": [{"code": "active"}]}}


@pytest.mark.parametrize("text,factor", [
    ("Asthma", ["asthma"]),
    ("No asthma", []),
    ("Asthma ruled out", []),
    ("No eczema but asthma", ["asthma"]),
    ("Denies asthma; rheumatoid arthritis", ["systemic_inflammatory_disease"]),
])
def test_risk_factors_respect_negation(knowledge, text, factor):
    assert sorted(f.code for f in picture(knowledge, condition(text)).risk_factors) == factor


@pytest.mark.parametrize("answer,pregnant", [
    ({"text": "Pregnant"}, True),
    ({"text": "Not pregnant"}, False),
    ({"coding": [{"system": SNOMED, "code": "60001007", "display": "Not pregnant"}]}, False),
    ({"coding": [{"system": SNOMED, "code": "77386006", "display": "Not pregnant (wrong display)"}]},
     True),   # the code wins
])
def test_pregnancy_status_answer_respects_negation(knowledge, answer, pregnant):
    status = {"resourceType": "Observation", "id": "preg-1", "status": "final",
              "code": {"coding": [{"system": LOINC, "code": "82810-3"}]},
              "effectiveDateTime": (NOW - timedelta(days=5)).isoformat(), "valueCodeableConcept": answer}
    assert ([f.code for f in picture(knowledge, status).risk_factors] == ["pregnancy"]) is pregnant


def test_risk_matcher_codes_are_not_negated(knowledge):
    concept = {"coding": [{"system": SNOMED, "code": "195967001"}], "text": "no asthma"}
    assert risk_matcher_for(knowledge).match(concept) == {"asthma"}
