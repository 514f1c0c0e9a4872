"""Conclusions several rules share are worked out once per order."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.engine import courses, run_rules
from cds_service.engine.rules import dose, hypersensitivity
from support.rules import administration, days_before, facts, flat, order, patient, reaction


def test_the_hypersensitivity_assessment_runs_once_for_all_the_rules_of_an_order(monkeypatch):
    calls = []
    real = hypersensitivity._assess
    monkeypatch.setattr(hypersensitivity, "_assess", lambda f: calls.append(f) or real(f))
    the_facts = facts(order(dose_mg=200, minutes=60), patient(reactions=(reaction("hypersensitivity", "moderate"),)))
    findings = run_rules(the_facts)
    assert {f.topic for f in findings} >= {"hypersensitivity-history", "premedication"}
    assert len(calls) == 1


def test_a_replaced_order_is_assessed_afresh():
    severe = facts(order(), patient(reactions=(reaction("hypersensitivity", "severe"),)))
    assert hypersensitivity.assess(severe).critical
    calm = dataclasses.replace(severe, patient=patient())
    assert hypersensitivity.assess(calm) is None


def test_the_course_doses_are_read_once_for_the_course_total_and_the_interval(monkeypatch):
    calls = []
    real = courses._course_doses
    monkeypatch.setattr(courses, "_course_doses", lambda f: calls.append(f) or real(f))
    given = patient(weight_kg=70, weight_date=days_before(1)[:10],
                    administrations=(administration(days=14, dose_mg=750),))
    finding = dose.check(facts(order(dose_mg=1000), given))
    assert finding.indicator == "warning" and "per course" in flat(finding.detail)
    assert len(calls) == 1


_DOSE = st.tuples(st.sampled_from(["ferric_carboxymaltose", "ferumoxytol", "iron_sucrose"]),
                  st.floats(0, 40), st.sampled_from([0, 100, 510, 750]), st.sampled_from(["completed", "not-done"]))


@settings(max_examples=200, deadline=None)
@given(doses=st.lists(_DOSE, max_size=6), product=st.sampled_from(["ferric_carboxymaltose", "ferumoxytol"]))
def test_the_course_doses_kept_for_the_order_are_what_reading_them_afresh_gives(doses, product):
    """The plain way: filter the product's doses in the window and sort them newest first, on every ask."""
    the_facts = facts(order(product=product, dose_mg=510), patient(administrations=tuple(
        dataclasses.replace(administration(product=p, days=d, dose_mg=mg), status=status)
        for p, d, mg, status in doses)))
    window = float(the_facts.knowledge.courses["window_days"]["value"])
    today = the_facts.ctx.now.date()
    plain = [a for a in the_facts.patient.administrations if a.product_key == product and a.status != "not-done"
             and 0 <= (today - courses._day(a)).days <= window]
    plain = sorted(plain, key=courses._day, reverse=True)
    assert list(courses.course_doses(the_facts)) == plain
    assert courses.course_doses(the_facts) is courses.course_doses(the_facts)   # kept, not read again
