"""Pregnancy records written in words (engine/pregnancy_text.py): what is read, what is left unread.

Each reading is tested on both sides: a plain affirmation against its negation, a plain duration against
one that is not, and ambiguous words against the plain ones they resemble.
"""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from cds_service.engine.budget import TEXT_CAP
from cds_service.engine.pregnancy_text import (
    NOT_PREGNANT,
    PREGNANT,
    UNREAD,
    PregnancyTextReader,
    gestational_weeks,
    reader_for,
    weeks_text,
)
from cds_service.knowledge.loader import load_knowledge

SNOMED = "http://snomed.info/sct"


@pytest.fixture(scope="module")
def reader():
    return reader_for(load_knowledge())


@pytest.mark.parametrize("text,weeks", [
    ("9 weeks", 9), ("9 wk", 9), ("9 Weeks", 9), ("9w", 9), ("9 wks.", 9), ("  9   weeks ", 9),
    ("9+3 weeks", 9 + 3 / 7), ("9 + 3 wk", 9 + 3 / 7), ("9 weeks 3 days", 9 + 3 / 7), ("9w3d", 9 + 3 / 7),
    ("9 weeks, 3 days", 9 + 3 / 7), ("12 weeks and 6 days", 12 + 6 / 7),
    ("63 days", 9), ("63 d", 9), ("0 weeks", 0),
])
def test_plain_gestational_ages_are_read(text, weeks):
    assert gestational_weeks(text) == pytest.approx(weeks)


@pytest.mark.parametrize("text", [
    "9+3",                 # no unit: weeks and days by convention, but not written
    "9",                   # weeks or days?
    "about 9 weeks", "~9 weeks", "9.5 weeks", "nine weeks", "9 months", "9-10 weeks",
    "9+7 weeks",           # seven days is a week: not a plain reading
    "9+3 weeks 2 days",    # two day counts
    "9 weeks by LMP", "not 9 weeks", "", "weeks",
    "9 " + " " * 5000 + "weeks",   # long text is never a duration
])
def test_other_gestational_age_text_is_not_a_duration(text):
    assert gestational_weeks(text) is None


def test_weeks_are_shown_as_weeks_and_days():
    assert weeks_text(9.0) == "9 weeks"
    assert weeks_text(9 + 3 / 7) == "9 weeks 3 days"
    assert weeks_text(9 + 6.9999 / 7) == "10 weeks"


@pytest.mark.parametrize("text,reading", [
    # plain affirmations
    ("pregnant", PREGNANT), ("Pregnant", PREGNANT), ("PREGNANT", PREGNANT), ("Currently pregnant", PREGNANT),
    ("Patient currently pregnant (finding)", PREGNANT), ("pregnancy", PREGNANT),
    # plain denials: negated mentions and whole answers
    ("not pregnant", NOT_PREGNANT), ("Not pregnant", NOT_PREGNANT), ("not currently pregnant", NOT_PREGNANT),
    ("negative", NOT_PREGNANT), ("Negative", NOT_PREGNANT), ("no", NOT_PREGNANT), ("No", NOT_PREGNANT),
    ("denies pregnancy", NOT_PREGNANT), ("pregnancy ruled out", NOT_PREGNANT), ("no longer pregnant", NOT_PREGNANT),
    ("Pregnancy test negative", NOT_PREGNANT), ("urine pregnancy test: negative", NOT_PREGNANT),
    ("hCG negative", NOT_PREGNANT), ("Pregnancy: negative", NOT_PREGNANT), ("Pregnant: yes", PREGNANT),
    # ambiguous: never read as pregnant (nor as not pregnant)
    ("possibly pregnant", UNREAD), ("pregnant?", UNREAD), ("? pregnant", UNREAD), ("pregnancy unknown", UNREAD),
    ("Unknown", UNREAD), ("pregnancy not confirmed", UNREAD), ("pregnancy not ruled out", UNREAD),
    ("suspected pregnancy", UNREAD), ("pregnancy test pending", UNREAD), ("pregnancy test positive", UNREAD),
    ("Pregnant: no", UNREAD), ("not pregnant, pregnancy test pending", UNREAD), ("yes", UNREAD), ("G2P1", UNREAD),
    ("pregnant - test negative", UNREAD),
    # nothing to read
    ("", None), ("   ", None), ("--", None),
])
def test_status_words(reader, text, reading):
    assert reader.text(text) == reading


def test_a_text_longer_than_the_cap_is_not_read(reader):
    long = "pregnant " * (TEXT_CAP // 9 + 10)
    assert len(long) > TEXT_CAP
    assert reader.text(long) == UNREAD                      # what follows the cut could change it
    assert reader.text("pregnant " * (TEXT_CAP // 9 - 1)) == PREGNANT


def test_reading_is_linear_in_the_text(reader):
    """A hostile text at the cap (every word a keyword, every cue) is read in about the time a few
    hundred plain words take: no rescan per mention."""
    worst = " ".join(["not", "pregnant", "denies", "pregnancy"] * (TEXT_CAP // 40))[:TEXT_CAP]
    start = time.perf_counter()
    for _ in range(20):
        reader.text(worst)
    assert (time.perf_counter() - start) / 20 < 0.05


@pytest.mark.parametrize("concept,reading", [
    ({"coding": [{"system": SNOMED, "code": "77386006"}]}, PREGNANT),
    ({"coding": [{"system": SNOMED, "code": "77386006", "display": "Pregnant"}]}, PREGNANT),
    ({"text": "Pregnant"}, PREGNANT),                                     # words only
    ({"text": "not pregnant"}, NOT_PREGNANT),
    ({"coding": [{"system": SNOMED, "code": "60001007", "display": "Not pregnant"}]}, NOT_PREGNANT),
    ({"coding": [{"system": SNOMED, "code": "60001007"}]}, NOT_PREGNANT),   # coded, not a pregnancy code
    ({"coding": [{"system": SNOMED, "code": "146799005", "display": "Possible pregnancy"}]}, UNREAD),
    ({"coding": [{"system": SNOMED, "code": "261665006", "display": "Unknown"}]}, UNREAD),
    ({"text": "Pregnant", "coding": [{"system": SNOMED, "code": "1", "display": "Not pregnant"}]}, UNREAD),
    ({}, None), ({"text": ""}, None),
])
def test_coded_answers(reader, concept, reading):
    assert reader.concept(concept) == reading


def test_without_the_cue_lists_every_text_is_unread():
    knowledge = load_knowledge()
    codes = {k: v for k, v in knowledge.codes.items() if k != "pregnancy_text"}
    plain = PregnancyTextReader(replace(knowledge, codes=codes))
    assert plain.text("pregnant") == UNREAD and plain.text("not pregnant") == UNREAD
    assert plain.concept({"coding": [{"system": SNOMED, "code": "77386006"}]}) == PREGNANT   # codes still read
