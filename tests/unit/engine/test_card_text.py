"""Card text helpers: dates, units and lists as a prescriber reads them; citations without verification status."""

from __future__ import annotations

import pytest

from cds_service.engine import text
from cds_service.engine.fhir_values import day
from support.rules import knowledge

K = knowledge()


@pytest.mark.parametrize("raw, shown", [
    ("2026-07-20T09:10:00Z", "20 Jul 2026"), ("2026-07-20", "20 Jul 2026"), ("2026-01-05T23:59:59+02:00", "5 Jan 2026"),
    ("2026-12", "Dec 2026"), ("2026", "2026"), ("not a date", "not a date"), ("2026-13-01", "2026-13-01"), (None, None),
])
def test_dates_read_as_day_month_year(raw, shown):
    assert day(raw) == shown == text.display_date(raw)


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
