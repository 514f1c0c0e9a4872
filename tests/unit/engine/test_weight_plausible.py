"""A recorded weight no patient could have (a unit slip: 450 g read as 0.45 kg, pounds read as kilograms) is not used:
the per-kg limits are not checked, no per-kg dose is offered, and every card that needs the weight says why."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cds_service.engine.patient import read_patient
from cds_service.engine.rules import dose, patient_suitability
from cds_service.fhir.record import PatientRecord
from support.rules import NOW, ctx, draft_resource, facts, knowledge, order, patient

K = knowledge()


def picture(kg, birth="1980-01-15", unit="kg"):
    """The patient reader's picture of a patient born on ``birth`` whose one weight, two days old, is ``kg``."""
    record = PatientRecord()
    record.add({"resourceType": "Patient", "id": "pat-1", **({"birthDate": birth} if birth else {})})
    record.add({"resourceType": "Observation", "id": "w1", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                "effectiveDateTime": (NOW - timedelta(days=2)).isoformat().replace("+00:00", "Z"),
                "valueQuantity": {"value": kg, "unit": unit, "code": unit}})
    return read_patient(record, K, ctx())


@pytest.mark.parametrize("kg,used", [(1.99, False), (2, True), (350, True), (350.01, False), (0.45, False)])
def test_an_adults_weight_on_both_sides_of_each_bound(kg, used):
    p = picture(kg)
    if used:
        assert p.weight_kg == kg and p.weight_implausible is None and p.weight_note is None
    else:
        assert p.weight_kg is None and p.weight_implausible == f"{kg:g} kg"
        assert "could not be right" in p.weight_note and f"{kg:g} kg on " in p.weight_note


@pytest.mark.parametrize("kg,used", [(0.19, False), (0.2, True), (1.5, True), (350.01, False)])
def test_under_one_year_the_low_bound_is_lower(kg, used):
    assert (picture(kg, birth="2026-05-01").weight_kg is not None) is used    # about 7 months old


def test_from_one_year_and_with_no_birth_date_the_2_kg_bound_applies():
    assert picture(1.5, birth="2025-11-01").weight_kg is None               # 1 year old
    assert picture(1.5, birth=None).weight_kg is None                        # age unknown: the stricter bound


def test_a_pound_value_read_as_kilograms_above_350_is_caught_but_a_real_weight_in_pounds_is_converted():
    assert picture(360, unit="kg").weight_kg is None
    assert picture(360, unit="[lb_av]").weight_kg == pytest.approx(163.29, abs=0.01)


def _fcm(dose_mg):
    return order(product="ferric_carboxymaltose", dose_mg=dose_mg, minutes=30,
                 resource=draft_resource(dose_mg=dose_mg, minutes=30))


def test_dose_card_says_the_weight_could_not_be_right_and_offers_no_per_kg_dose():
    unweighed = patient(weight_note="The recorded body weight (0.45 kg on 2026-11-23) could not be right",
                        weight_implausible="0.45 kg", age_years=46, age_months=46 * 12)
    finding = dose.check(facts(_fcm(750), unweighed))
    assert finding.indicator == "info" and finding.suggestions == ()
    assert "0.45 kg could not be right" in finding.summary and "per-kg limit not checked" in finding.summary
    assert "no per-kg dose is offered" in finding.detail
    # above the absolute maximum the only dose offered is the weight-free one (1,000 mg), never 0.45 x 15 mg
    over = dose.check(facts(_fcm(1200), unweighed))
    (suggestion,) = over.suggestions
    assert suggestion.resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 1000
    assert "could not be right" in over.detail


def test_the_same_adult_with_a_plausible_weight_gets_the_per_kg_dose():
    weighed = patient(weight_kg=45, weight_date=(NOW - timedelta(days=2)).isoformat(), age_years=46)
    finding = dose.check(facts(_fcm(750), weighed))
    (suggestion,) = finding.suggestions
    assert suggestion.resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 650


def test_a_childs_card_says_the_weight_could_not_be_right():
    child = patient(age_years=4, age_months=54, weight_implausible="1.6 kg",
                    weight_note="The recorded body weight (1.6 kg on 2026-11-23) could not be right")
    finding = patient_suitability.check(facts(_fcm(200), child))
    assert finding.indicator == "info" and finding.suggestions == ()
    assert "1.6 kg could not be right" in finding.summary and "could not be checked" in finding.detail
    assert patient_suitability.check(facts(_fcm(800), child)).indicator == "warning"   # above the 750 mg cap
