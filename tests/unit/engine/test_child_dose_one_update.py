"""A child above the paediatric dose gets one dose, worked out in one place (``dose.decide``), carried by one card
(patient-suitability); the dose-limit card names the same dose and offers no second change. The dose is rounded down
to what a child's dose is measured in (0.1 mL; 0.01 mL under 1 mL), not to whole mL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cds_service.engine import paediatric
from cds_service.engine.consolidate import consolidate
from cds_service.engine.rules import dose, patient_suitability, rate
from support.rules import NOW, draft_resource, facts, knowledge, order, patient

K = knowledge()
def child(years, kg):
    return patient(age_years=years, age_months=years * 12 + 6, weight_kg=kg,
                   weight_date=(NOW - timedelta(days=2)).isoformat(), weight_reference="Observation/w1")


def adult(kg):
    return patient(age_years=40, age_months=480, weight_kg=kg, weight_date=(NOW - timedelta(days=2)).isoformat())


def fcm(dose_mg, minutes=30, resource=None):
    resource = resource or draft_resource(dose_mg=dose_mg, minutes=minutes)
    return order(product="ferric_carboxymaltose", dose_mg=dose_mg, minutes=minutes, resource=resource)


def updates(finding):
    return [s for s in (finding.suggestions if finding else ()) if s.action == "update"]


def dose_of(resource):
    return resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"]


def test_four_year_old_16_kg_fcm_750_gets_one_dose_on_one_card():
    the_facts = facts(fcm(750), child(4, 16))
    suitability, limit = patient_suitability.check(the_facts), dose.check(the_facts)
    (update,) = updates(suitability)
    assert dose_of(update.resource) == 240                       # 15 mg/kg x 16 kg = 4.8 mL: not 200 (whole mL)
    assert "240 mg" in suitability.summary
    assert limit.indicator == "warning" and updates(limit) == []   # the same dose named, no second change
    assert "give at most 240 mg" in limit.summary and "patient-suitability card" in limit.detail
    cards = consolidate([suitability, limit], K)
    assert [c.indicator for c in cards] == ["warning", "info"]
    assert sum(len(updates(c)) for c in cards) == 1


def test_after_accepting_the_update_a_second_call_gives_no_dose_or_suitability_card():
    (update,) = updates(patient_suitability.check(facts(fcm(750), child(4, 16))))
    accepted = fcm(dose_of(update.resource), resource=update.resource)
    again = facts(accepted, child(4, 16))
    assert patient_suitability.check(again) is None
    assert dose.check(again) is None
    assert rate.check(again) is None


def test_just_at_the_paediatric_dose_no_card_and_just_above_one_update():
    assert patient_suitability.check(facts(fcm(240), child(4, 16))) is None
    assert dose.check(facts(fcm(240), child(4, 16))) is None
    above = facts(fcm(245), child(4, 16))
    (update,) = updates(patient_suitability.check(above))
    assert dose_of(update.resource) == 240 and updates(dose.check(above)) == []


def test_a_childs_update_also_sets_the_time_the_lower_dose_needs_and_no_rate_card_competes():
    # iron sucrose for a 12-year-old, 40 kg: 0.5 mg/kg = 20 mg; ordered 300 mg over 5 minutes (too fast for 300 mg)
    the_order = order(product="iron_sucrose", dose_mg=300, minutes=5,
                      resource=draft_resource(dose_mg=300, minutes=5, product_code="1736394",
                                              display="iron sucrose 20 MG/ML Injection"))
    the_facts = facts(the_order, child(12, 40))
    suitability = patient_suitability.check(the_facts)
    (update,) = updates(suitability)
    assert dose_of(update.resource) == 20
    lower = facts(order(product="iron_sucrose", dose_mg=20, minutes=None, resource=update.resource), child(12, 40))
    too_fast = rate.check(the_facts)
    assert updates(too_fast)                                        # 300 mg over 5 minutes: the rate card's update
    cards = consolidate([f for f in (suitability, dose.check(the_facts), too_fast) if f], K)
    assert sum(len(updates(c)) for c in cards) == 1                 # ... never competes with the dose update
    assert "infusion-rate" not in [c.topic for c in cards]
    assert rate.check(lower) is None or not updates(rate.check(lower))


@pytest.mark.parametrize("product,mg,child_mg,adult_mg", [
    ("sodium_ferric_gluconate", 30, 30, 25),       # 12.5 mg/mL: 2.4 mL; whole mL would give 25 mg
    ("ferric_carboxymaltose", 244.5, 240, 200),    # 50 mg/mL: 4.89 mL -> 4.8 mL
    ("iron_sucrose", 7.5, 7.4, 7),                 # 20 mg/mL: 0.375 mL -> 0.37 mL (1 mL syringe)
    ("iron_sucrose", 20, 20, 20),                  # exactly 1 mL
])
def test_rounding_a_childs_dose_to_what_is_measured_and_an_adults_to_whole_ml(product, mg, child_mg, adult_mg):
    def at(patient_):
        return paediatric.round_down(mg, facts(order(product=product, dose_mg=mg), patient_), None)

    assert at(child(8, 20)) == pytest.approx(child_mg)
    assert at(adult(70)) == pytest.approx(adult_mg)


def test_a_label_that_measures_in_its_own_step_keeps_it_for_a_child():
    the_facts = facts(order(product="iron_dextran", dose_mg=40), child(8, 20))
    assert paediatric.round_down(40, the_facts, 25.0) == 25             # INFeD: 0.5 mL of 50 mg/mL


def test_a_child_below_the_labels_age_gets_no_paediatric_ceiling():
    the_facts = facts(fcm(150), patient(age_years=0, age_months=11, weight_kg=8,
                                        weight_date=(NOW - timedelta(days=2)).isoformat()))
    assert paediatric.paediatric_dose(the_facts) is None
    assert paediatric.paediatric_dose(facts(fcm(150), child(1, 10))) == {"max_mg_per_kg": 15, "max_mg": 750}


def test_a_childs_dose_with_two_decimals_reads_on_the_card_as_the_update_carries_it():
    # sodium ferric gluconate 1.5 mg/kg at 21 kg = 31.5 mg = 2.52 mL -> 2.5 mL of 12.5 mg/mL = 31.25 mg
    the_order = order(product="sodium_ferric_gluconate", dose_mg=62.5, minutes=60,
                      resource=draft_resource(dose_mg=62.5, minutes=60, product_code="1855533",
                                              display="5 ML sodium ferric gluconate complex 12.5 MG/ML Injection"))
    suitability = patient_suitability.check(facts(the_order, child(8, 21)))
    (update,) = updates(suitability)
    assert dose_of(update.resource) == 31.25
    assert "at most 31.25 mg" in suitability.summary and "31.25 mg" in update.label
    assert "31.2 mg" not in suitability.summary + suitability.detail + update.label
    assert "62.5 mg" in suitability.summary                      # one decimal: as before
