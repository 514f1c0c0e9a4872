"""End to end through HTTP: every fixture scenario, with full prefetch, with FHIR reads, and half and half.

The cards (topic, indicator, suggestion action types) must match
``fhir_fixtures/scenarios.json`` and be the same whichever way the data
arrived; every response must pass the CDS Hooks 2.0 checker, with suggestion
resources valid R4 tied to this patient and this call's draft orders.
"""

from __future__ import annotations

import pytest
import responses

from support.conformance import assert_valid_response
from support.e2e import (
    ACCESS_TOKEN,
    SCENARIOS,
    FakeFhirServer,
    comparable,
    expected,
    load,
    pin_now,
    request_for_fhir_reads,
    request_with_prefetch,
    signature,
    templates,
)
from support.hook_requests import HOOK_URL

NAMES = sorted(SCENARIOS)


@pytest.fixture
def e2e(client, monkeypatch):
    pin_now(monkeypatch)
    return client



def post(client, body: dict) -> dict:
    response = client.post(HOOK_URL, json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    result = response.get_json()
    assert_valid_response(result, body)
    return result


def call_with_prefetch(client, name: str) -> dict:
    # No fhirServer in the request: any read attempt would be a bug (and responses is not active).
    return post(client, request_with_prefetch(client, name))


def call_with_fhir_reads(client, name: str, prefetch_keys: set[str] | None = None):
    prefetch = None
    if prefetch_keys is not None:
        prefetch = request_with_prefetch(client, name, keys=prefetch_keys)["prefetch"]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        server = FakeFhirServer(mock, load(SCENARIOS[name]["patient"]))
        body = request_for_fhir_reads(name, prefetch)
        return post(client, body), server


@pytest.mark.parametrize("name", NAMES)
def test_scenario_with_full_prefetch(service_for, name):
    body = call_with_prefetch(service_for(name), name)
    assert signature(body) == expected(name), SCENARIOS[name]["demonstrates"]


@pytest.mark.parametrize("name", NAMES)
def test_scenario_with_fhir_reads_matches_prefetch(service_for, name):
    e2e = service_for(name)
    body, server = call_with_fhir_reads(e2e, name)
    assert signature(body) == expected(name), SCENARIOS[name]["demonstrates"]
    assert comparable(body) == comparable(call_with_prefetch(e2e, name))
    iv_iron_expected = bool(SCENARIOS[name]["expected"]) or name == "observation-already-drafted"
    if iv_iron_expected:
        # every advertised template was read, each with the EHR's bearer token
        assert len(server.requests) >= len(templates(e2e, SCENARIOS[name]["hook"]))
    assert all(auth == f"Bearer {ACCESS_TOKEN}" for _, auth in server.requests)


@pytest.mark.parametrize("name", ["pain-history", "severe-reaction", "dose-over-per-kg", "fcm-recent",
                                  "iron-replete", "moderate-reaction"])
def test_scenario_with_partial_prefetch_matches_prefetch(e2e, name):
    keys = set(templates(e2e, SCENARIOS[name]["hook"]))
    half = set(sorted(keys)[::2])
    body, server = call_with_fhir_reads(e2e, name, prefetch_keys=half)
    assert signature(body) == expected(name)
    assert comparable(body) == comparable(call_with_prefetch(e2e, name))
    read = {url.split("?")[0].split("/")[0] for url, _ in server.requests}
    assert read, "the keys that were not prefetched must be read"


def test_oral_iron_and_non_iron_orders_get_no_cards_at_all(e2e):
    for name in ("oral-iron", "non-iron"):
        assert call_with_prefetch(e2e, name) == {"cards": []}
        body, _ = call_with_fhir_reads(e2e, name)
        assert body == {"cards": []}


def test_order_select_checks_only_the_selected_order(e2e):
    """order-select: a second, unselected IV-iron draft is context, not a subject of cards."""
    body = request_with_prefetch(e2e, "clean-fcm-order-select")
    fast = load(SCENARIOS["rate-too-fast"]["order"])["entry"][0]["resource"]
    fast = {**fast, "id": "icds-unselected-fast-order",
            "subject": {"reference": f"Patient/{SCENARIOS['clean-fcm-order-select']['patient_id']}"}}
    body["context"]["draftOrders"]["entry"].append({"resource": fast})
    result = post(e2e, body)
    assert signature(result) == expected("clean-fcm-order-select")   # no rate card for the unselected order
    body["context"]["selections"].append("MedicationRequest/icds-unselected-fast-order")
    both = post(e2e, body)
    assert "infusion-rate" in {c["source"]["topic"]["code"] for c in both["cards"]}


def apply_suggestions(drafts: dict, body: dict, topics: set[str]) -> dict:
    """What an EHR does when the prescriber accepts every suggestion of the cards with these topics."""
    entries = {f"{e['resource']['resourceType']}/{e['resource']['id']}": e["resource"] for e in drafts["entry"]}
    for card in body["cards"]:
        if card["source"]["topic"]["code"] not in topics:
            continue
        for suggestion in card.get("suggestions") or []:
            for action in suggestion["actions"]:
                if action["type"] == "delete":
                    entries.pop(action["resourceId"], None)
                else:
                    resource = action["resource"]
                    entries[f"{resource['resourceType']}/{resource['id']}"] = resource
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in entries.values()]}


@pytest.mark.parametrize("name, accepted, may_remain", [
    ("pain-history", {"infusion-rate", "premedication", "observation-period"}, set()),
    ("rate-too-fast", {"infusion-rate", "observation-period"}, set()),
    ("dose-over-absolute", {"dose-limit", "observation-period"}, set()),
    ("risk-several", {"infusion-rate", "premedication", "observation-period"}, set()),
    ("diphenhydramine-premedication", {"premedication", "observation-period"}, set()),
    # the phosphate result is still to come: the reminder may stay, the lab order must not be suggested twice
    ("fcm-recent", {"formulation", "observation-period"}, {"formulation"}),
])
def test_suggestions_accepted_at_order_select_are_not_suggested_again_at_order_sign(e2e, name, accepted, may_remain):
    """The stale-guidance flow: accept everything at order-select, sign, and those suggestions are gone."""
    select = request_with_prefetch(e2e, name)
    select["hook"] = "order-select"
    select["context"]["selections"] = [f"MedicationRequest/{e['resource']['id']}"
                                       for e in select["context"]["draftOrders"]["entry"]
                                       if e["resource"]["id"].endswith("-mr")]
    first = post(e2e, select)
    assert accepted <= {c["source"]["topic"]["code"] for c in first["cards"]}

    sign = request_with_prefetch(e2e, name)
    sign["context"]["draftOrders"] = apply_suggestions(select["context"]["draftOrders"], first, accepted)
    second = post(e2e, sign)
    again = [c for c in second["cards"] if c["source"]["topic"]["code"] in accepted]
    assert not [c["summary"] for c in again if c.get("suggestions")], "suggested again after acceptance"
    assert {c["source"]["topic"]["code"] for c in again} <= may_remain
