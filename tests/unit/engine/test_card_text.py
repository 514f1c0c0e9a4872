"""Card text helpers: dates, units and lists as a prescriber reads them; citations without verification status."""

from __future__ import annotations

import pytest

from cds_service.engine import text
from cds_service.engine.facts import fmt_mg
from cds_service.engine.fhir_values import day
from support.rules import knowledge

K = knowledge()


@pytest.mark.parametrize("raw, shown", [
    ("2026-07-20T09:10:00Z", "20 Jul 2026"), ("2026-07-20", "20 Jul 2026"), ("2026-01-05T23:59:59+02:00", "5 Jan 2026"),
    ("2026-12", "Dec 2026"), ("2026", "2026"), ("not a date", "not a date"), ("2026-13-01", "2026-13-01"), (None, None),
])
def test_dates_read_as_day_month_year(raw, shown):
    assert day(raw) == shown == text.display_date(raw)


@pytest.mark.parametrize("mg, shown", [
    (31.25, "31.25 mg"), (7.45, "7.45 mg"), (9.875, "9.875 mg"), (1250.25, "1,250.25 mg"),   # as the order carries them
    (400, "400 mg"), (400.0, "400 mg"), (1000, "1,000 mg"), (7.4, "7.4 mg"), (62.5, "62.5 mg"), (0, "0 mg"),
    (0.1 + 0.2, "0.3 mg"), (None, "unknown"),
])
def test_doses_read_as_the_order_carries_them_without_trailing_zeros(mg, shown):
    assert fmt_mg(mg) == shown


@pytest.mark.parametrize("mg", [400, 1000, 7.4, 62.5, 0.5, 1234.5, 30, 0])
def test_whole_and_one_decimal_doses_read_as_before(mg):
    assert fmt_mg(mg) == f"{mg:,.1f} mg".replace(".0 mg", " mg")


@pytest.mark.parametrize("minutes, shown", [(1, "1 minute"), (1.0, "1 minute"), (2, "2 minutes"), (7.5, "7.5 minutes"),
                                            (0.5, "0.5 minutes"), (60, "60 minutes")])
def test_minutes_read_naturally(minutes, shown):
    assert text.minutes_phrase(minutes) == shown


@pytest.mark.parametrize("items, shown", [([], ""), (["pulse"], "pulse"),
                                          (["blood pressure", "pulse"], "blood pressure and pulse"),
                                          (["a", "b", "c"], "a, b and c")])
def test_lists_read_naturally(items, shown):
    assert text.natural_list(items) == shown


def test_a_label_fact_is_cited_by_its_label_and_section_without_its_status():
    line = text.source_line(K, "Observation", K.products["ferumoxytol"].labels["US"].observation_minutes)
    assert line == "- Observation: 30 min. Feraheme (ferumoxytol injection) US prescribing information, Boxed warning."


def test_a_local_choice_is_named_as_the_local_protocol():
    local = text.source_line(K, "Rate", value="50%", source="S-LOCAL-PROTOCOL", status="institutional")
    assert local.startswith("- Rate: 50%. Local protocol (") and "S-LOCAL" not in local
    based = text.source_line(K, "Premedication", value="125 mg", source="S-ASH23", status="institutional",
                             section="Figure 3")
    assert based.startswith("- Premedication: 125 mg. Local protocol, based on ASH Hematology Education Program 2023")
    assert based.endswith(", Figure 3.")


def test_an_unconfirmed_value_is_cited_like_any_other_and_its_note_stays_in_the_data():
    line = text.source_line(K, "Dose", value="200 mg", source="S-VEN-EU", status="unconfirmed-conservative",
                            note="recalled, primary text not read")
    assert line == "- Dose: 200 mg. Venofer 20 mg/mL Summary of Product Characteristics (UK/EU)."
