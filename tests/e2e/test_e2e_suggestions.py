"""End to end through HTTP: what the suggestions actually order (beyond their topics and action types).

Every suggestion must be an order a prescriber can sign as-is: the rate update
keeps the draft's id and dose and only slows it; the dose update lowers the
dose to the limit; premedication is never an H1 antihistamine; a critical
hypersensitivity card offers to cancel exactly the draft it is about; every
order card names the drug and cites its sources.
"""

from __future__ import annotations

import copy
import re

import pytest

from cds_service.knowledge.loader import load_knowledge
from support.conformance import assert_valid_response
from support.e2e import (
    SCENARIOS,
    actions_of,
    apply_actions,
    load,
    order_sign_after,
    pin_now,
    recommended,
    request_with_prefetch,
    suggestion_keys,
)
from support.hook_requests import HOOK_URL

H1_ANTIHISTAMINES = ("diphenhydramine", "chlorphenamine", "chlorpheniramine", "hydroxyzine", "promethazine",
                     "clemastine", "dimenhydrinate")
H1_RXNORM = {"3498"}           # diphenhydramine (IN)


@pytest.fixture
def e2e(client, monkeypatch):
    pin_now(monkeypatch)
    return client


def call(client, name):
    body = request_with_prefetch(client, name)
    response = client.post(HOOK_URL, json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    result = response.get_json()
    assert_valid_response(result, body)
    return result


def draft(name, index=0):
    return load(SCENARIOS[name]["order"])["entry"][index]["resource"]


def minutes_of(resource):
    return resource["dosageInstruction"][0]["timing"]["repeat"]["duration"]


def dose_of(resource):
    return resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]


def numbers_in(text):
    return {float(n.replace(",", "")) for n in re.findall(r"\d[\d,]*(?:\.\d+)?", text)}


def assert_text_agrees(update, original, old, new):
    """A free-text dosage left from the draft must not contradict the structured change (nurses read it)."""
    text = update["dosageInstruction"][0].get("text")
    if text is None or text != original["dosageInstruction"][0].get("text"):
        if text is not None:
            assert old not in numbers_in(text), f"dosage text still says {old:g}: {text!r}"
            assert new in numbers_in(text), f"dosage text does not say {new:g}: {text!r}"
        return
    raise AssertionError(f"the draft's dosage text was kept unchanged and now contradicts the update: {text!r}")


def single(actions, kind):
    matching = [a for a in actions if a["type"] == kind]
    assert len(matching) == 1, f"expected one {kind} action, got {actions}"
    return matching[0]


@pytest.mark.parametrize("name, at_least", [("rate-too-fast", 15), ("pain-history", 30),
                                            ("pain-within-window", 30)])
def test_rate_update_keeps_the_draft_and_its_dose_and_only_slows_it(e2e, name, at_least):
    original = draft(name)
    update = single(actions_of(call(e2e, name), "infusion-rate"), "update")["resource"]
    assert update["id"] == original["id"]
    assert update["medicationCodeableConcept"] == original["medicationCodeableConcept"]
    assert dose_of(update)["value"] == dose_of(original)["value"]
    assert update["dosageInstruction"][0]["route"] == original["dosageInstruction"][0]["route"]
    repeat = update["dosageInstruction"][0]["timing"]["repeat"]
    assert repeat.get("durationUnit") == "min"
    assert repeat["duration"] >= at_least
    assert repeat["duration"] > minutes_of(original)
    assert_text_agrees(update, original, float(minutes_of(original)), float(repeat["duration"]))


@pytest.mark.parametrize("name, limit", [("dose-over-absolute", 1000), ("dose-over-per-kg", 675),
                                         ("weight-unknown-over-absolute", 1000)])
def test_dose_update_lowers_the_dose_to_the_limit_and_keeps_the_rest(e2e, name, limit):
    original = draft(name)
    update = single(actions_of(call(e2e, name), "dose-limit"), "update")["resource"]
    assert update["id"] == original["id"]
    assert update["medicationCodeableConcept"] == original["medicationCodeableConcept"]
    new_dose = dose_of(update)
    assert new_dose["unit"] == "mg" or new_dose.get("code") == "mg"
    assert 0 < new_dose["value"] <= limit
    assert_text_agrees(update, original, float(dose_of(original)["value"]), float(new_dose["value"]))


@pytest.mark.parametrize("name", [n for n, s in SCENARIOS.items()
                                  if any(c["topic"] == "premedication" for c in s["expected"])])
def test_premedication_is_never_an_h1_antihistamine(e2e, name):
    for action in actions_of(call(e2e, name), "premedication"):
        resource = action.get("resource") or {}
        if action["type"] != "create":
            continue
        assert resource["resourceType"] == "MedicationRequest"
        text = str(resource).lower()
        assert not any(drug in text for drug in H1_ANTIHISTAMINES), resource
        codes = {c["code"] for c in resource["medicationCodeableConcept"]["coding"]}
        assert not codes & H1_RXNORM


def test_premedication_after_infusion_pain_is_the_protocols_analgesic(e2e):
    knowledge = load_knowledge()
    regimen = knowledge.protocol.premedication_regimens.infusion_pain
    wanted = {knowledge.premedications[key].rxnorm for key in regimen}
    created = [a["resource"] for a in actions_of(call(e2e, "pain-history"), "premedication") if a["type"] == "create"]
    codes = {c["code"] for r in created for c in r["medicationCodeableConcept"]["coding"]}
    assert wanted <= codes


def test_diphenhydramine_in_the_draft_orders_is_named_in_the_warning(e2e):
    body = call(e2e, "diphenhydramine-premedication")
    card = next(c for c in body["cards"] if c["source"]["topic"]["code"] == "premedication")
    assert "diphenhydramine" in (card["summary"] + card.get("detail", "")).lower()


@pytest.mark.parametrize("name", [n for n, s in SCENARIOS.items()
                                  if any(c["indicator"] == "critical" for c in s["expected"])])
def test_critical_hypersensitivity_card_offers_to_cancel_this_draft(e2e, name):
    body = call(e2e, name)
    assert body["cards"][0]["indicator"] == "critical", "critical cards come first"
    delete = single(actions_of(body, "hypersensitivity-history"), "delete")
    assert delete["resourceId"] == f"MedicationRequest/{draft(name)['id']}"
    assert "resource" not in delete


@pytest.mark.parametrize("name", [n for n in SCENARIOS if n.startswith("clean-")])
def test_observation_order_is_a_draft_service_request_for_at_least_30_minutes(e2e, name):
    knowledge = load_knowledge()
    code = knowledge.protocol.observation.service_code
    created = [a["resource"] for a in actions_of(call(e2e, name), "observation-period") if a["type"] == "create"]
    assert len(created) == 1
    order = created[0]
    assert order["resourceType"] == "ServiceRequest" and order["status"] == "draft"
    assert any(c["system"] == code.system and c["code"] == code.code for c in order["code"]["coding"])
    minutes = [int(w) for w in str(order).replace("(", " ").split() if w.isdigit()]
    assert any(m >= 30 for m in minutes), "the order must state the observation time"


@pytest.mark.parametrize("name", sorted(n for n, s in SCENARIOS.items() if s["expected"]))
def test_every_order_card_names_the_drug_and_cites_sources(e2e, name):
    knowledge = load_knowledge()
    orders = [e["resource"] for e in load(SCENARIOS[name]["order"])["entry"]]
    names = set()
    for order in orders:
        text = str(order.get("medicationCodeableConcept", "")).lower()
        for product in knowledge.products.values():
            candidates = {product.display.lower(), *(b.lower() for b in product.brands),
                          *(n.lower() for n in product.names)}
            if any(c in text for c in candidates) or any(code in text for code in product.rxnorm):
                names |= candidates
    assert names, f"no product found for {name}"
    for card in call(e2e, name)["cards"]:
        assert any(n in card["summary"].lower() for n in names), card["summary"]
        assert "Sources" in card.get("detail", ""), f"{card['source']['topic']['code']} card cites no source"


def test_two_iron_orders_in_one_call_are_each_checked_and_named(e2e):
    body = request_with_prefetch(e2e, "rate-too-fast")
    second = copy.deepcopy(draft("clean-iron-sucrose"))
    second["id"] = "icds-second-iron-order"
    second["subject"] = {"reference": f"Patient/{SCENARIOS['rate-too-fast']['patient_id']}"}
    body["context"]["draftOrders"]["entry"].append({"resource": second})
    response = e2e.post(HOOK_URL, json=body)
    assert response.status_code == 200
    result = response.get_json()
    assert_valid_response(result, body)
    observation = [c for c in result["cards"] if c["source"]["topic"]["code"] == "observation-period"]
    assert len(observation) == 2, "one observation card per IV-iron order"
    summaries = " ".join(c["summary"].lower() for c in observation)
    assert "carboxymaltose" in summaries and "sucrose" in summaries


def test_us_iron_dextran_first_dose_suggests_the_labels_test_dose(e2e):
    knowledge = load_knowledge()
    test_dose = knowledge.products["iron_dextran"].labels["US"].test_dose
    original = draft("clean-iron-dextran")
    created = [a["resource"] for a in actions_of(call(e2e, "clean-iron-dextran"),
                                                 "formulation") if a["type"] == "create"]
    assert len(created) == 1
    order = created[0]
    assert order["resourceType"] == "MedicationRequest" and order["status"] == "draft"
    assert order["medicationCodeableConcept"]["coding"] == original["medicationCodeableConcept"]["coding"]
    assert dose_of(order)["value"] == test_dose["dose_mg"]
    assert order["dosageInstruction"][0]["route"]["coding"][0]["code"] == "47625008"
    assert order["id"] != original["id"]
    dosage = order["dosageInstruction"][0]
    assert dosage["timing"]["repeat"]["duration"] == test_dose["min_administration_seconds"]
    assert dosage["timing"]["repeat"]["durationUnit"] == "s"
    (wait,) = [e["valueDuration"] for e in dosage["extension"] if e["url"].endswith("wait-before-rest-of-dose")]
    assert wait["value"] == test_dose["wait_minutes"] and wait["code"] == "min"
    assert "30 seconds" in dosage["text"] and "60 minutes" in dosage["text"] and "rest of the dose" in dosage["text"]


# --- suggestions that settle (issue 13 item 2) -------------------------------------------------------------
# Accepting a recommended suggestion and signing again must not bring a new recommendation, nor a rate or
# dose warning the first answer did not have: otherwise the cards oscillate and the prescriber is asked to
# undo what the service asked a moment before.

RATE_OR_DOSE = ("infusion-rate", "dose-limit")



def sign(client, name, draft_orders):
    body = order_sign_after(client, name, draft_orders)
    response = client.post(HOOK_URL, json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    result = response.get_json()
    assert_valid_response(result, body)
    return result


def interruptive_rate_or_dose(body):
    return {(c["source"]["topic"]["code"], c["summary"]) for c in body["cards"]
            if c["source"]["topic"]["code"] in RATE_OR_DOSE and c["indicator"] in ("warning", "critical")}


def assert_settled(before, after, accepted_keys, what):
    offered = set().union(*(suggestion_keys(t, s) for t, s in recommended(before))) if recommended(before) else set()
    for topic, suggestion in recommended(after):
        keys = suggestion_keys(topic, suggestion)
        assert not keys & accepted_keys, f"{what}: the accepted suggestion is offered again: {suggestion['label']}"
        assert keys <= offered, f"{what}: a new recommendation appeared: {topic}: {suggestion['label']}"
    new_warnings = {t for t, _ in interruptive_rate_or_dose(after)} - {t for t, _ in interruptive_rate_or_dose(before)}
    assert not new_warnings, f"{what}: a new rate or dose warning appeared: {interruptive_rate_or_dose(after)}"
    settled = {t for t, kind, _ in accepted_keys if kind == "update" and t in RATE_OR_DOSE}
    back = settled & {t for t, _ in interruptive_rate_or_dose(after)}
    assert not back, f"{what}: the accepted {back} card is back"


SETTLE_NAMES = sorted(n for n, s in SCENARIOS.items() if s["expected"])


@pytest.mark.parametrize("name", SETTLE_NAMES)
def test_accepting_each_recommended_suggestion_settles(service_for, name):
    client = service_for(name)
    drafts = load(SCENARIOS[name]["order"])
    before = sign(client, name, drafts)
    for topic, suggestion in recommended(before):
        after = sign(client, name, apply_actions(drafts, suggestion["actions"]))
        assert_settled(before, after, suggestion_keys(topic, suggestion), f"{name}, after '{suggestion['label']}'")


@pytest.mark.parametrize("name", SETTLE_NAMES)
def test_accepting_every_recommended_suggestion_settles(service_for, name):
    client = service_for(name)
    drafts = load(SCENARIOS[name]["order"])
    before = sign(client, name, drafts)
    accepted = recommended(before)
    actions = [a for _, s in accepted for a in s["actions"]]
    after = sign(client, name, apply_actions(drafts, actions))
    keys = set().union(*(suggestion_keys(t, s) for t, s in accepted)) if accepted else set()
    assert_settled(before, after, keys, f"{name}, after accepting all")
    again = sign(client, name, apply_actions(drafts, actions))
    assert [c["summary"] for c in again["cards"]] == [c["summary"] for c in after["cards"]], "signing again is stable"


def test_an_ml_per_hour_rate_is_restated_for_the_bag_the_order_names(e2e):
    update = single(actions_of(call(e2e, "rate-ml-per-hour-bag"), "infusion-rate"), "update")["resource"]
    dosage = update["dosageInstruction"][0]
    assert dosage["timing"]["repeat"]["duration"] == 15
    assert dosage["doseAndRate"][0]["rateQuantity"]["value"] == 400       # 100 mL over 15 min
    assert dosage["text"] == "750 mg in 100 mL sodium chloride 0.9% at 400 mL/h over 15 minutes"


def test_a_slow_push_stays_a_push_when_slowed(e2e):
    update = single(actions_of(call(e2e, "slow-push-1-min"), "infusion-rate"), "update")["resource"]
    dosage = update["dosageInstruction"][0]
    assert dosage["timing"]["repeat"]["duration"] == 2
    assert dosage["text"] == "100 mg slow IV push over 2 min"
    assert dosage["route"] == draft("slow-push-1-min")["dosageInstruction"][0]["route"]
