"""Readings chosen by the day they are written on (ObservationIndex ``days``) give exactly what reading
every one of them gives: the hypotension check must find the same reactions either way."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.engine import infusion_window
from cds_service.engine.administrations import read_administrations
from cds_service.engine.observations import ObservationIndex, days_around
from cds_service.fhir.record import PatientRecord
from cds_service.knowledge.loader import load_knowledge

LOINC = "http://loinc.org"
SYSTOLIC = "8480-6"
BASE = datetime(2026, 3, 10, 22, 30, tzinfo=timezone.utc)   # late in the UTC day: offsets change the day


@pytest.fixture(scope="module")
def knowledge():
    return load_knowledge()


class EveryDay(ObservationIndex):
    """The definition: every reading read, whatever ``days`` says."""

    def readings(self, code, *, components=False, at_least=None, days=None):
        return super().readings(code, components=components, at_least=at_least)


def written(moment: datetime, offset_minutes: int, style: str) -> str:
    local = moment.astimezone(timezone(timedelta(minutes=offset_minutes)))
    text = local.isoformat()
    if style == "z" and offset_minutes == 0:
        return text.replace("+00:00", "Z")
    if style == "date":
        return text[:10]
    if style == "spaced":
        return f" {text}"
    return text


_OFFSETS = st.sampled_from([0, 60, -300, 330, 14 * 60, -12 * 60, 23 * 60 + 59, -(23 * 60 + 59)])
# (which infusion, minutes from its start: around the 24 h baseline and 2 h after windows), offset, style, ...
_READING = st.tuples(st.integers(0, 2), st.integers(-26 * 60, 7 * 60), _OFFSETS,
                     st.sampled_from(["plain", "z", "date", "spaced"]), st.integers(60, 160), st.booleans())
_ADMIN = st.tuples(st.integers(0, 3 * 24 * 60), st.integers(5, 240), _OFFSETS)



@settings(max_examples=300, deadline=None)
@given(readings=st.lists(_READING, max_size=25), admins=st.lists(_ADMIN, min_size=1, max_size=3))
def test_reading_only_the_days_around_the_infusions_finds_the_same_reactions(knowledge, readings, admins):
    record = PatientRecord()
    for n, (start_min, minutes, offset) in enumerate(admins):
        start = BASE + timedelta(minutes=start_min)
        record.add({"resourceType": "MedicationAdministration", "id": f"a{n}", "status": "completed",
                    "medicationCodeableConcept": {"text": "Venofer"},
                    "effectivePeriod": {"start": written(start, offset, "plain"),
                                        "end": written(start + timedelta(minutes=minutes), offset, "plain")},
                    "dosage": {"route": {"text": "Intravenous"}, "dose": {"value": 200, "unit": "mg", "code": "mg"}}})
    observations = []
    for n, (which, at_min, offset, style, value, as_component) in enumerate(readings):
        start_min = admins[which % len(admins)][0]
        when = written(BASE + timedelta(minutes=start_min + at_min), offset, style)
        coded = {"coding": [{"system": LOINC, "code": SYSTOLIC}]}
        obs = {"resourceType": "Observation", "id": f"o{n}", "status": "final", "effectiveDateTime": when}
        if as_component:
            obs["code"] = {"coding": [{"system": LOINC, "code": "85354-9"}]}
            obs["component"] = [{"code": coded, "valueQuantity": {"value": value, "unit": "mm[Hg]"}}]
        else:
            obs.update(code=coded, valueQuantity={"value": value, "unit": "mm[Hg]"})
        observations.append(obs)
    administrations = read_administrations(record, knowledge)
    assert len(administrations) == len(admins)

    found = infusion_window.hypotension_reactions(ObservationIndex(observations), knowledge, administrations)
    expected = infusion_window.hypotension_reactions(EveryDay(observations), knowledge, administrations)
    assert found == expected


def test_the_days_cover_the_day_either_side_of_each_span_in_utc():
    spans = [(datetime(2026, 3, 10, 23, 30, tzinfo=timezone(timedelta(hours=-5))),
              datetime(2026, 3, 11, 0, 30, tzinfo=timezone(timedelta(hours=-5))))]
    # 04:30-05:30 UTC on 11 March: the 10th to the 12th can be written for it
    assert days_around(spans) == {"2026-03-10", "2026-03-11", "2026-03-12"}


def test_a_reading_outside_the_days_is_not_read_and_one_dated_otherwise_always_is():
    inside = {"resourceType": "Observation", "id": "in", "status": "final", "effectiveDateTime": "2026-03-10T10:00:00Z",
              "code": {"coding": [{"system": LOINC, "code": SYSTOLIC}]}, "valueQuantity": {"value": 80}}
    outside = dict(inside, id="out", effectiveDateTime="2026-02-01T10:00:00Z")
    period = {k: v for k, v in inside.items() if k != "effectiveDateTime"}
    period.update(id="period", effectivePeriod={"start": "2026-02-01T10:00:00Z"})
    readings = ObservationIndex([inside, outside, period]).readings(SYSTOLIC, days=frozenset({"2026-03-10"}))
    assert [r.resource["id"] for r in readings] == ["in", "period"]
