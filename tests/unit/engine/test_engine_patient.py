"""Reading the patient: weight, age, labs, earlier IV iron, reactions and risk factors (engine, no HTTP).

Each threshold is tested on both sides: pain 3 vs 4, 119/120 vs 121 minutes after the end,
systolic 91 vs 90, fall 29 vs 30, drug allergies 1 vs 2, weight 89 vs 91 days old.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from cds_service.engine.model import EvaluationContext
from cds_service.engine.patient import read_patient
from cds_service.fhir.record import PatientRecord
from cds_service.knowledge.loader import load_knowledge
from support.rules import with_protocol

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
START = datetime(2025, 4, 1, 10, 0, tzinfo=timezone.utc)   # earlier infusion: 10:00-10:30
END = START + timedelta(minutes=30)


@pytest.fixture(scope="module")
def knowledge():
    return load_knowledge()


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def ctx(now=NOW):
    return EvaluationContext(patient_id="pat-1", encounter_id="enc-1", user_id=None, hook="order-sign", now=now)


def record(*resources, birth="1980-01-15"):
    rec = PatientRecord()
    rec.add({"resourceType": "Patient", "id": "pat-1", "birthDate": birth})
    for r in resources:
        rec.add(r)
    return rec


_ids = iter(range(1, 10_000_000))


def obs(code, value=None, unit=None, when=NOW - timedelta(days=1), status="final", **extra):
    resource = {"resourceType": "Observation", "id": f"o{next(_ids)}", "status": status,
                "code": {"coding": [{"system": LOINC, "code": code}]}, "effectiveDateTime": iso(when)}
    if value is not None:
        resource["valueQuantity"] = {"value": value, "unit": unit or "", **({"code": unit} if unit else {})}
    resource.update(extra)
    return resource


def admin(rid="a1", med="Venofer", start=START, end=END, status="completed", dose=200, route="Intravenous", **extra):
    resource = {"resourceType": "MedicationAdministration", "id": rid, "status": status,
                "medicationCodeableConcept": {"text": med},
                "effectivePeriod": {"start": iso(start), **({"end": iso(end)} if end else {})},
                "dosage": {"route": {"text": route}, "dose": {"value": dose, "unit": "mg", "code": "mg"}}}
    resource.update(extra)
    return resource


def allergy(code=None, text=None, manifestations=(), severity=None, criticality=None, rid=None,
            clinical="active", verification="confirmed", category=("medication",), substance=None):
    resource = {"resourceType": "AllergyIntolerance", "id": rid or f"al{next(_ids)}",
                "patient": {"reference": "Patient/pat-1"},
                "category": list(category), "code": {}}
    if code:
        resource["code"]["coding"] = [{"system": RXNORM, "code": code}]
    if text:
        resource["code"]["text"] = text
    _set_statuses(resource, clinical, verification)
    if criticality:
        resource["criticality"] = criticality
    if manifestations or severity or substance:
        reaction = {"manifestation": [m if isinstance(m, dict) else {"text": m} for m in manifestations]}
        if severity:
            reaction["severity"] = severity
        if substance:
            reaction["substance"] = substance
        resource["reaction"] = [reaction]
    return resource


def _set_statuses(resource, clinical, verification):
    if clinical:
        resource["clinicalStatus"] = {"coding": [{"code": clinical}]}
    if verification:
        resource["verificationStatus"] = {"coding": [{"code": verification}]}


def condition(text=None, snomed=None, icd10=None, clinical="active", verification=None, rid=None, **extra):
    coding = []
    if snomed:
        coding.append({"system": SNOMED, "code": snomed})
    if icd10:
        coding.append({"system": ICD10, "code": icd10})
    resource = {"resourceType": "Condition", "id": rid or f"c{next(_ids)}", "code": {"coding": coding}}
    if text:
        resource["code"]["text"] = text
    _set_statuses(resource, clinical, verification)
    resource.update(extra)
    return resource


def picture(knowledge, *resources, birth="1980-01-15", now=NOW):
    return read_patient(record(*resources, birth=birth), knowledge, ctx(now))


def kinds(p):
    return sorted((r.kind, r.severity) for r in p.reactions)


# ---------------------------------------------------------------- weight and age
@pytest.mark.parametrize("value,unit,kg", [(70, "kg", 70), (154.3, "[lb_av]", 69.99), (70000, "g", 70),
                                           (154.3, "lb", 69.99)])
def test_weight_in_kg_from_common_units(knowledge, value, unit, kg):
    p = picture(knowledge, obs("29463-7", value, unit, when=NOW - timedelta(days=3)))
    assert p.weight_kg == pytest.approx(kg, abs=0.01)
    assert p.weight_date.startswith(iso(NOW - timedelta(days=3))[:10]) and p.weight_note is None


def test_latest_weight_wins(knowledge):
    p = picture(knowledge, obs("29463-7", 80, "kg", when=NOW - timedelta(days=30)),
                obs("29463-7", 72, "kg", when=NOW - timedelta(days=2)))
    assert p.weight_kg == 72


@pytest.mark.parametrize("days,used", [(89, True), (91, False)])
def test_stale_weight_is_unknown_and_said(knowledge, days, used):
    p = picture(knowledge, obs("29463-7", 70, "kg", when=NOW - timedelta(days=days)))
    if used:
        assert p.weight_kg == 70 and p.weight_note is None
    else:
        assert p.weight_kg is None and "older than 90 days" in p.weight_note


def test_no_weight_is_said(knowledge):
    p = picture(knowledge)
    assert p.weight_kg is None and p.weight_note == "No body weight is recorded"


def test_entered_in_error_weight_is_ignored(knowledge):
    p = picture(knowledge, obs("29463-7", 70, "kg", when=NOW - timedelta(days=2)),
                obs("29463-7", 7, "kg", when=NOW - timedelta(days=1), status="entered-in-error"))
    assert p.weight_kg == 70


@pytest.mark.parametrize("birth,age", [("1960-06-01", 65), ("1960-06-02", 64), ("1960", 65), ("2000-01-01", 25)])
def test_age_from_birth_date(knowledge, birth, age):
    assert picture(knowledge, birth=birth).age_years == age


# ---------------------------------------------------------------- labs
@pytest.mark.parametrize("code,value,unit,expected,expected_unit", [
    ("718-7", 10.5, "g/dL", 10.5, "g/dL"),
    ("718-7", 105, "g/L", 10.5, "g/dL"),
    ("2276-4", 250, "ug/L", 250, "ng/mL"),
    ("2276-4", 250, "ng/mL", 250, "ng/mL"),
    ("2502-3", 18, "%", 18, "%"),
    ("2777-1", 1.0, "mmol/L", 3.097, "mg/dL"),
    ("2777-1", 2.4, "mg/dL", 2.4, "mg/dL"),
])
def test_labs_are_normalised(knowledge, code, value, unit, expected, expected_unit):
    lab = picture(knowledge, obs(code, value, unit)).labs[code]
    assert lab.value == pytest.approx(
        expected) and lab.unit == expected_unit and lab.reference.startswith("Observation/")


def test_latest_lab_wins_and_cancelled_is_skipped(knowledge):
    p = picture(knowledge, obs("2276-4", 100, "ng/mL", when=NOW - timedelta(days=20)),
                obs("2276-4", 900, "ng/mL", when=NOW - timedelta(days=1), status="cancelled"),
                obs("2276-4", 300, "ng/mL", when=NOW - timedelta(days=5)))
    assert p.labs["2276-4"].value == 300


@pytest.mark.parametrize("days,used", [(89, True), (91, False)])
def test_stale_labs_are_not_used(knowledge, days, used):
    p = picture(knowledge, obs("2276-4", 800, "ng/mL", when=NOW - timedelta(days=days)))
    assert ("2276-4" in p.labs) is used
    assert any("older than 90 days" in n for n in p.notes) is not used


def test_lab_in_an_unknown_unit_is_not_used_and_said(knowledge):
    p = picture(knowledge, obs("718-7", 6.5, "mmol/kg"))
    assert "718-7" not in p.labs and any("unit not recognised" in n for n in p.notes)


# ---------------------------------------------------------------- earlier administrations
def test_administration_is_read(knowledge):
    p = picture(knowledge, admin())
    (a,) = p.administrations
    assert a.product_key == "iron_sucrose" and a.dose_mg == 200 and a.minutes == 30 and not a.stopped
    assert a.reference == "MedicationAdministration/a1" and a.rate_mg_per_min == pytest.approx(200 / 30)


def test_administration_minutes_from_rate_when_no_end(knowledge):
    a = admin(end=None)
    a["dosage"]["rateQuantity"] = {"value": 20, "unit": "mg/min", "code": "mg/min"}
    (read,) = picture(knowledge, a).administrations
    assert read.minutes == pytest.approx(10)


@pytest.mark.parametrize("status,stopped", [("stopped", True), ("not-done", True), ("completed", False)])
def test_administration_stopped(knowledge, status, stopped):
    (a,) = picture(knowledge, admin(status=status, statusReason=[{"text": "line lost"}])).administrations
    assert a.stopped is stopped and a.status == status and a.stop_reason == "line lost"


@pytest.mark.parametrize("resource", [
    admin(status="entered-in-error"),
    admin(route="Intramuscular"),
    admin(med="ferrous sulfate 325 mg tablet", route="oral"),
    admin(med="ceftriaxone 1 g"),
])
def test_non_iron_non_iv_and_erroneous_administrations_are_not_history(knowledge, resource):
    assert picture(knowledge, resource).administrations == ()


# ---------------------------------------------------------------- infusion pain from pain scores
def pain(value, when, **extra):
    return obs("72514-3", value, "{score}", when=when, **extra)


@pytest.mark.parametrize("value,counts", [(3, False), (4, True), (8, True)])
def test_pain_score_threshold(knowledge, value, counts):
    p = picture(knowledge, admin(), pain(value, START + timedelta(minutes=10)))
    assert (("infusion-pain", "mild") in kinds(p)) is counts


@pytest.mark.parametrize("after,counts", [(119, True), (120, True), (121, False)])
def test_pain_score_window_after_the_end(knowledge, after, counts):
    p = picture(knowledge, admin(), pain(6, END + timedelta(minutes=after)))
    assert (("infusion-pain", "mild") in kinds(p)) is counts


def test_pain_score_before_the_infusion_does_not_count(knowledge):
    p = picture(knowledge, admin(), pain(7, START - timedelta(minutes=5)))
    assert p.reactions == ()


def test_pain_score_during_is_linked_to_the_product_with_evidence(knowledge):
    p = picture(knowledge, admin(), pain(6, START + timedelta(minutes=20)))
    (r,) = p.reactions
    assert r.product_key == "iron_sucrose"
    assert r.evidence[
        0].reference.startswith("Observation/") and "6/10" in r.evidence[0].text and "during" in r.evidence[0].text
    assert r.evidence[1].reference == "MedicationAdministration/a1"


def test_pain_score_linked_by_part_of_counts_outside_the_window(knowledge):
    p = picture(knowledge, admin(), pain(5, END + timedelta(hours=5),
                                         partOf=[{"reference": "MedicationAdministration/a1"}]))
    assert kinds(p) == [("infusion-pain", "mild")]


def test_pain_after_an_administration_that_was_not_done_does_not_count(knowledge):
    p = picture(knowledge, admin(status="not-done"), pain(8, START + timedelta(minutes=10)))
    assert p.reactions == ()


def test_pain_window_uses_duration_when_the_end_is_missing(knowledge):
    a = admin(end=None)
    a["dosage"]["rateQuantity"] = {"value": 200, "unit": "mg/h", "code": "mg/h"}   # 60 minutes
    p = picture(knowledge, a, pain(6, START + timedelta(minutes=60 + 119)))
    assert kinds(p) == [("infusion-pain", "mild")]


# ---------------------------------------------------------------- hypotension
def sbp(value, when, panel=False):
    if panel:
        return {"resourceType": "Observation", "id": f"bp{next(_ids)}", "status": "final",
                "code": {"coding": [{"system": LOINC, "code": "85354-9"}]}, "effectiveDateTime": iso(when),
                "component": [{"code": {"coding": [{"system": LOINC, "code": "8480-6"}]},
                               "valueQuantity": {"value": value, "unit": "mm[Hg]"}},
                              {"code": {"coding": [{"system": LOINC, "code": "8462-4"}]},
                               "valueQuantity": {"value": 50, "unit": "mm[Hg]"}}]}
    return obs("8480-6", value, "mm[Hg]", when=when)


@pytest.mark.parametrize("value,severe", [(91, False), (90, True)])
@pytest.mark.parametrize("panel", [False, True])
def test_systolic_at_or_below_90_after_iron_is_severe(knowledge, value, severe, panel):
    p = picture(knowledge, admin(), sbp(value, START + timedelta(minutes=15), panel=panel))
    assert (("hypersensitivity", "severe") in kinds(p)) is severe


@pytest.mark.parametrize("low,severe", [(121, False), (120, True)])   # baseline 150: fall 29 vs 30
def test_systolic_fall_of_30_from_before_the_infusion_is_severe(knowledge, low, severe):
    p = picture(knowledge, admin(), sbp(150, START - timedelta(minutes=10)), sbp(low, END + timedelta(minutes=30)))
    assert (("hypersensitivity", "severe") in kinds(p)) is severe
    if severe:
        (r,) = p.reactions
        assert "hypotension" in r.features and len(r.evidence) == 3


def test_low_systolic_outside_the_window_does_not_count(knowledge):
    p = picture(knowledge, admin(), sbp(85, END + timedelta(minutes=121)), sbp(85, START - timedelta(minutes=30)))
    assert p.reactions == ()


# ---------------------------------------------------------------- allergy records
@pytest.mark.parametrize("manifestations,severity,criticality,expected", [
    (["anaphylaxis"], None, None, ("hypersensitivity", "severe")),
    ([{"coding": [{"system": SNOMED, "code": "39579001", "display": "Anaphylaxis"}]}], None, None,
     ("hypersensitivity", "severe")),
    (["angioedema"], "mild", None, ("hypersensitivity", "severe")),
    (["stridor"], None, None, ("hypersensitivity", "severe")),
    (["bronchospasm"], None, None, ("hypersensitivity", "severe")),
    (["rash"], "severe", "high", ("hypersensitivity", "severe")),
    (["urticaria"], None, None, ("hypersensitivity", "moderate")),
    (["dyspnoea"], None, None, ("hypersensitivity", "moderate")),
    (["fever"], "moderate", None, ("hypersensitivity", "moderate")),
    (["fever"], "mild", None, ("hypersensitivity", "mild")),
    ([], None, None, ("hypersensitivity", "mild")),
    (["back pain"], None, None, ("infusion-pain", "mild")),
    # The clinician's grading is never read down (issue 12): recorded moderate pain is a moderate reaction.
    ([{"coding": [{"system": SNOMED, "code": "247355005", "display": "Pain in flank"}]}], "moderate", None,
     ("hypersensitivity", "moderate")),
    ([{"coding": [{"system": SNOMED, "code": "247355005", "display": "Pain in flank"}]}], "mild", None,
     ("infusion-pain", "mild")),
    (["flushing", "chest tightness"], None, None, ("infusion-pain", "mild")),
    (["flushing", "urticaria"], None, None, ("hypersensitivity", "moderate")),
    # Recorded severe, or high criticality, is severe whatever the manifestations say.
    (["rash"], "severe", None, ("hypersensitivity", "severe")),
    (["rash"], "mild", "high", ("hypersensitivity", "severe")),
    (["rash"], "moderate", "low", ("hypersensitivity", "moderate")),
    (["back pain"], "severe", None, ("hypersensitivity", "severe")),
    # Airway involvement is severe even when recorded as mild; wheeze is at least moderate.
    (["throat tightness", "rash"], "moderate", None, ("hypersensitivity", "severe")),
    (["tightness in the throat"], None, None, ("hypersensitivity", "severe")),
    (["loss of consciousness"], "mild", None, ("hypersensitivity", "severe")),
    (["hypotension"], None, None, ("hypersensitivity", "severe")),
    (["wheeze"], "mild", None, ("hypersensitivity", "moderate")),
    (["wheezing"], None, None, ("hypersensitivity", "moderate")),
    (["no throat tightness", "flushing"], None, None, ("infusion-pain", "mild")),
])
def test_allergy_to_an_iron_product_is_graded(knowledge, manifestations, severity, criticality, expected):
    p = picture(knowledge, allergy(code="1435169", manifestations=manifestations, severity=severity,
                                   criticality=criticality))
    (r,) = p.reactions
    assert (r.kind, r.severity) == expected
    assert r.product_key == "ferric_carboxymaltose" and r.evidence[0].reference.startswith("AllergyIntolerance/")


@pytest.mark.parametrize("kwargs", [
    {"text": "Venofer"}, {"text": "IV iron"}, {"text": "Intravenous iron infusion"},
    {"text": "Drug allergy", "substance": {"text": "Feraheme"}},
])
def test_allergy_linked_by_name_substance_or_class(knowledge, kwargs):
    p = picture(knowledge, allergy(manifestations=["hives"], **kwargs))
    assert kinds(p) == [("hypersensitivity", "moderate")]


@pytest.mark.parametrize("kwargs", [{"text": "Penicillin"}, {"text": "ferrous sulfate"}, {"text": "Iron deficiency"}])
def test_allergy_not_to_iv_iron_is_not_a_reaction(knowledge, kwargs):
    assert picture(knowledge, allergy(manifestations=["anaphylaxis"], **kwargs)).reactions == ()


@pytest.mark.parametrize("clinical,verification", [
    ("active", "refuted"), ("active", "entered-in-error"), ("inactive", "confirmed"), ("resolved", "confirmed"),
])
def test_refuted_inactive_or_resolved_allergies_do_not_count(knowledge, clinical, verification):
    p = picture(knowledge, allergy(code="1435169", manifestations=["anaphylaxis"], clinical=clinical,
                                   verification=verification))
    assert p.reactions == ()


def test_allergy_without_status_counts(knowledge):
    p = picture(knowledge, allergy(code="1435169", manifestations=["anaphylaxis"], clinical=None, verification=None))
    assert kinds(p) == [("hypersensitivity", "severe")]


@pytest.mark.parametrize("text,note,expected", [
    # An allergy recorded as text only is graded from its own words (code.text or a note).
    ("anaphylaxis to Venofer 2019", None, [("hypersensitivity", "severe")]),
    ("IV iron (unspecified) - throat swelling", None, [("hypersensitivity", "severe")]),
    ("Ferinject - hives, wheeze", None, [("hypersensitivity", "moderate")]),
    ("Venofer", "anaphylaxis in clinic, adrenaline given", [("hypersensitivity", "severe")]),
    # Nothing graver than the words say: a name alone is a mild reaction, a negated feature is not one.
    ("Venofer", None, [("hypersensitivity", "mild")]),
    ("Venofer - no anaphylaxis", None, [("hypersensitivity", "mild")]),
    ("Venofer - back pain and flushing", None, [("infusion-pain", "mild")]),
    ("Penicillin - anaphylaxis", None, []),
])
def test_allergy_recorded_as_free_text_is_graded_from_its_words(knowledge, text, note, expected):
    resource = allergy(text=text)
    if note:
        resource["note"] = [{"text": note}]
    assert kinds(picture(knowledge, resource)) == expected


def test_free_text_allergy_refuted_does_not_count(knowledge):
    assert picture(knowledge, allergy(text="anaphylaxis to Venofer 2019", verification="refuted")).reactions == ()


# ---------------------------------------------------------------- adverse events and conditions
def adverse_event(event_text, suspect, severity=None, actuality="actual"):
    resource = {"resourceType": "AdverseEvent", "id": f"ae{next(_ids)}", "actuality": actuality,
                "subject": {"reference": "Patient/pat-1"}, "event": {"text": event_text}, "date": "2025-03-01",
                "suspectEntity": [{"instance": suspect}]}
    if severity:
        resource["severity"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/adverse-event-severity",
                                            "code": severity}]}
    return resource


def test_adverse_event_linked_to_an_iron_administration(knowledge):
    p = picture(knowledge, admin(), adverse_event("Flank pain", {"reference": "MedicationAdministration/a1"}))
    assert kinds(p) == [("infusion-pain", "mild")] and p.reactions[0].product_key == "iron_sucrose"


def test_adverse_event_linked_by_medication_display(knowledge):
    p = picture(knowledge, adverse_event("Wheezing and hives", {"display": "Injectafer"}, severity="moderate"))
    assert kinds(p) == [("hypersensitivity", "moderate")]


@pytest.mark.parametrize("severity,seriousness,expected", [
    ("mild", None, ("infusion-pain", "mild")),
    ("moderate", None, ("hypersensitivity", "moderate")),
    ("severe", None, ("hypersensitivity", "severe")),
    (None, "Non-serious", ("infusion-pain", "mild")),
    (None, "Serious", ("hypersensitivity", "severe")),
    ("mild", "SeriousIsLifeThreatening", ("hypersensitivity", "severe")),
])
def test_adverse_event_graded_by_the_reporter_is_never_read_down(knowledge, severity, seriousness, expected):
    event = adverse_event("Flank pain", {"display": "Venofer"}, severity=severity)
    if seriousness:
        event["seriousness"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/adverse-event-seriousness",
                                            "code": seriousness}]}
    assert kinds(picture(knowledge, event)) == [expected]


def test_adverse_event_not_linked_to_iron_or_potential_is_ignored(knowledge):
    assert picture(knowledge, adverse_event("Anaphylaxis", {"display": "Amoxicillin"})).reactions == ()
    assert picture(knowledge, adverse_event("Anaphylaxis", {"display": "Venofer"},
                                            actuality="potential")).reactions == ()


def test_condition_of_chest_pain_linked_to_iron(knowledge):
    p = picture(knowledge, condition(text="Chest pain during iron sucrose infusion"))
    assert kinds(p) == [("infusion-pain", "mild")]


def test_condition_linked_by_evidence_detail(knowledge):
    c = condition(snomed="161891005", text="Backache",
                  evidence=[{"detail": [{"reference": "MedicationAdministration/a1"}]}])
    p = picture(knowledge, admin(), c)
    assert kinds(p) == [("infusion-pain", "mild")] and p.reactions[0].product_key == "iron_sucrose"


def test_condition_that_names_iron_but_no_reaction_is_ignored(knowledge):
    assert picture(knowledge, condition(text="Iron deficiency anaemia treated with Venofer")).reactions == ()


def test_back_pain_not_linked_to_iron_is_ignored(knowledge):
    assert picture(knowledge, condition(text="Chronic back pain", snomed="161891005")).reactions == ()


@pytest.mark.parametrize("clinical,verification", [("resolved", None), ("inactive", None), ("active", "refuted")])
def test_resolved_or_refuted_condition_does_not_count(knowledge, clinical, verification):
    c = condition(text="Anaphylaxis to Venofer", clinical=clinical, verification=verification)
    assert picture(knowledge, c).reactions == ()


# ---------------------------------------------------------------- stopped administrations
@pytest.mark.parametrize("reason,expected", [
    ("Stopped: back pain and flushing", [("infusion-pain", "mild")]),
    ("patient developed stridor", [("hypersensitivity", "severe")]),
    ("allergic reaction", [("hypersensitivity", "mild")]),
    ("IV line lost", []),
])
def test_administration_stopped_for_a_reaction(knowledge, reason, expected):
    p = picture(knowledge, admin(status="stopped", statusReason=[{"text": reason}]))
    assert kinds(p) == expected


def test_completed_administration_with_a_note_is_not_a_stop(knowledge):
    p = picture(knowledge, admin(note=[{"text": "mild flushing, resolved"}]))
    assert p.reactions == ()


@pytest.mark.parametrize("note,expected", [
    # Given in full, but the note records a true hypersensitivity reaction: it counts.
    ("anaphylaxis - adrenaline given", [("hypersensitivity", "severe")]),
    ("hives and wheeze towards the end, settled", [("hypersensitivity", "moderate")]),
    # Benign pain or flushing, or no reaction at all, on a completed infusion: not a reaction record.
    ("pt c/o back pain, settled after slowing", []),
    ("no reaction, tolerated well", []),
    ("observed 30 min, no signs of anaphylaxis", []),
])
def test_completed_administration_whose_note_records_a_reaction(knowledge, note, expected):
    p = picture(knowledge, admin(note=[{"text": note}]))
    assert kinds(p) == expected
    if expected:
        assert "given" in p.reactions[0].evidence[0].text and "stopped" not in p.reactions[0].evidence[0].text


def test_an_erroneous_administration_note_does_not_count(knowledge):
    assert picture(knowledge, admin(status="entered-in-error", note=[{"text": "anaphylaxis"}])).reactions == ()


# ---------------------------------------------------------------- risk factors
def codes(p):
    return sorted(f.code for f in p.risk_factors)


@pytest.mark.parametrize("kwargs,code", [
    ({"snomed": "195967001"}, "asthma"),
    ({"icd10": "J45.909"}, "asthma"),
    ({"text": "Allergic asthma"}, "asthma"),
    ({"text": "Atopic dermatitis"}, "severe_atopy"),
    ({"icd10": "D47.02"}, "mastocytosis"),
    ({"text": "Systemic mastocytosis"}, "mastocytosis"),
    ({"text": "Rheumatoid arthritis"}, "systemic_inflammatory_disease"),
    ({"icd10": "K50.90"}, "systemic_inflammatory_disease"),
    ({"snomed": "77386006"}, "pregnancy"),
])
def test_risk_factor_from_condition(knowledge, kwargs, code):
    p = picture(knowledge, condition(**kwargs))
    assert codes(p) == [code]
    assert p.risk_factors[0].evidence[0].reference.startswith("Condition/")


@pytest.mark.parametrize("clinical,verification", [("resolved", None), ("inactive", None), ("active", "refuted"),
                                                    ("active", "entered-in-error"), ("remission", None)])
def test_risk_factor_records_not_current_do_not_count(knowledge, clinical, verification):
    assert picture(knowledge, condition(snomed="195967001", clinical=clinical,
                                        verification=verification)).risk_factors == ()


@pytest.mark.parametrize("answer,days,pregnant", [("77386006", 10, True), ("60467007", 10, False),
                                                  ("77386006", 400, False)])
def test_pregnancy_status_observation(knowledge, answer, days, pregnant):
    o = obs("82810-3", when=NOW - timedelta(days=days),
            valueCodeableConcept={"coding": [{"system": SNOMED, "code": answer}]})
    assert (codes(picture(knowledge, o)) == ["pregnancy"]) is pregnant


def test_latest_pregnancy_status_wins(knowledge):
    was = obs("82810-3", when=NOW - timedelta(days=60),
              valueCodeableConcept={"coding": [{"system": SNOMED, "code": "77386006"}]})
    now = obs("82810-3", when=NOW - timedelta(days=2),
              valueCodeableConcept={"coding": [{"system": SNOMED, "code": "60467007"}]})
    assert picture(knowledge, was, now).risk_factors == ()


@pytest.mark.parametrize("count,flagged", [(1, False), (2, True), (3, True)])
def test_multiple_drug_allergies(knowledge, count, flagged):
    names = ["Penicillin", "Sulfamethoxazole", "Codeine"][:count]
    p = picture(knowledge, *(allergy(text=n, manifestations=["rash"]) for n in names))
    assert ("multiple_drug_allergies" in codes(p)) is flagged


def test_drug_allergies_count_distinct_current_medication_records(knowledge):
    p = picture(knowledge, allergy(text="Penicillin"), allergy(text="penicillin"),
                allergy(text="Codeine", verification="refuted"), allergy(text="Peanut", category=("food",)))
    assert "multiple_drug_allergies" not in codes(p)


def allergy_of_type(text, kind=None, manifestations=("rash",)):
    resource = allergy(text=text, manifestations=list(manifestations))
    if kind:
        resource["type"] = kind
    return resource


@pytest.mark.parametrize("records,flagged", [
    # Intolerances and non-immune side effects are not allergies (issue 12).
    ([("Codeine", "intolerance", ("rash",)), ("Penicillin", "allergy", ("rash",))], False),
    ([("Codeine", None, ("nausea",)), ("Ferrous sulfate", None, ("constipation",))], False),
    ([("Codeine", "allergy", ({"coding": [{"system": SNOMED, "code": "422587007"}]},)),
      ("Penicillin", "allergy", ("hives",))], False),
    ([("Codeine", "allergy", ("nausea", "hives")), ("Penicillin", "allergy", ("hives",))], True),
    ([("Codeine", "allergy", ("urticaria",)), ("Penicillin", "allergy", ())], True),
    ([("Codeine", None, ("rash",)), ("Penicillin", None, ("rash",))], True),
    # An allergy record to IV iron is the earlier reaction, graded on its own: not a second "drug allergy".
    ([("Venofer", "allergy", ("rash",)), ("Penicillin", "allergy", ("rash",))], False),
    ([("Penicillin", "allergy", ("rash",)), ("Sulfamethoxazole", "allergy", ("rash",))], True),
])
def test_multiple_drug_allergies_means_allergies_to_two_other_drugs(knowledge, records, flagged):
    p = picture(knowledge, *(allergy_of_type(t, k, m) for t, k, m in records))
    assert ("multiple_drug_allergies" in codes(p)) is flagged


@pytest.mark.parametrize("birth,disease,flagged", [
    ("1960-01-01", "Heart failure", True),        # 65
    ("1961-01-01", "Heart failure", False),       # 64
    ("1950-01-01", "COPD", True),
    ("1950-01-01", None, False),
])
def test_older_age_counts_only_with_cardiac_or_respiratory_disease(knowledge, birth, disease, flagged):
    resources = [condition(text=disease)] if disease else []
    p = picture(knowledge, *resources, birth=birth)
    assert ("older_age_cardiorespiratory" in codes(p)) is flagged
    assert "cardiac_disease" not in codes(p) and "respiratory_disease" not in codes(p)


# ---------------------------------------------------------------- unavailable and robustness
def test_unavailable_keys_are_passed_on(knowledge):
    rec = record()
    rec.unavailable["allergies"] = "timeout"
    assert read_patient(rec, knowledge, ctx()).unavailable == ("allergies",)


def test_messy_resources_do_not_raise(knowledge):
    junk = [
        {"resourceType": "Observation", "id": "x1", "code": "718-7", "valueQuantity": "10"},
        {"resourceType": "Observation", "id": "x2", "code": {"coding": [{"system": LOINC, "code": "718-7"}]},
         "effectiveDateTime": "not a date", "valueQuantity": {"value": "ten"}},
        {"resourceType": "AllergyIntolerance", "id": "x3", "code": "Venofer", "reaction": "bad"},
        {"resourceType": "AllergyIntolerance", "id": "x4", "code": {"text": "Venofer"},
         "reaction": [None, {"manifestation": "x"}]},
        {"resourceType": "Condition", "id": "x5", "code": None, "evidence": [None, {"detail": "x"}]},
        {"resourceType": "AdverseEvent", "id": "x6", "suspectEntity": [None, {"instance": "x"}]},
        {"resourceType": "MedicationAdministration", "id": "x7", "medicationCodeableConcept": {"text": "Venofer"},
         "effectivePeriod": {"start": 5}, "dosage": "x"},
    ]
    p = picture(knowledge, *junk, birth="garbage")
    assert p.age_years is None and p.labs == {}


# ---------------------------------------------------------------- thresholds read from the knowledge
def test_hypotension_thresholds_are_the_cited_knowledge_values(knowledge):
    hypotension = knowledge.protocol.hypotension
    assert (hypotension.systolic_max_mmhg.value, hypotension.fall_mmhg.value) == (90, 30)
    assert hypotension.systolic_max_mmhg.source == hypotension.fall_mmhg.source == "S-ASH23"
    assert hypotension.baseline_window_hours.status == "institutional"


def test_systolic_threshold_follows_the_knowledge(knowledge):
    local = with_protocol(knowledge, "hypotension.systolic_max_mmhg", value=85)
    low = sbp(88, START + timedelta(minutes=15))
    assert ("hypersensitivity", "severe") in kinds(picture(knowledge, admin(), low))
    assert kinds(picture(local, admin(), low)) == []


def test_systolic_fall_follows_the_knowledge(knowledge):
    local = with_protocol(knowledge, "hypotension.fall_mmhg", value=40)
    resources = (admin(), sbp(150, START - timedelta(minutes=10)), sbp(115, END + timedelta(minutes=30)))   # fall 35
    assert ("hypersensitivity", "severe") in kinds(picture(knowledge, *resources))
    assert kinds(picture(local, *resources)) == []


@pytest.mark.parametrize("hours_before,severe", [(23, True), (25, False)])
def test_baseline_is_taken_only_within_the_window_before_the_infusion(knowledge, hours_before, severe):
    p = picture(knowledge, admin(), sbp(150, START - timedelta(hours=hours_before)),
                sbp(115, END + timedelta(minutes=30)))
    assert (("hypersensitivity", "severe") in kinds(p)) is severe


@pytest.mark.parametrize("days,pregnant", [(299, True), (301, False)])
def test_pregnancy_status_recency_from_the_knowledge(knowledge, days, pregnant):
    assert knowledge.protocol.data_recency_days.pregnancy.value == 300
    o = obs("82810-3", when=NOW - timedelta(days=days),
            valueCodeableConcept={"coding": [{"system": SNOMED, "code": "77386006"}]})
    assert (codes(picture(knowledge, o)) == ["pregnancy"]) is pregnant
    longer = with_protocol(knowledge, "data_recency_days.pregnancy", value=400)
    assert codes(picture(longer, o)) == ["pregnancy"]


def test_hemoglobin_in_mmol_per_litre_uses_the_monomer_factor(knowledge):
    # 16.114 g/mmol (Hb monomer): 1 mmol/L = 1.6114 g/dL; 8.0 mmol/L = 12.891 g/dL
    assert picture(knowledge, obs("718-7", 8.0, "mmol/L")).labs["718-7"].value == pytest.approx(12.891, abs=0.001)


# ---------------------------------------------------------------- pregnancy (issue 12)
def dated(code, value, when=NOW - timedelta(days=2)):
    return obs(code, when=when, valueDateTime=value)


@pytest.mark.parametrize("resources,weeks", [
    ([dated("8665-2", "2025-04-06")], 8.0),                                 # LMP 8 weeks before NOW
    ([dated("11778-8", "2025-11-30")], 14.0),                               # due in 26 weeks: 40 - 26
    ([obs("49051-6", 13, "wk", when=NOW - timedelta(days=7))], 14.0),       # 13 weeks a week ago
    ([obs("11884-4", 70, "d", when=NOW)], 10.0),                            # gestational age in days
])
def test_pregnancy_is_dated_from_lmp_due_date_or_gestational_age(knowledge, resources, weeks):
    p = picture(knowledge, *resources)
    assert p.pregnancy is not None and p.pregnancy.weeks == pytest.approx(weeks, abs=0.1)


def test_pregnancy_dating_past_term_or_unreadable_is_not_a_current_pregnancy(knowledge):
    assert picture(knowledge, dated("8665-2", "2024-06-01")).pregnancy is None        # 52 weeks ago
    assert picture(knowledge, obs("49051-6", 13, "mo")).pregnancy is None              # unit not readable


def test_a_newer_not_pregnant_status_ends_older_dating(knowledge):
    lmp = dated("8665-2", "2025-04-20", when=NOW - timedelta(days=20))
    status = obs("82810-3", when=NOW - timedelta(days=1),
                 valueCodeableConcept={"coding": [{"system": SNOMED, "code": "60001007", "display": "Not pregnant"}]})
    assert picture(knowledge, lmp, status).pregnancy is None
    older_status = dict(status, effectiveDateTime=iso(NOW - timedelta(days=30)))
    assert picture(knowledge, lmp, older_status).pregnancy is not None


def test_a_pregnancy_condition_or_status_without_dating_is_undated(knowledge):
    p = picture(knowledge, condition(snomed="77386006", text="Pregnant"))
    assert p.pregnancy is not None and p.pregnancy.weeks is None
    status = obs("82810-3", valueCodeableConcept={"coding": [{"system": SNOMED, "code": "77386006"}]})
    assert picture(knowledge, status).pregnancy.weeks is None
    assert picture(knowledge).pregnancy is None


# ---------------------------------------------------------------- pregnancy written in words
def ga_text(words, when=NOW - timedelta(days=1), status="final"):
    return obs("49051-6", when=when, status=status, valueString=words)


def status_text(words, when=NOW - timedelta(days=1), status="final"):
    return obs("82810-3", when=when, status=status, valueString=words)


@pytest.mark.parametrize("words,weeks", [("9 weeks", 9), ("9 wk", 9), ("9+3 weeks", 9 + 3 / 7), ("63 days", 9)])
def test_gestational_age_written_as_text_dates_the_pregnancy(knowledge, words, weeks):
    p = picture(knowledge, ga_text(words, when=NOW - timedelta(days=7)))
    assert p.pregnancy is not None and p.pregnancy.weeks == pytest.approx(weeks + 1, abs=0.01)
    assert p.pregnancy_unread == ()
    assert p.pregnancy.evidence[0].reference.startswith("Observation/")


@pytest.mark.parametrize("words", ["not pregnant", "negative", "no"])
def test_gestational_age_text_that_denies_pregnancy_dates_nothing(knowledge, words):
    p = picture(knowledge, ga_text(words))
    assert p.pregnancy is None and p.pregnancy_unread == ()


@pytest.mark.parametrize("words", ["about 9 weeks", "9+3", "pregnant?", "n/a"])
def test_gestational_age_text_not_read_is_shown_never_guessed(knowledge, words):
    p = picture(knowledge, ga_text(words))
    assert p.pregnancy is None
    (shown,) = p.pregnancy_unread
    assert shown.text == f'Gestational age (not read): "{words}"' and shown.reference.startswith("Observation/")


@pytest.mark.parametrize("words", ["pregnant", "Pregnant"])
def test_pregnancy_status_written_as_text_counts(knowledge, words):
    p = picture(knowledge, status_text(words))
    assert p.pregnancy is not None and p.pregnancy.weeks is None and p.pregnancy_unread == ()
    assert codes(p) == ["pregnancy"]                     # and as a risk factor, read the same way


@pytest.mark.parametrize("words", ["not pregnant", "Negative", "no", "Pregnancy test negative"])
def test_pregnancy_status_text_that_denies_it_does_not_count(knowledge, words):
    p = picture(knowledge, status_text(words))
    assert p.pregnancy is None and p.pregnancy_unread == () and codes(p) == []


@pytest.mark.parametrize("words", ["possibly pregnant", "pregnancy unknown", "Pregnant: no", "pregnancy not ruled out"])
def test_ambiguous_pregnancy_status_text_is_unread_not_pregnant(knowledge, words):
    p = picture(knowledge, status_text(words))
    assert p.pregnancy is None and codes(p) == []
    assert [e.text for e in p.pregnancy_unread] == [f'Pregnancy status (not read): "{words}"']


def test_a_text_only_coded_answer_counts_and_a_possible_pregnancy_does_not(knowledge):
    said = obs("82810-3", valueCodeableConcept={"text": "Pregnant"})
    assert picture(knowledge, said).pregnancy is not None
    possible = obs("82810-3", valueCodeableConcept={"coding": [{"system": SNOMED, "code": "146799005",
                                                                "display": "Possible pregnancy"}]})
    p = picture(knowledge, possible)
    assert p.pregnancy is None and codes(p) == [] and len(p.pregnancy_unread) == 1


@pytest.mark.parametrize("make", [ga_text, status_text])
def test_entered_in_error_text_says_nothing(knowledge, make):
    for words in ("9 weeks", "pregnant", "possibly pregnant"):
        p = picture(knowledge, make(words, status="entered-in-error"))
        assert p.pregnancy is None and p.pregnancy_unread == ()


def test_ambiguous_text_never_raises_nor_ends_a_pregnancy_read_elsewhere(knowledge):
    """A newer unread record is shown beside the older readable ones, which still decide."""
    dating = obs("49051-6", 8, "wk", when=NOW - timedelta(days=10))
    p = picture(knowledge, dating, status_text("possibly pregnant", when=NOW - timedelta(days=1)))
    assert p.pregnancy is not None and p.pregnancy.weeks == pytest.approx(8 + 10 / 7, abs=0.01)
    assert len(p.pregnancy_unread) == 1
    denied = status_text("not pregnant", when=NOW - timedelta(days=5))
    p = picture(knowledge, denied, status_text("pregnancy?", when=NOW - timedelta(days=1)))
    assert p.pregnancy is None and len(p.pregnancy_unread) == 1
    # An unread record older than a readable one is answered by it: nothing to show.
    p = picture(knowledge, status_text("pregnancy?", when=NOW - timedelta(days=5)), status_text("not pregnant"))
    assert p.pregnancy is None and p.pregnancy_unread == ()
    # Older than the recency window: not shown either.
    assert picture(knowledge, status_text("pregnancy?", when=NOW - timedelta(days=301))).pregnancy_unread == ()


def test_a_newer_text_denial_ends_older_dating(knowledge):
    dating = ga_text("9 weeks", when=NOW - timedelta(days=20))
    assert picture(knowledge, dating, status_text("Not pregnant", when=NOW - timedelta(days=2))).pregnancy is None
    assert picture(knowledge, dating, status_text("Not pregnant", when=NOW - timedelta(days=30))).pregnancy is not None


# ---------------------------------------------------------------- dating carried forward: postterm (42 weeks)
@pytest.mark.parametrize("recorded,days_ago,current", [
    (9, 200, True),      # 9 + 28.6 = 37.6 weeks today: early term, still a current pregnancy
    (13, 202, True),     # 41.9 weeks
    (13, 203, True),     # 42.0 weeks: postterm begins at 42 0/7, the boundary is still read as current
    (13, 204, False),    # 42.1 weeks: past 42 weeks, that pregnancy has ended
    (20, 200, False),    # 48.6 weeks
])
def test_gestational_age_projected_past_42_weeks_is_not_current(knowledge, recorded, days_ago, current):
    assert knowledge.suitability["pregnancy"]["max_weeks"]["value"] == 42
    assert knowledge.suitability["pregnancy"]["max_weeks"]["source"] == "S-ACOG-TERM"
    p = picture(knowledge, obs("49051-6", recorded, "wk", when=NOW - timedelta(days=days_ago)))
    assert (p.pregnancy is not None) is current
    written = picture(knowledge, ga_text(f"{recorded} weeks", when=NOW - timedelta(days=days_ago)))
    assert (written.pregnancy is not None) is current


def test_the_postterm_cut_off_is_read_from_the_knowledge(knowledge):
    later = replace(knowledge, suitability={**knowledge.suitability, "pregnancy": {
        **knowledge.suitability["pregnancy"], "max_weeks": {**knowledge.suitability["pregnancy"]["max_weeks"],
                                                            "value": 44}}})
    old = obs("49051-6", 13, "wk", when=NOW - timedelta(days=210))     # 43 weeks today
    assert picture(knowledge, old).pregnancy is None
    assert picture(later, old).pregnancy.weeks == pytest.approx(43, abs=0.01)


def test_a_pregnant_status_newer_than_postterm_dating_is_an_undated_pregnancy(knowledge):
    old = obs("49051-6", 20, "wk", when=NOW - timedelta(days=200))
    p = picture(knowledge, old, status_text("Pregnant", when=NOW - timedelta(days=3)))
    assert p.pregnancy is not None and p.pregnancy.weeks is None


@pytest.mark.parametrize("birth,months", [("2025-02-02", 3), ("2025-02-01", 4), ("2024-06-01", 12), ("2024-06-02", 11)])
def test_age_in_completed_months(knowledge, birth, months):
    assert picture(knowledge, birth=birth).age_months == months
