"""Fewer, clearer cards (issue 13 item 3): over every fixture scenario, per IV-iron order at most three
cards and at most one interruptive (warning or critical) card. Counted on the engine's findings, which name
their order, as the HTTP response returned them."""

from __future__ import annotations

from collections import Counter

import pytest

import cds_service.cds_hooks.hooks as hooks
from support.conformance import assert_valid_response
from support.e2e import SCENARIOS, clients_by_jurisdiction, pin_now, request_with_prefetch
from support.hook_requests import HOOK_URL

MAX_CARDS_PER_ORDER = 3
MAX_INTERRUPTIVE_PER_ORDER = 1


@pytest.fixture
def captured(make_app, monkeypatch):
    """(client for a scenario, list the findings of each call land in)."""
    pin_now(monkeypatch)
    calls: list[list] = []
    pinned = hooks.evaluate

    def capturing(*args, **kwargs):
        findings = pinned(*args, **kwargs)
        calls.append(list(findings))
        return findings

    monkeypatch.setattr(hooks, "evaluate", capturing)
    return clients_by_jurisdiction(lambda jurisdiction: make_app(jurisdiction=jurisdiction).test_client()), calls


def per_order(findings):
    cards = Counter(f.order.request_id for f in findings if f.order is not None)
    loud = Counter(f.order.request_id for f in findings
                   if f.order is not None and f.indicator in ("warning", "critical"))
    return cards, loud


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_no_order_gets_more_than_three_cards_or_more_than_one_interruptive(captured, name):
    client_for, calls = captured
    client = client_for(name)
    body = request_with_prefetch(client, name)
    response = client.post(HOOK_URL, json=body)
    assert response.status_code == 200
    assert_valid_response(response.get_json(), body)
    assert len(calls) <= 1
    findings = calls[0] if calls else []   # no order to check: the hook answers without the engine
    assert len(response.get_json()["cards"]) == len(findings), "every finding is one card"
    cards, loud = per_order(findings)
    for order_id, count in cards.items():
        assert count <= MAX_CARDS_PER_ORDER, f"{name}: {count} cards for {order_id}: {[f.topic for f in findings]}"
        assert loud[order_id] <= MAX_INTERRUPTIVE_PER_ORDER, \
            f"{name}: {loud[order_id]} interruptive cards for {order_id}: {[(f.topic, f.indicator) for f in findings]}"
