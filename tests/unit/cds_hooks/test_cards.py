"""The card builder: findings in, CDS Hooks 2.0 cards out (no HTTP, no engine)."""

from __future__ import annotations

import copy
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.cds_hooks.cards import build_response, fit_summary
from cds_service.engine import topics
from cds_service.engine.model import Finding, IronOrder, SuggestionSpec
from cds_service.knowledge.loader import build, read_files
from support.conformance import assert_valid_response, response_problems
from support.hook_requests import hook_request, medication_request

KNOWLEDGE_DATA = {
    "version": "test",
    "sources": {
        "S-LABEL": {"title": "Example [brand] label", "url": "https://labels.example.org/fcm",
                    "accessed": "2026-11-01"},
        "S-GEN": {"title": "Generic label with a boxed warning", "url": "https://labels.example.org/gen"},
        "S-LOCAL": {"title": "Hospital IV iron protocol", "url": None},
    },
    "products": {
        "ferric_carboxymaltose": {
            "display": "ferric carboxymaltose",
            "concentration_mg_per_ml": {"value": 50, "source": "S-LABEL", "status": "confirmed"},
            "labels": {"US": {
                "label": "Example label", "source": "S-LABEL",
                "max_single_dose": {"value": 1000, "unit": "mg", "source": "S-LABEL", "status": "confirmed"},
                "time_bands": [{"up_to_mg": None, "min_minutes": 15, "method": "infusion",
                                "source": "S-LABEL", "status": "confirmed"}],
                "boxed_warning": {"value": "Symptomatic hypophosphatemia", "source": "S-GEN",
                                  "status": "unconfirmed-conservative", "note": "kept as boxed (stricter)"},
                "observation_minutes": {"value": 30, "source": "S-LABEL", "status": "confirmed"},
            }},
        },
    },
    "protocol": read_files()[0]["protocol"],   # the card builder reads none of it; the knowledge needs one
    "wording": {
        "service_label": "iron-cds test label",
        "topics": {
            "observation-period": {
                "display": "Post-infusion observation period",
                "override_reasons": [{"code": "already-ordered", "display": "Observation already ordered"}],
            },
            "infusion-rate": {"display": "Infusion rate"},
        },
        "override_reasons": [{"code": "clinical-judgement", "display": "Clinical judgement"}],
    },
}


@pytest.fixture(scope="module")
def knowledge():
    return build(copy.deepcopy(KNOWLEDGE_DATA))


DRAFT = medication_request("mr-1", dose_mg=750, minutes=5)
ORDER = IronOrder(request_id="mr-1", resource=DRAFT, product_key="ferric_carboxymaltose", matched_by="code",
                  route="iv", dose_mg=750, dose_source="doseQuantity 750 mg", minutes=5,
                  minutes_source="timing.repeat.duration 5 min")


def observation_request(patient="pat-1", encounter="enc-1"):
    return {
        "resourceType": "ServiceRequest", "status": "draft", "intent": "order",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "0000000", "display": "test observation"}]},
        "subject": {"reference": f"Patient/{patient}"}, "encounter": {"reference": f"Encounter/{encounter}"},
    }


def slower(draft, minutes):
    revised = copy.deepcopy(draft)
    revised["dosageInstruction"][0]["timing"]["repeat"]["duration"] = minutes
    return revised


def finding(topic="observation-period", indicator="info", **kw):
    values = dict(topic=topic, indicator=indicator, order=ORDER,
                  summary=f"{topic}: ferric carboxymaltose", detail=f"Why {topic} fired.")
    values.update(kw)
    return Finding(**values)


def test_no_findings_give_an_empty_cards_array(knowledge):
    assert build_response([], knowledge) == {"cards": []}


def test_cards_are_ordered_critical_warning_info_and_stable_within(knowledge):
    findings = [
        finding("observation-period", "info", summary="info one"),
        finding("infusion-rate", "warning", summary="warning one"),
        finding("formulation", "critical", summary="critical one"),
        finding("iron-status", "info", summary="info two"),
        finding("dose-limit", "warning", summary="warning two"),
    ]
    cards = build_response(findings, knowledge)["cards"]
    assert [c["summary"] for c in cards] == ["critical one", "warning one", "warning two", "info one", "info two"]


def test_card_carries_uuid_indicator_source_and_topic(knowledge):
    card = build_response([finding()], knowledge)["cards"][0]
    uuid.UUID(card["uuid"])
    assert card["indicator"] == "info"
    assert card["source"]["label"] == "iron-cds test label (knowledge test)"   # names the knowledge version
    assert card["source"]["topic"] == {"system": "urn:iron-cds:card-topic", "code": "observation-period",
                                       "display": "Post-infusion observation period"}


def test_source_url_is_the_wording_url_when_set(knowledge):
    data = copy.deepcopy(KNOWLEDGE_DATA)
    data["wording"]["source_url"] = "https://iron-cds.example.org/about"
    card = build_response([finding(sources=("S-LABEL",))], build(data))["cards"][0]
    assert card["source"]["url"] == "https://iron-cds.example.org/about"


def test_without_a_wording_url_the_card_points_at_its_label(knowledge):
    data = copy.deepcopy(KNOWLEDGE_DATA)
    data["wording"].pop("source_url", None)
    card = build_response([finding(sources=("S-LABEL",))], build(data))["cards"][0]
    assert card["source"]["url"] == "https://labels.example.org/fcm"


def test_source_url_falls_back_to_the_cited_label_then_the_products_label(knowledge):
    cited = build_response([finding(sources=("S-LOCAL", "S-GEN"))], knowledge)["cards"][0]
    assert cited["source"]["url"] == "https://labels.example.org/gen"
    uncited = build_response([finding()], knowledge)["cards"][0]
    assert uncited["source"]["url"] == "https://labels.example.org/fcm"


def test_source_url_prefers_the_products_label_among_the_cited_sources(knowledge):
    card = build_response([finding(sources=("S-GEN", "S-LABEL"))], knowledge)["cards"][0]
    assert card["source"]["url"] == "https://labels.example.org/fcm"


def test_patient_level_card_without_a_url_leaves_url_out(knowledge):
    card = build_response([finding("history-unavailable", "warning", order=None)], knowledge)["cards"][0]
    assert "url" not in card["source"]
    assert card["source"]["topic"]["display"] == "Patient history unavailable"   # default when wording lacks it


def test_detail_keeps_the_findings_markdown_and_lists_sources(knowledge):
    card = build_response([finding(sources=("S-LABEL", "S-LOCAL"))], knowledge)["cards"][0]
    assert card["detail"].startswith("Why observation-period fired.")
    assert "**Sources**" in card["detail"]
    # brackets in a title would break the markdown link
    assert "- [Example (brand) label](https://labels.example.org/fcm)\n" in card["detail"]
    assert "- Hospital IV iron protocol" in card["detail"]


def test_cards_never_show_verification_status_or_notes(knowledge):
    """How far a value was verified stays in the console and check-knowledge, not on the card."""
    formulation = build_response([finding("formulation", "warning", sources=("S-GEN",))], knowledge)["cards"][0]
    rate = build_response([finding("infusion-rate", "warning", sources=("S-LABEL", "S-LOCAL"))], knowledge)["cards"][0]
    for card in (formulation, rate):
        assert "verified" not in card["detail"] and "stricter" not in card["detail"] and "S-" not in card["detail"]
    assert "- [Generic label with a boxed warning](https://labels.example.org/gen)" in formulation["detail"]


def test_an_unknown_source_id_is_left_out_rather_than_shown_bare(knowledge):
    card = build_response([finding(sources=("S-NOPE",))], knowledge)["cards"][0]
    assert card["detail"] == "Why observation-period fired."


def test_no_sources_means_no_sources_block(knowledge):
    card = build_response([finding()], knowledge)["cards"][0]
    assert card["detail"] == "Why observation-period fired."


@pytest.mark.parametrize("length", [1, 100, 139])
def test_summary_under_the_limit_is_kept_as_is(length):
    text = ("x" * (length - 1) + "y")
    assert fit_summary(text) == text


@pytest.mark.parametrize("length", [140, 141, 300])
def test_long_summary_is_cut_on_a_word_with_an_ellipsis(length):
    words = "Ferric carboxymaltose infusion is faster than the label allows"
    text = (words + " ") * 10
    text = text[:length].rstrip() + "z" * (length - len(text[:length].rstrip()))
    cut = fit_summary(text)
    assert len(cut) < 140
    assert cut.endswith("\u2026")
    head = cut[:-1]
    assert text.startswith(head)
    assert text[len(head)] in " ,;:.-"                     # the cut fell between words


def test_one_long_word_is_still_cut_below_the_limit():
    cut = fit_summary("a" * 200)
    assert len(cut) < 140 and cut.endswith("\u2026")


def test_summary_whitespace_is_normalised():
    assert fit_summary("  two\n words ") == "two words"


def test_suggestions_have_uuid_label_actions_and_selection_behavior(knowledge):
    specs = (
        SuggestionSpec(label="Infuse over 30 minutes", action="update", description="Slow the infusion",
                       resource=slower(DRAFT, 30), is_recommended=True),
        SuggestionSpec(label="Order observation", action="create", description="Observe 30 minutes",
                       resource=observation_request()),
    )
    card = build_response([finding("infusion-rate", "warning", suggestions=specs)], knowledge)["cards"][0]
    assert card["selectionBehavior"] == "any"
    first, second = card["suggestions"]
    assert first["isRecommended"] is True and "isRecommended" not in second
    assert first["label"] == "Infuse over 30 minutes"
    assert first["actions"] == [{"type": "update", "description": "Slow the infusion", "resource": slower(DRAFT, 30)}]
    assert second["actions"][0]["type"] == "create"
    assert len({card["uuid"], first["uuid"], second["uuid"]}) == 3


def test_delete_action_carries_resource_id_and_no_resource(knowledge):
    specs = (SuggestionSpec(label="Cancel this order", action="delete", description="Remove the draft",
                            resource_id="MedicationRequest/mr-1"),
             SuggestionSpec(label="Cancel (given as resource)", action="delete", description="Remove the draft",
                            resource=DRAFT))
    card = build_response([finding("hypersensitivity-history", "critical", suggestions=specs)], knowledge)["cards"][0]
    for suggestion in card["suggestions"]:
        assert suggestion["actions"] == [{"type": "delete", "description": "Remove the draft",
                                          "resourceId": "MedicationRequest/mr-1"}]


def test_no_suggestions_means_no_suggestion_fields(knowledge):
    card = build_response([finding("iron-status", "warning")], knowledge)["cards"][0]
    assert "suggestions" not in card and "selectionBehavior" not in card


def test_override_reasons_come_from_the_topic_wording_else_the_general_list(knowledge):
    observation = build_response([finding("observation-period")], knowledge)["cards"][0]
    assert observation["overrideReasons"] == [{"system": "urn:iron-cds:override-reason", "code": "already-ordered",
                                               "display": "Observation already ordered"}]
    rate = build_response([finding("infusion-rate", "warning")], knowledge)["cards"][0]
    assert rate["overrideReasons"] == [{"system": "urn:iron-cds:override-reason", "code": "clinical-judgement",
                                        "display": "Clinical judgement"}]


def test_no_override_reasons_in_wording_leaves_the_field_out():
    data = copy.deepcopy(KNOWLEDGE_DATA)
    data["wording"] = {"service_label": "x"}
    card = build_response([finding()], build(data))["cards"][0]
    assert "overrideReasons" not in card


def test_each_call_gets_fresh_uuids(knowledge):
    one = build_response([finding()], knowledge)["cards"][0]["uuid"]
    two = build_response([finding()], knowledge)["cards"][0]["uuid"]
    assert one != two


def test_a_full_response_passes_the_2_0_conformance_checker(knowledge):
    request = hook_request(DRAFT)
    findings = [
        finding("infusion-rate", "warning", sources=("S-LABEL", "S-LOCAL"), suggestions=(
            SuggestionSpec(label="Infuse over 30 minutes", action="update", description="Slow the infusion",
                           resource=slower(DRAFT, 30), is_recommended=True),)),
        finding("observation-period", "info", suggestions=(
            SuggestionSpec(label="Order observation", action="create", description="Observe 30 minutes",
                           resource=observation_request()),)),
        finding("hypersensitivity-history", "critical", suggestions=(
            SuggestionSpec(label="Cancel", action="delete", description="Remove the draft",
                           resource_id="MedicationRequest/mr-1"),)),
        finding("history-unavailable", "warning", order=None, summary="History unavailable"),
    ]
    body = build_response(findings, knowledge)
    assert_valid_response(body, request)


# --- the conformance checker itself must catch what it claims to catch ---------------------------

def _valid_body():
    return {"cards": [{
        "uuid": "c-1", "summary": "Ferric carboxymaltose: observe 30 minutes", "indicator": "info",
        "source": {"label": "iron-cds", "topic": {"system": "urn:iron-cds:card-topic", "code": "observation-period",
                                                  "display": "Observation"}},
        "selectionBehavior": "any",
        "suggestions": [
            {"uuid": "s-1", "label": "Observe", "actions": [
                {"type": "create", "description": "Observe", "resource": observation_request()}]},
            {"uuid": "s-2", "label": "Slow", "actions": [
                {"type": "update", "description": "Slow", "resource": slower(DRAFT, 30)}]},
            {"uuid": "s-3", "label": "Cancel", "actions": [
                {"type": "delete", "description": "Cancel", "resourceId": "MedicationRequest/mr-1"}]},
        ],
        "overrideReasons": [{"system": "urn:iron-cds:override-reason", "code": "x", "display": "X"}],
    }]}


def test_checker_accepts_a_valid_body():
    assert response_problems(_valid_body(), hook_request(DRAFT)) == []


def _mutate(path_and_value):
    body = _valid_body()
    card = body["cards"][0]
    path_and_value(card, body)
    return body


BREAKAGES = {
    "summary too long": lambda c, b: c.update(summary="x" * 140),
    "summary missing": lambda c, b: c.pop("summary"),
    "bad indicator": lambda c, b: c.update(indicator="hard-stop"),
    "no source label": lambda c, b: c["source"].pop("label"),
    "relative source url": lambda c, b: c["source"].update(url="/about"),
    "unknown topic": lambda c, b: c["source"]["topic"].update(code="other"),
    "wrong topic system": lambda c, b: c["source"]["topic"].update(system="urn:other"),
    "no topic": lambda c, b: c["source"].pop("topic"),
    "suggestions without selectionBehavior": lambda c, b: c.pop("selectionBehavior"),
    "bad selectionBehavior": lambda c, b: c.update(selectionBehavior="all"),
    "two recommended with at-most-one": lambda c, b: (
        c.update(selectionBehavior="at-most-one"),
        c["suggestions"][0].update(isRecommended=True), c["suggestions"][1].update(isRecommended=True)),
    "bad action type": lambda c, b: c["suggestions"][0]["actions"][0].update(type="CREATE"),
    "action without description": lambda c, b: c["suggestions"][0]["actions"][0].pop("description"),
    "create without resource": lambda c, b: c["suggestions"][0]["actions"][0].pop("resource"),
    "delete with resource": lambda c, b: c["suggestions"][2]["actions"][0].update(resource=DRAFT),
    "delete without resourceId": lambda c, b: c["suggestions"][2]["actions"][0].pop("resourceId"),
    "delete of an unknown order": lambda c,
    b: c["suggestions"][2]["actions"][0].update(resourceId="MedicationRequest/zz"),
    "override reason without display": lambda c, b: c["overrideReasons"][0].pop("display"),
    "duplicate uuid": lambda c, b: c["suggestions"][1].update(uuid="s-1"),
    "card without uuid": lambda c, b: c.pop("uuid"),
    "suggestion without uuid": lambda c, b: c["suggestions"][0].pop("uuid"),
    "null optional field": lambda c, b: c.update(detail=None),
    "empty string field": lambda c, b: c.update(detail=""),
    "empty overrideReasons": lambda c, b: c.update(overrideReasons=[]),
    "misspelt card key": lambda c, b: c.update(overrideReason=[{"system": "s", "code": "c", "display": "d"}]),
    "invalid FHIR in resource": lambda c,
    b: c["suggestions"][0]["actions"][0]["resource"].update(subject="Patient/pat-1"),
    "suggestion not draft": lambda c, b: c["suggestions"][0]["actions"][0]["resource"].update(status="active"),
    "bad intent": lambda c, b: c["suggestions"][0]["actions"][0]["resource"].update(intent="wish"),
    "other patient": lambda c,
    b: c["suggestions"][0]["actions"][0]["resource"].update(subject={"reference": "Patient/x"}),
    "other encounter": lambda c,
    b: c["suggestions"][0]["actions"][0]["resource"].update(encounter={"reference": "Encounter/x"}),
    "uncoded service": lambda c, b: c["suggestions"][0]["actions"][0]["resource"].pop("code"),
    "update with a new id": lambda c, b: c["suggestions"][1]["actions"][0]["resource"].update(id="mr-2"),
    "unexpected resource type": lambda c,
    b: c["suggestions"][0]["actions"][0]["resource"].update(resourceType="Observation"),
    "cards not an array": lambda c, b: b.update(cards={}),
    "appContext on absolute link": lambda c,
    b: c.update(links=[{"label": "l", "url": "https://x.example", "type": "absolute",
                                                                 "appContext": "a"}]),
}


@pytest.mark.parametrize("name", sorted(BREAKAGES))
def test_checker_rejects(name):
    body = _mutate(BREAKAGES[name])
    assert response_problems(body, hook_request(DRAFT)), f"checker missed: {name}"
    with pytest.raises(AssertionError):
        assert_valid_response(body, hook_request(DRAFT))


def test_a_detail_that_already_cites_its_sources_is_not_given_a_second_list(knowledge):
    cited = "Why.\n\n**Sources**\n- Minimum time: 15 min. Example label [S-LABEL], confirmed."
    card = build_response([finding(detail=cited, sources=("S-LABEL",))], knowledge)["cards"][0]
    assert card["detail"] == cited


def test_the_sources_heading_follows_the_wording(knowledge):
    data = copy.deepcopy(KNOWLEDGE_DATA)
    data["wording"]["common"] = {"sources_heading": "**Quellen**"}
    card = build_response([finding("formulation", "warning", sources=("S-GEN",))], build(data))["cards"][0]
    assert card["detail"].startswith("Why formulation fired.\n\n**Quellen**\n- [Generic label")


def test_eu_cards_read_in_uk_spelling_and_us_cards_in_us_spelling(knowledge):
    data = copy.deepcopy(KNOWLEDGE_DATA)
    data["wording"]["spelling"] = {"EU": {"hypophosphatemia": "hypophosphataemia", "anemia": "anaemia"}}
    text = "Hypophosphatemia risk; anemia; hypophosphatemia."
    spec = finding("formulation", "warning", summary=text, detail=text)
    eu = build_response([spec], build(data), jurisdiction="EU")["cards"][0]
    us = build_response([spec], build(data), jurisdiction="US")["cards"][0]
    assert eu["summary"] == eu["detail"] == "Hypophosphataemia risk; anaemia; hypophosphataemia."
    assert us["summary"] == us["detail"] == text


def test_an_invalid_indicator_is_shown_as_a_warning_not_sent_as_is(knowledge, caplog):
    cards = build_response([finding(indicator="hard-stop"), finding("formulation", "critical")], knowledge)["cards"]
    assert [c["indicator"] for c in cards] == ["critical", "warning"]
    assert "card-invalid-indicator" in {getattr(r, "event", None) for r in caplog.records}


def test_an_empty_summary_still_gives_a_valid_card(knowledge):
    card = build_response([finding(summary="  ")], knowledge)["cards"][0]
    assert card["summary"] == "Post-infusion observation period: see the details"


@pytest.mark.parametrize("spec", [
    SuggestionSpec(label="Update nothing", action="update", description="x"),
    SuggestionSpec(label="Create nothing", action="create", description="x", resource={}),
    SuggestionSpec(label="Delete what?", action="delete", description="x"),
    SuggestionSpec(label="Shout", action="CREATE", description="x", resource=DRAFT),
    SuggestionSpec(label="", action="create", description="x", resource=DRAFT),
])
def test_unusable_suggestions_are_dropped_and_logged(knowledge, caplog, spec):
    good = SuggestionSpec(label="Order observation", action="create", description="", resource=observation_request())
    card = build_response([finding(suggestions=(spec, good))], knowledge)["cards"][0]
    assert [s["label"] for s in card["suggestions"]] == ["Order observation"]
    assert card["suggestions"][0]["actions"][0]["description"] == "Order observation"   # label stands in
    assert "card-invalid-suggestion" in {getattr(r, "event", None) for r in caplog.records}
    assert_valid_response(build_response([finding(suggestions=(spec,))], knowledge), hook_request(DRAFT))


# --- properties over generated input ------------------------------------------------------------------


TOPIC_CODES = list(topics.codes())


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=0, max_size=400))
def test_fit_summary_is_always_short_and_a_prefix_of_the_words(text):
    cut = fit_summary(text)
    normalised = " ".join(text.split())
    assert len(cut) < 140
    if cut.endswith("\u2026") and cut != normalised:
        assert normalised.startswith(cut[:-1])
    else:
        assert cut == normalised


suggestion_specs = st.builds(
    SuggestionSpec,
    label=st.text(min_size=1, max_size=40).filter(str.strip),
    action=st.sampled_from(["create", "update", "delete"]),
    description=st.text(max_size=40),
    resource=st.just(None) | st.just(observation_request()),
    resource_id=st.just(None) | st.just("MedicationRequest/mr-1"),
    is_recommended=st.booleans(),
)
findings_strategy = st.builds(
    Finding,
    topic=st.sampled_from(TOPIC_CODES),
    indicator=st.sampled_from(["info", "warning", "critical"]),
    order=st.just(ORDER) | st.none(),
    summary=st.text(max_size=300),
    detail=st.text(max_size=200),
    sources=st.lists(st.sampled_from(["S-LABEL", "S-GEN", "S-LOCAL", "S-MISSING"]), max_size=3).map(tuple),
    suggestions=st.lists(suggestion_specs, max_size=4).map(tuple),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(findings_strategy, max_size=6))
def test_any_findings_give_a_valid_2_0_response(findings):
    knowledge = build(copy.deepcopy(KNOWLEDGE_DATA))
    body = build_response(findings, knowledge)
    # update suggestions above carry a ServiceRequest the request did not draft: check the 2.0 rules only
    problems = [p for p in response_problems(body, None)]
    assert problems == []
    indicators = [c["indicator"] for c in body["cards"]]
    assert indicators == sorted(indicators, key=["critical", "warning", "info"].index)


def test_override_reasons_follow_the_sets_the_finding_names(knowledge):
    data = copy.deepcopy(KNOWLEDGE_DATA)
    data["wording"].setdefault("topics", {})["premedication"] = {
        "override_reasons": [{"code": "already-premedicated", "display": "Premedication already ordered"}],
        "override_reasons_h1": [{"code": "antihistamine-other-indication",
                                 "display": "Antihistamine for another indication"}]}
    k = build(data)
    plain = build_response([finding("premedication")], k)["cards"][0]
    h1 = build_response([finding("premedication", override_reason_sets=("override_reasons_h1",))], k)["cards"][0]
    both_sets = ("override_reasons", "override_reasons_h1")
    both = build_response([finding("premedication", override_reason_sets=both_sets)], k)["cards"][0]
    assert [r["code"] for r in plain["overrideReasons"]] == ["already-premedicated"]
    assert [r["code"] for r in h1["overrideReasons"]] == ["antihistamine-other-indication"]
    assert [r["code"] for r in both["overrideReasons"]] == ["already-premedicated", "antihistamine-other-indication"]


# --- the patient handout link: one card per order carries it ----------------------------------------------
BASE = "https://cds.example.org"


def linked(findings, knowledge):
    return [c["source"]["topic"]["code"] for c in build_response(findings, knowledge, handout_base=BASE)["cards"]
            if c.get("links")]


def test_the_observation_card_carries_the_handout_link(knowledge):
    assert linked([finding("infusion-rate", "warning"), finding()], knowledge) == ["observation-period"]


def test_without_an_observation_card_the_orders_most_urgent_card_carries_it(knowledge):
    # the observation order is already drafted: the handout stays one click away on a card that remains
    assert linked([finding("dose-limit", "info"), finding("infusion-rate", "warning")], knowledge) == ["infusion-rate"]
    assert linked([finding("dose-limit", "info"), finding("infusion-rate", "info")], knowledge) == ["dose-limit"]


def test_no_handout_link_beside_a_stop_card(knowledge):
    assert linked([finding("hypersensitivity-history", "critical"), finding("infusion-rate", "info")], knowledge) == []


def test_each_order_gets_its_own_link_and_a_patient_level_card_none(knowledge):
    import dataclasses
    other = dataclasses.replace(ORDER, request_id="mr-2")
    findings = [finding("history-unavailable", "warning", order=None), finding(),
                finding("infusion-rate", "warning", order=other)]
    assert sorted(linked(findings, knowledge)) == ["infusion-rate", "observation-period"]
