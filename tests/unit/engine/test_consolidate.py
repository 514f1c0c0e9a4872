"""Fewer, clearer cards for one order: advice folds into a card that acts; one interruptive card at most."""

from __future__ import annotations

from cds_service.engine.consolidate import consolidate
from cds_service.engine.model import Evidence, Finding, SuggestionSpec
from support.rules import knowledge, order

ORDER = order()
SOURCES = "**Sources**"
DATA = "**Patient data behind this card**"
UPDATE = SuggestionSpec(label="slower", action="update", description="slower", resource={"id": "mr-1"})
CREATE = SuggestionSpec(label="observe", action="create", description="observe", resource={"id": "sr-1"})
REACTION = Evidence(text="Rash after iron sucrose", date="2026-05-20")


def finding(topic, indicator="info", suggestions=(), body="", data=(), sources=(), the_order=ORDER):
    parts = [body or f"{topic} body"]
    if data:
        parts.append(DATA + "\n" + "\n".join(f"- {d}" for d in data))
    if sources:
        parts.append(SOURCES + "\n" + "\n".join(f"- {s}" for s in sources))
    return Finding(topic=topic, indicator=indicator, order=the_order, summary=f"{topic} summary",
                   detail="\n\n".join(parts), evidence=(REACTION,) if data else (), sources=tuple(sources),
                   suggestions=tuple(suggestions))


def topics(findings):
    return [(f.topic, f.indicator) for f in findings]


def test_a_mild_history_warning_and_same_product_advice_ride_on_the_rate_card():
    cards = consolidate([
        finding("hypersensitivity-history", "warning", body="Earlier mild reaction.", data=["rash"], sources=["A"]),
        finding("formulation", body="Another product may be better tolerated.", data=["rash"], sources=["B"]),
        finding("infusion-rate", "warning", (UPDATE,), body="Give over 60 min.", sources=["A", "C"]),
        finding("premedication", suggestions=(CREATE,)),
        finding("observation-period", suggestions=(CREATE,)),
    ], knowledge())
    assert topics(cards) == [("infusion-rate", "warning"), ("premedication", "info"), ("observation-period", "info")]
    rate = cards[0]
    assert rate.summary == "infusion-rate summary" and rate.suggestions == (UPDATE,)
    assert rate.detail.index("Give over 60 min.") < rate.detail.index("Earlier mild reaction.")
    assert "Another product may be better tolerated." in rate.detail
    assert rate.detail.count(SOURCES) == 1 and rate.detail.count("- A") == 1 and "- C" in rate.detail
    assert rate.detail.count(DATA) == 1 and rate.detail.count("- rash") == 1
    assert rate.detail.index(DATA) < rate.detail.index(SOURCES)


def test_a_stop_card_takes_no_advice_and_advice_with_an_action_stays():
    stop = finding("hypersensitivity-history", "critical", (UPDATE,))
    boxed = finding("formulation", body="Boxed warning.")
    assert topics(consolidate([stop, boxed], knowledge())) == [("hypersensitivity-history", "critical"),
                                                                ("formulation", "info")]
    test_dose = finding("formulation", "warning", (CREATE,))
    observe = finding("observation-period", suggestions=(CREATE,))
    assert topics(consolidate([test_dose, observe], knowledge())) == [("formulation", "warning"),
                                                                      ("observation-period", "info")]


def test_a_formulation_warning_of_its_own_is_not_folded():
    low_phosphate = finding("formulation", "warning", body="Phosphate low.")
    observe = finding("observation-period", suggestions=(CREATE,))
    assert topics(consolidate([low_phosphate, observe], knowledge())) == [("formulation", "warning"),
                                                                          ("observation-period", "info")]


def test_a_boxed_warning_rides_on_the_observation_card():
    cards = consolidate([finding("formulation", body="Boxed warning."),
                         finding("observation-period", suggestions=(CREATE,))], knowledge())
    assert topics(cards) == [("observation-period", "info")] and "Boxed warning." in cards[0].detail


def test_unreadable_dose_and_time_give_one_card():
    unread = order(dose_mg=None, minutes=None)
    cards = consolidate([finding("dose-limit", "warning", body="Dose not readable.", the_order=unread),
                         finding("infusion-rate", "warning", body="Rate not checked.", the_order=unread)], knowledge())
    assert topics(cards) == [("dose-limit", "warning")] and "Rate not checked." in cards[0].detail
    # with a readable dose, a rate card without a suggestion (its rate unreadable) is a concern of its own
    cards = consolidate([finding("dose-limit", "warning", body="Too much."),
                         finding("infusion-rate", "warning", body="Rate unreadable.")], knowledge())
    assert [t for t, _ in topics(cards)] == ["dose-limit", "infusion-rate"]


def test_at_most_one_interruptive_card_the_loudest_first():
    cards = consolidate([finding("dose-limit", "warning", (UPDATE,)),
                         finding("premedication", "warning", (CREATE,)),
                         finding("iron-status", "warning")], knowledge())
    assert topics(cards) == [("dose-limit", "warning"), ("premedication", "info"), ("iron-status", "info")]
    assert cards[1].suggestions == (CREATE,), "a card made quiet keeps its one-click change"


def test_a_rate_update_that_would_undo_the_dose_update_is_dropped():
    # The dose card's update already carries the time the lower dose needs; the rate card's update keeps the
    # dose above the label, so accepting both (in either order) could put the dose back.
    lower = SuggestionSpec(label="400 mg", action="update", description="400 mg", resource={"id": "mr-1"})
    cards = consolidate([
        finding("dose-limit", "warning", (lower,)),
        finding("infusion-rate", "warning", (UPDATE,)),
        finding("observation-period", suggestions=(CREATE,)),
    ], knowledge())
    assert topics(cards) == [("dose-limit", "warning"), ("observation-period", "info")]


def test_a_rate_card_stays_when_the_dose_card_offers_no_update():
    cards = consolidate([
        finding("dose-limit", "warning", body="Too soon after the last dose."),
        finding("infusion-rate", "warning", (UPDATE,)),
    ], knowledge())
    assert topics(cards) == [("dose-limit", "warning"), ("infusion-rate", "info")]
    assert cards[1].suggestions == (UPDATE,)
