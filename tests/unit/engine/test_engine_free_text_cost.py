"""Free text costs linear work, is read up to a cap, and the engine keeps to a deadline (issue 10, finding 2).

Work is counted (words the scanner visits), never timed; the timing figure is in
benchmarks/free_text.py. The clock of the deadline is driven by the test.
"""

from __future__ import annotations

import logging

import pytest

from cds_service import engine
from cds_service.engine import budget
from cds_service.engine.manifestations import classifier_for
from cds_service.engine.negation import WorkMeter
from cds_service.fhir.record import PatientRecord
from cds_service.knowledge.loader import load_knowledge
from support.hook_requests import HOOK_URL, hook_request, medication_request
from support.rules import ctx, draft_resource

SEVERE = ("severe", "anaphylaxis")


@pytest.fixture(scope="module")
def knowledge():
    return load_knowledge()


@pytest.fixture(scope="module")
def finder(knowledge):
    return classifier_for(knowledge).finder


def work(finder, text) -> tuple[int, tuple[list, list]]:
    meter = WorkMeter()
    found = finder.find(text, meter)
    return meter.steps, found


# ---------------------------------------------------------------- linear work
@pytest.mark.parametrize("unit", [
    "anaphylaxis was ruled out ",                    # one long clause, a mention every 4 words (the quadratic case)
    "no rash hives or wheeze and no anaphylaxis ",   # pre cues before every mention
    "no history of any prior anaphylaxis, ",         # cue at the far end of the window
])
def test_work_grows_linearly_with_the_text(finder, unit):
    one = unit * (480 // len(unit))
    eight = one * 8                                   # still below the cap: the scanner reads all of it
    assert len(eight) <= budget.TEXT_CAP
    steps_one, found_one = work(finder, one)
    steps_eight, found_eight = work(finder, eight)
    assert found_one == found_eight
    assert steps_eight <= 9 * steps_one               # quadratic re-scanning would be ~64x
    assert steps_eight <= 6 * len(eight.split())      # a bounded number of looks per word


def test_work_is_flat_past_the_cap(finder):
    text = "anaphylaxis was ruled out " * 400
    steps_8k, _ = work(finder, text[:8 * 1024])
    steps_50k, _ = work(finder, (text * 5)[:50 * 1024])
    assert steps_50k == steps_8k


@pytest.mark.parametrize("separator", [" ", ". ", "; "])
@pytest.mark.parametrize("shift", range(0, 27, 3))   # the cut lands at every place within the phrase
def test_50_kb_of_ruled_out_anaphylaxis_is_still_negated(finder, separator, shift):
    unit = "anaphylaxis was ruled out" + separator
    text = "x" * shift + " " + unit * (50 * 1024 // len(unit))
    assert len(text) >= 50_000
    assert finder.find(text) == ([], [SEVERE])


def test_a_mention_past_the_cap_is_not_read_and_one_before_it_is(finder):
    filler = "stable on review " * 400
    assert finder.find("anaphylaxis. " + filler) == ([SEVERE], [])
    assert finder.find(filler + "anaphylaxis") == ([], [])


def test_a_mention_cut_from_its_post_cue_is_not_judged(finder):
    text = ("x" * (budget.TEXT_CAP - len(" anaphylaxis was"))) + " anaphylaxis was ruled out"
    head, cut = budget.capped(text)
    assert cut and head.endswith("anaphylaxis was")
    assert finder.find(text) == ([], [])   # neither affirmed (the cue was cut off) nor taken as negated


def test_the_cut_is_logged_without_the_text(finder, caplog):
    caplog.set_level(logging.INFO, logger="iron_cds.engine")
    text = "anaphylaxis was ruled out secret-word " * 2000
    finder.find(text)
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "free-text-cut"]
    assert record.chars == len(text) and record.read <= budget.TEXT_CAP
    assert "secret" not in record.getMessage() and "secret" not in str(record.__dict__)


# ---------------------------------------------------------------- through the engine
def patient_record(*resources) -> PatientRecord:
    record = PatientRecord()
    record.add({"resourceType": "Patient", "id": "pat-1", "birthDate": "1980-01-15", "gender": "female"})
    record.add({"resourceType": "Observation", "id": "w-1", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                "effectiveDateTime": "2026-11-20", "valueQuantity": {"value": 70, "unit": "kg", "code": "kg"}})
    for resource in resources:
        record.add(resource)
    return record


def condition(text, rid="c-1"):
    return {"resourceType": "Condition", "id": rid, "code": {"text": text},
            "clinicalStatus": {"coding": [{"code": "active"}]}}


def run(record, **ctx_fields):
    drafts = {"resourceType": "Bundle", "entry": [{"resource": draft_resource()}]}
    return engine.evaluate(drafts, None, record, load_knowledge(), ctx(**ctx_fields), {})


def history_card(findings):
    return next((f for f in findings if f.topic == "history-unavailable"), None)


def test_a_cut_text_is_said_on_a_card():
    long_text = "Asthma. " + "Seen in clinic, stable. " * 300
    card = history_card(run(patient_record(condition(long_text))))
    assert card is not None and "only the first 4096 characters" in card.detail
    assert history_card(run(patient_record(condition("Asthma")))) is None


@pytest.fixture
def ticking_clock(monkeypatch):
    """A clock that advances one second each time the engine looks at it."""
    ticks = {"now": 0.0}

    def clock():
        ticks["now"] += 1.0
        return ticks["now"]

    monkeypatch.setattr(budget, "_clock", clock)
    return ticks


def test_past_the_deadline_the_call_answers_with_what_it_has_and_says_so(ticking_clock):
    record = patient_record(*(condition(f"Asthma {n}", rid=f"c-{n}") for n in range(50)))
    complete = run(record)                                   # no deadline: every check
    assert history_card(complete) is None
    stopped = run(record, engine_seconds=3.0)                # the clock passes 3 s within the history
    card = history_card(stopped)
    assert card is not None and card is stopped[0]
    assert "could not be completed" in card.summary and "ferric carboxymaltose" in card.summary.lower()
    assert "could not complete the checks" in card.detail
    assert len(stopped) < len(complete) + 1


def test_a_deadline_reached_between_rules_keeps_the_finished_cards(ticking_clock):
    record = patient_record(condition("Asthma"))
    ticking_clock["now"] = 0.0
    complete = [f.topic for f in run(record, engine_seconds=1e9)]
    looks = int(ticking_clock["now"])                        # how often a whole run looks at the clock
    kept_some = False
    for seconds in range(1, looks - 1):                      # a deadline at every point of the run
        ticking_clock["now"] = 0.0
        topics = [f.topic for f in run(record, engine_seconds=seconds)]
        assert topics[0] == "history-unavailable", seconds
        assert topics[1:] == [t for t in complete if t in topics[1:]], seconds   # finished cards, as they were
        kept_some = kept_some or 0 < len(topics) - 1 < len(complete)
    assert kept_some


def test_the_hook_call_has_a_deadline_from_config(make_app, monkeypatch):
    body = hook_request(medication_request(), prefetch={
        "patient": {"resourceType": "Patient", "id": "pat-1", "birthDate": "1980-01-15"},
        "conditions": {"resourceType": "Bundle", "type": "searchset",
                       "entry": [{"resource": condition(f"Asthma {n}", rid=f"c-{n}")} for n in range(20)]},
    })
    ticks = {"now": 0.0}

    def clock():
        ticks["now"] += 1.0
        return ticks["now"]

    monkeypatch.setattr(budget, "_clock", clock)
    response = make_app(engine_deadline_seconds=2.0).test_client().post(HOOK_URL, json=body)
    assert response.status_code == 200
    summaries = [c["summary"] for c in response.get_json()["cards"]]
    assert any("could not be completed" in s for s in summaries), summaries
