"""dose-limit (issue 12): intervals between doses, course totals, the day's total with the test dose, duplicates."""

from __future__ import annotations

import pytest

from cds_service.engine.rules import dose
from support.rules import administration, days_before, draft_resource, facts, flat, order, patient


def an_order(product, mg, rid="mr-1", minutes=30):
    return order(rid=rid, product=product, dose_mg=mg, minutes=minutes,
                 resource=draft_resource(rid, dose_mg=mg, minutes=minutes))


def history(*doses, kg=70):
    """doses: (product, days ago, mg)."""
    return patient(weight_kg=kg, weight_date=days_before(1)[:10],
                   administrations=tuple(administration(product=p, days=d, dose_mg=mg) for p, d, mg in doses))


def updated_to(finding):
    (suggestion,) = finding.suggestions
    assert suggestion.action == "update"
    return suggestion.resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"]


@pytest.mark.parametrize("days,indicator", [(2, "warning"), (3, None), (8, None), (9, "info")])
def test_ferumoxytol_second_dose_3_to_8_days_after_the_first(days, indicator):
    finding = dose.check(facts(an_order("ferumoxytol", 510), history(("ferumoxytol", days, 510))))
    assert (finding.indicator if finding else None) == indicator
    if indicator == "warning":
        assert finding.suggestions == () and "at least 3 days" in flat(finding.detail)


def test_a_third_ferumoxytol_dose_in_the_course_is_refused():
    given = history(("ferumoxytol", 12, 510), ("ferumoxytol", 6, 510))
    finding = dose.check(facts(an_order("ferumoxytol", 510), given))
    assert finding.indicator == "warning" and finding.suggestions == () and "course" in finding.summary


@pytest.mark.parametrize("days,indicator", [(6, "warning"), (7, None)])
def test_ferric_carboxymaltose_doses_at_least_7_days_apart(days, indicator):
    finding = dose.check(facts(an_order("ferric_carboxymaltose", 750), history(("ferric_carboxymaltose", days, 750))))
    assert (finding.indicator if finding else None) == indicator


def test_ferric_carboxymaltose_course_maximum_1500_mg():
    earlier = history(("ferric_carboxymaltose", 14, 750))
    assert dose.check(facts(an_order("ferric_carboxymaltose", 750), earlier)) is None
    finding = dose.check(facts(an_order("ferric_carboxymaltose", 1000), earlier))
    assert finding.indicator == "warning" and updated_to(finding) == 750 and "per course" in flat(finding.detail)


def test_the_course_window_is_28_days_on_both_sides():
    inside = history(("ferric_carboxymaltose", 28, 750))
    outside = history(("ferric_carboxymaltose", 29, 750))
    assert dose.check(facts(an_order("ferric_carboxymaltose", 1000), inside)).indicator == "warning"
    assert dose.check(facts(an_order("ferric_carboxymaltose", 1000), outside)) is None


def test_another_products_dose_does_not_start_this_products_interval():
    assert dose.check(facts(an_order("ferumoxytol", 510), history(("iron_sucrose", 1, 200)))) is None


def test_iron_dextran_first_dose_leaves_room_for_the_test_dose_on_the_same_day():
    first = history()
    finding = dose.check(facts(an_order("iron_dextran", 100), first))
    # 75 mg left: the label's remainder of the first day's 2 mL after the 0.5 mL test dose (it doses in 0.5 mL)
    assert finding.indicator == "warning" and updated_to(finding) == 75
    assert "test dose" in flat(finding.detail) and "next day" in flat(finding.detail)
    assert dose.check(facts(an_order("iron_dextran", 75), first)) is None
    # once the test dose is drafted it counts instead of the reservation (not twice), and gets no card itself
    test_dose, therapeutic = an_order("iron_dextran", 25, "mr-test", 1), an_order("iron_dextran", 100)
    both = (test_dose, therapeutic)
    assert updated_to(dose.check(facts(therapeutic, first, orders=both))) == 75
    assert dose.check(facts(test_dose, first, orders=both)) is None
    # not a first dose: no test dose, the full 100 mg
    assert dose.check(facts(an_order("iron_dextran", 100), history(("iron_dextran", 30, 100)))) is None


@pytest.mark.parametrize("mg,indicator", [(75, None), (80, "warning")])
def test_iron_dextran_first_dose_on_both_sides_of_the_days_remainder(mg, indicator):
    finding = dose.check(facts(an_order("iron_dextran", mg), history()))
    assert (finding.indicator if finding else None) == indicator
    if finding:
        assert updated_to(finding) == 75 and "0.5 ml steps" in flat(finding.detail)


def test_a_suggested_iron_dextran_dose_and_the_test_dose_together_are_accepted():
    """Accepting both suggestions (the 25 mg test dose and the lowered dose) gives orders with no dose card."""
    finding = dose.check(facts(an_order("iron_dextran", 100), history()))
    lowered, test_dose = an_order("iron_dextran", updated_to(finding)), an_order("iron_dextran", 25, "mr-test", 1)
    both = (test_dose, lowered)
    assert dose.check(facts(lowered, history(), orders=both)) is None
    assert dose.check(facts(test_dose, history(), orders=both)) is None


def test_the_days_line_says_a_test_dose_is_still_to_be_given_not_given():
    detail = flat(dose.check(facts(an_order("iron_dextran", 100), history())).detail)
    assert "0 mg given in the last 24 hours and 25 mg still to be given today" in detail


def test_the_dose_step_comes_from_the_label():
    import dataclasses

    from support.rules import knowledge
    k = knowledge()
    product = k.products["iron_dextran"]
    whole_ml = dataclasses.replace(product.labels["US"], dose_step_ml=None)
    local = dataclasses.replace(k, products={**k.products, "iron_dextran": dataclasses.replace(
        product, labels={**product.labels, "US": whole_ml})})
    finding = dose.check(dataclasses.replace(facts(an_order("iron_dextran", 100), history()), knowledge=local))
    assert updated_to(finding) == 50 and "whole ml" in flat(finding.detail)


def test_two_iv_iron_orders_give_one_warning_naming_both():
    a, b = an_order("ferric_carboxymaltose", 750, "mr-a"), an_order("iron_sucrose", 200, "mr-b")
    first = dose.check(facts(a, history(), orders=(a, b)))
    assert first.indicator == "warning" and "one of 2 IV-iron orders" in first.summary
    assert "ferric carboxymaltose" in first.detail and "iron sucrose" in first.detail
    assert dose.check(facts(b, history(), orders=(a, b))) is None
    assert dose.check(facts(a, history(), orders=(a,))) is None
