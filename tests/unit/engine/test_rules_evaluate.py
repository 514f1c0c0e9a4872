"""evaluate(): which orders get findings, isolation of rule failures, history-unavailable."""

from __future__ import annotations

import logging
import sys
import types

import pytest

from cds_service import engine
from cds_service.engine.model import Finding, PatientPicture
from cds_service.fhir.record import PatientRecord
from support.rules import ctx, draft_resource, knowledge, order

KEYS = ("weight", "ironAdministrations")


@pytest.fixture
def readers(monkeypatch):
    """Fake readers: the test decides which drafts are IV-iron orders and what the patient looks like."""
    state = {"orders": [], "others": [], "patient": PatientPicture(), "patient_error": None}

    def read_orders(draft_orders, record, knowledge):
        return list(state["orders"]), list(state["others"])

    def read_patient(record, knowledge, ctx):
        if state["patient_error"]:
            raise state["patient_error"]
        return state["patient"]

    monkeypatch.setitem(sys.modules, "cds_service.engine.order", types.SimpleNamespace(read_orders=read_orders))
    monkeypatch.setitem(sys.modules, "cds_service.engine.patient", types.SimpleNamespace(read_patient=read_patient))
    return state


def run(selections=None, record=None, hook="order-sign", keys=KEYS):
    return engine.evaluate({"resourceType": "Bundle", "entry": []}, selections, record or PatientRecord(),
                           knowledge(), ctx(hook=hook), keys)


def test_no_findings_without_an_iv_iron_order(readers):
    readers["others"] = [{"resourceType": "MedicationRequest", "id": "other"}]
    record = PatientRecord(unavailable={"weight": "timeout"})
    assert run(record=record) == []


def test_a_non_iv_order_of_an_iron_product_gets_nothing(readers):
    readers["orders"] = [order()]
    readers["orders"][0] = type(readers["orders"][0])(**{**readers["orders"][0].__dict__, "route": "non-iv"})
    assert run() == []


def test_each_iron_order_is_checked_and_named(readers):
    readers["orders"] = [order("mr-1", dose_mg=750), order("mr-2", dose_mg=500,
                                                           resource=draft_resource("mr-2", dose_mg=500))]
    findings = run()
    observed = [f for f in findings if f.topic == "observation-period"]
    assert [f.order.request_id for f in observed] == ["mr-1", "mr-2"]
    assert "order 1 of 2" in observed[0].summary and "order 2 of 2" in observed[1].summary
    assert "750 mg" in observed[0].summary and "500 mg" in observed[1].summary


def test_order_select_gives_findings_only_for_the_selected_orders(readers):
    readers["orders"] = [order("mr-1"), order("mr-2", resource=draft_resource("mr-2"))]
    findings = run(selections=["MedicationRequest/mr-2"], hook="order-select")
    assert {f.order.request_id for f in findings if f.order} == {"mr-2"}
    assert run(selections=[], hook="order-select") == []
    assert {f.order.request_id for f in run(selections=["MedicationRequest/mr-1"],
                                            hook="order-sign")} >= {"mr-1", "mr-2"}


def test_a_failing_rule_becomes_a_visible_warning_and_is_logged_without_data(readers, caplog):
    class Broken:
        TOPIC = "dose-limit"

        @staticmethod
        def check(facts):
            raise ValueError("patient weight 'Jane Doe' not a number")

    class Fine:
        TOPIC = "observation-period"

        @staticmethod
        def check(facts):
            return Finding(topic="observation-period", indicator="info", order=facts.order, summary="ok", detail="ok")

    the_order = order()
    from support.rules import facts as make_facts

    with caplog.at_level(logging.ERROR, logger="iron_cds.engine"):
        findings = engine.run_rules(make_facts(the_order), rules=(Broken, Fine))
    assert [f.topic for f in findings] == ["dose-limit", "observation-period"]
    failed = findings[0]
    assert failed.indicator == "warning" and "could not run" in failed.summary and "by hand" in failed.detail
    assert "ferric carboxymaltose" in failed.summary
    logged = " ".join(str(r.__dict__) for r in caplog.records)
    assert "ValueError" in logged and "Jane Doe" not in logged


def test_one_finding_per_topic_and_order(readers):
    class Twice:
        TOPIC = "formulation"

        @staticmethod
        def check(facts):
            return Finding(topic="formulation", indicator="info", order=facts.order, summary="x", detail="x")

    from support.rules import facts as make_facts

    assert len(engine.run_rules(make_facts(), rules=(Twice, Twice))) == 1


def test_history_unavailable_lists_what_is_missing(readers):
    readers["orders"] = [order()]
    record = PatientRecord(unavailable={"weight": "timeout", "ironAdministrations": "HTTP 500"})
    findings = run(record=record)
    (missing,) = [f for f in findings if f.topic == "history-unavailable"]
    assert missing.order is None and missing.indicator == "warning"
    assert "per-kg dose limits" in missing.detail and "HTTP 500" in missing.detail
    assert "earlier IV-iron doses" in missing.detail and "ferric carboxymaltose" in missing.summary
    assert any(f.topic == "observation-period" for f in findings)  # order-only checks still ran


def test_no_history_card_when_everything_was_obtained(readers):
    readers["orders"] = [order()]
    assert not [f for f in run() if f.topic == "history-unavailable"]


def test_an_unreadable_history_still_checks_the_order_and_says_so(readers, caplog):
    readers["orders"] = [order()]
    readers["patient_error"] = KeyError("boom")
    with caplog.at_level(logging.ERROR, logger="iron_cds.engine"):
        findings = run()
    topics = [f.topic for f in findings]
    assert "history-unavailable" in topics and "observation-period" in topics
