"""Every rule runs cleanly for every product, jurisdiction and typical history (no "could not run" cards)."""

from __future__ import annotations

import itertools

import pytest

from cds_service.engine import run_rules, topics
from cds_service.engine.rules import RULES
from support.rules import (
    administration,
    days_before,
    draft_resource,
    facts,
    knowledge,
    lab,
    order,
    patient,
    reaction,
    risk,
)

K = knowledge()
HISTORIES = {
    "none": patient(),
    "weighed": patient(weight_kg=70, weight_date=days_before(2)[:10]),
    "light": patient(weight_kg=40, weight_date=days_before(2)[:10]),
    "pain": patient(reactions=(reaction(),), administrations=(administration(days=60),)),
    "moderate": patient(reactions=(reaction("hypersensitivity", "moderate"),)),
    "severe": patient(reactions=(reaction("hypersensitivity", "severe"),)),
    "risks": patient(risk_factors=(risk("asthma", "Asthma"), risk("mastocytosis", "Mastocytosis"))),
    "labs": patient(labs=[lab("ferritin", 900), lab("tsat", 45), lab("hemoglobin", 16), lab("phosphate", 1.5)]),
    "unavailable": patient(unavailable=("ironAdministrations", "weight")),
}
ORDERS = {
    "usual": dict(dose_mg=200, minutes=60),
    "large-fast": dict(dose_mg=1500, minutes=1),
    "no-time": dict(dose_mg=100, minutes=None),
    "no-dose": dict(dose_mg=None, minutes=30),
}


@pytest.mark.parametrize("product,jurisdiction", [(p, j) for p in K.products for j in ("US", "EU")])
def test_every_rule_runs_for_every_product(product, jurisdiction):
    display = K.products[product].display
    for (history, the_patient), (shape, kw) in itertools.product(HISTORIES.items(), ORDERS.items()):
        resource = draft_resource(dose_mg=kw["dose_mg"] or 1, minutes=kw["minutes"])
        the_order = order(product=product, resource=resource, **kw)
        findings = run_rules(facts(the_order, the_patient, jurisdiction=jurisdiction))
        assert len({f.topic for f in findings}) == len(findings)
        for finding in findings:
            where = f"{product}/{jurisdiction}/{history}/{shape}/{finding.topic}"
            assert "could not run" not in finding.summary, where
            assert len(finding.summary) < 140 and display in finding.summary, where
            assert finding.indicator in ("info", "warning", "critical"), where
            assert finding.detail.strip(), where
            if finding.suggestions:
                assert finding.sources, where
        stop = any(f.topic == "hypersensitivity-history" and f.indicator == "critical" for f in findings)
        # Every order gets an observation card, except one the stop card says to cancel.
        assert any(f.topic == "observation-period" for f in findings) != stop


def test_every_registered_topic_is_a_rule_or_history_unavailable_with_its_wording():
    assert [t.code for t in topics.registered()] == [r.TOPIC for r in RULES] + ["history-unavailable"]
    assert [r.TOPIC.rank for r in RULES] == sorted(r.TOPIC.rank for r in RULES)
    for topic in topics.registered():
        assert K.wording["topics"][topic.wording]["display"], topic
        assert topic.display and topic.display != topic.code, topic
