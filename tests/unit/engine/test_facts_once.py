"""Conclusions several rules share are worked out once per order."""

from __future__ import annotations

import dataclasses

from cds_service.engine import run_rules
from cds_service.engine.rules import hypersensitivity
from support.rules import facts, order, patient, reaction


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
