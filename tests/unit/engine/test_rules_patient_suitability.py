"""patient-suitability: age against each label, the paediatric dose, and pregnancy (both sides of each threshold)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cds_service.engine.model import Evidence, Pregnancy
from cds_service.engine.rules import patient_suitability as suitability
from support.rules import days_before, draft_resource, facts, knowledge, order, patient

K = knowledge()


def child(months, weight=None, **kw):
    return patient(age_months=months, age_years=months // 12, weight_kg=weight,
                   weight_date=days_before(2)[:10] if weight else None, **kw)


def of(product, dose, minutes=30):
    return order(product=product, dose_mg=dose, minutes=minutes, resource=draft_resource(dose_mg=dose, minutes=minutes))


def check(product, dose, the_patient, **ctx):
    return suitability.check(facts(of(product, dose), the_patient, **ctx))


def new_dose(finding):
    (suggestion,) = finding.suggestions
    assert suggestion.action == "update"
    return suggestion.resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"]


@pytest.mark.parametrize("product,below,at", [
    ("ferric_carboxymaltose", 11, 12),       # from 1 year
    ("iron_sucrose", 23, 24),                # from 2 years
    ("sodium_ferric_gluconate", 71, 72),     # from 6 years
    ("iron_dextran", 3, 4),                  # from 4 months
])
def test_each_labelled_minimum_age_on_both_sides(product, below, at):
    under = check(product, 1, child(below, weight=10))
    assert under.indicator == "warning" and under.suggestions == () and "not established" in under.summary
    assert check(product, 1, child(at, weight=10)) is None   # 1 mg is within any paediatric dose


@pytest.mark.parametrize("product", ["ferumoxytol", "ferric_derisomaltose"])
def test_products_not_established_in_children_warn_at_17_not_at_18(product):
    dose = 510 if product == "ferumoxytol" else 1000
    assert check(product, dose, child(17 * 12 + 11, weight=60)).indicator == "warning"
    assert check(product, dose, child(18 * 12, weight=60)) is None


def test_the_issue_case_four_year_old_15_kg_iron_sucrose_300_mg():
    finding = check("iron_sucrose", 300, child(4 * 12 + 6, weight=15))
    # 0.5 mg/kg x 15 kg = 7.5 mg = 0.375 mL of 20 mg/mL: rounded down to 0.37 mL (a 1 mL syringe), 7.4 mg
    assert finding.indicator == "warning" and new_dose(finding) == 7.4
    assert "0.5 mg/kg" in finding.detail
    assert "Venofer (iron sucrose injection) US prescribing information" in finding.detail


@pytest.mark.parametrize("product,weight,at_limit,cap", [
    ("iron_sucrose", 12, 6, 100),
    ("iron_sucrose", 300, 100, 100),                 # the absolute cap wins for a heavy child
    ("ferric_carboxymaltose", 30, 450, 750),
    ("ferric_carboxymaltose", 60, 750, 750),         # 15 mg/kg would be 900: capped at 750 for a child
    ("sodium_ferric_gluconate", 20, 30, 125),
])
def test_paediatric_dose_on_both_sides(product, weight, at_limit, cap):
    assert check(product, at_limit, child(8 * 12, weight=weight)) is None
    over = check(product, at_limit + 1, child(8 * 12, weight=weight))
    assert over.indicator == "warning" and new_dose(over) == at_limit


def test_without_a_weight_the_dose_could_not_be_checked():
    quiet = check("iron_sucrose", 50, child(5 * 12))
    assert quiet.indicator == "info" and quiet.suggestions == () and "could not be checked" in quiet.detail
    loud = check("iron_sucrose", 300, child(5 * 12))                    # above the 100 mg cap whatever the weight
    assert loud.indicator == "warning" and loud.suggestions == ()


def test_adults_and_unknown_ages_get_no_age_card():
    assert check("ferumoxytol", 510, patient(age_months=None)) is None
    assert check("iron_sucrose", 400, patient(age_months=40 * 12, weight_kg=70)) is None


def test_eu_labels_keep_the_stricter_age():
    assert check("ferric_carboxymaltose", 150, child(10 * 12, weight=30), jurisdiction="EU").indicator == "warning"
    assert check("ferric_carboxymaltose", 150, child(14 * 12, weight=40), jurisdiction="EU") is None


def pregnant(weeks):
    dating = Evidence("Pregnancy dating", "2026-11-01", "Observation/x")
    return patient(age_months=30 * 12, pregnancy=Pregnancy(weeks, (dating,)))


@pytest.mark.parametrize("weeks,indicator", [(4, "warning"), (13.9, "warning"), (14.0, "info"), (27, "info"),
                                             (39, "info"), (None, "info")])
def test_pregnancy_first_trimester_warns_later_trimesters_inform(weeks, indicator):
    finding = check("ferric_carboxymaltose", 750, pregnant(weeks))
    assert finding.indicator == indicator and finding.suggestions == ()
    if indicator == "warning":
        assert "oral iron" in finding.summary and "EMA referral" in finding.detail


def test_unknown_pregnancy_status_gives_nothing():
    assert check("ferric_carboxymaltose", 750, patient(age_months=30 * 12)) is None


def test_a_pregnant_child_gets_one_card_with_both_concerns():
    both = replace(pregnant(8), age_months=16 * 12, weight_kg=50, weight_date=days_before(2)[:10])
    finding = check("ferumoxytol", 510, both)
    assert finding.indicator == "warning"
    assert "not establish" in finding.detail and "first trimester" in finding.detail


def test_every_product_has_both_labels_in_the_data():
    for product in K.products:
        assert set(K.suitability["products"][product]) == {"US", "EU"}, product


UNREAD = Evidence('Pregnancy status (not read): "possibly **pregnant** [see](http://x.test)"', "2026-11-20",
                  "Observation/u")


def test_an_unread_pregnancy_record_is_said_plainly_as_info():
    finding = check("ferric_carboxymaltose", 750, patient(age_months=30 * 12, pregnancy_unread=(UNREAD,)))
    assert finding.indicator == "info" and finding.suggestions == ()
    assert "pregnancy record could not be read" in finding.summary
    assert "not used" in finding.detail and "EMA referral" in finding.detail
    # patient words are shown as text, never as markup
    assert 'possibly \\*\\*pregnant\\*\\* \\[see\\](http\\://x.test)' in finding.detail
    assert finding.evidence == (UNREAD,)


def test_an_unread_record_never_raises_the_warning_but_rides_on_a_warning_from_dating():
    finding = check("ferric_carboxymaltose", 750, replace(pregnant(8), pregnancy_unread=(UNREAD,)))
    assert finding.indicator == "warning" and "oral iron" in finding.summary     # from the dating, not the words
    assert "first trimester" in finding.detail and "could not be read" in finding.detail
    later = check("ferric_carboxymaltose", 750, replace(pregnant(20), pregnancy_unread=(UNREAD,)))
    assert later.indicator == "info" and "week 20" in later.summary
