"""The Observation index: order of readings, and dates and values read only for the codes asked about.

(The cost itself is measured by benchmarks/scaling.py, not by a test.)
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from itertools import islice

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.engine import observations
from cds_service.engine.fhir_values import parse_when, system_kind
from cds_service.engine.observations import ObservationIndex

LOINC = "http://loinc.org"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=timezone.utc)
HB, PAIN, SBP, PANEL = "718-7", "72514-3", "8480-6", "85354-9"


def obs(code, value=None, when=NOW, rid=None, status="final", **extra):
    resource = {"resourceType": "Observation", "id": rid or f"o-{code}-{value}-{when}", "status": status,
                "code": {"coding": [{"system": LOINC, "code": code}]}}
    if when is not None:
        resource["effectiveDateTime"] = when if isinstance(when, str) else when.isoformat()
    if value is not None:
        resource["valueQuantity"] = {"value": value, "unit": "g/dL"}
    resource.update(extra)
    return resource


@pytest.fixture
def parsed(monkeypatch):
    """id() of every Observation whose date was parsed, in order."""
    seen: list[int] = []
    real = observations._start

    def counting(resource):
        seen.append(id(resource))
        return real(resource)

    monkeypatch.setattr(observations, "_start", counting)
    return seen


def test_readings_are_newest_first_undated_last_and_ties_keep_record_order():
    a = obs(HB, 9.0, NOW - timedelta(days=3), rid="a")
    b = obs(HB, 9.5, NOW - timedelta(days=1), rid="b")
    c = obs(HB, 9.9, None, rid="c")
    d = obs(HB, 10.1, NOW - timedelta(days=1), rid="d")   # same moment as b, later in the record
    e = obs(HB, 10.3, "2025-05-31T14:00:00+02:00", rid="e")   # 12:00 UTC: same as b and d
    index = ObservationIndex([a, b, c, d, e])
    assert [r.resource["id"] for r in index.readings(HB)] == ["b", "d", "e", "a", "c"]
    assert [r.resource["id"] for r in index.newest(HB)] == ["b", "d", "e", "a", "c"]


def test_only_numeric_values_count_and_skipped_statuses_are_dropped():
    index = ObservationIndex([
        obs(HB, None, rid="no-value"),
        obs(HB, 9.0, rid="error", status="entered-in-error"),
        obs(HB, 9.1, rid="cancelled", status="cancelled"),
        obs(HB, None, rid="text", valueString="9.2"),
        obs(HB, None, rid="int", valueInteger=9),
        obs(HB, None, rid="bool", valueQuantity={"value": True}),
        obs(HB, 9.3, rid="ok"),
    ])
    assert sorted(r.resource["id"] for r in index.readings(HB)) == ["int", "ok"]
    assert [o["id"] for o in index.resources(HB)] == ["no-value", "text", "int", "bool", "ok"]


def test_panel_components_count_only_when_asked_for():
    panel = obs(PANEL, None, rid="bp", component=[
        {"code": {"coding": [{"system": LOINC, "code": SBP}]}, "valueQuantity": {"value": 88, "unit": "mm[Hg]"}}])
    single = obs(SBP, 120, NOW - timedelta(hours=1), rid="single")
    index = ObservationIndex([panel, single])
    assert [r.value for r in index.readings(SBP)] == [120.0]
    assert [(r.value, r.reference) for r in index.readings(SBP, components=True)] == [
        (88.0, "Observation/bp"), (120.0, "Observation/single")]


def test_at_least_is_the_same_as_filtering_every_reading():
    scores = [obs(PAIN, v, NOW - timedelta(minutes=m), rid=f"p{m}") for m, v in enumerate([2, 7, 4, 3, 9, 4, 0])]
    scores.append(obs(PAIN, 8, None, rid="undated"))
    index = ObservationIndex(scores)
    assert index.readings(PAIN, at_least=4.0) == tuple(r for r in index.readings(PAIN) if r.value >= 4.0)


def test_dates_are_parsed_only_for_codes_asked_about_and_once_each(parsed):
    labs = [obs(HB, 9 + i / 10, NOW - timedelta(days=i), rid=f"hb{i}") for i in range(5)]
    other = [obs("8867-4", 70 + i, NOW - timedelta(hours=i), rid=f"hr{i}") for i in range(50)]
    index = ObservationIndex(labs + other)
    assert parsed == []                                   # building the index reads no date
    index.readings(HB)
    index.readings(HB)
    list(index.newest(HB))
    index.readings(HB, at_least=9.2)
    assert sorted(parsed) == sorted(id(o) for o in labs)  # each once, none of the heart rates


def test_low_values_are_never_dated(parsed):
    low = [obs(PAIN, 1, NOW - timedelta(minutes=i), rid=f"low{i}") for i in range(20)]
    high = obs(PAIN, 7, NOW, rid="high")
    index = ObservationIndex(low + [high])
    assert [r.resource["id"] for r in index.readings(PAIN, at_least=4.0)] == ["high"]
    assert parsed == [id(high)]


def test_newest_reads_values_only_as_far_as_the_caller_goes(monkeypatch):
    read: list[str] = []
    real = observations._quantity

    def counting(holder):
        read.append(holder["id"])
        return real(holder)

    monkeypatch.setattr(observations, "_quantity", counting)
    index = ObservationIndex([obs(HB, 9 + i / 10, NOW - timedelta(days=i), rid=f"hb{i}") for i in range(30)])
    first = next(index.newest(HB))
    assert first.resource["id"] == "hb0" and read == ["hb0"]


# --- dates: the fast path of parse_when reads every text exactly as the full path does ------------------
def _parse_when_full_path(value):
    """parse_when before its fast path (the reference)."""
    if not isinstance(value, str) or len(value) < 4:
        return None
    text = value.strip()
    try:
        if len(text) == 4:
            return datetime(int(text), 1, 1, tzinfo=timezone.utc)
        if len(text) == 7:
            return datetime(int(text[:4]), int(text[5:7]), 1, tzinfo=timezone.utc)
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _same(value):
    fast, full = parse_when(value), _parse_when_full_path(value)
    assert fast == full and (fast is None or fast.utcoffset() == full.utcoffset()), value


@pytest.mark.parametrize("value", [
    "2024-01-01T10:00:00Z", "2024-01-01T10:00:00+02:00", "2024-01-01T10:00:00.123-05:00", "2024-01-01T10:00:00",
    " 2024-01-01T10:00:00Z ", "2024-01-01T10Z", "2024-01-01T10:00:00z", "2024-01-01T24:00:00Z", "2024-02-30T10:00:00Z",
    "2024-01-01T10:00:00ZZ", "2024-01-01T10:00:00+0200", "2024-01-01T10:00:00.1234567Z", "20240101T100000",
    "2024-W01-1T10:00", "2024-01-01 ", " 2024-01-01", "2024-01", "2024", "2024-01-01", "garbage text here",
])
def test_dates_read_as_before(value):
    _same(value)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789-:T+Z.zW ,", min_size=4, max_size=32))
def test_any_date_like_text_reads_as_before(value):
    _same(value)


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
       st.sampled_from(["", "Z", "+00:00", "-05:00", "+14:00", "+05:45"]),
       st.sampled_from(["seconds", "milliseconds", "microseconds", "minutes"]))
def test_real_date_times_read_as_before(moment, offset, timespec):
    _same(moment.isoformat(timespec=timespec) + offset)


def test_every_kind_of_effective_time_is_read():
    at = "2025-05-30T08:00:00Z"
    index = ObservationIndex([
        obs(HB, 9.1, None, rid="instant", effectiveInstant=at),
        obs(HB, 9.2, None, rid="period", effectivePeriod={"start": "2025-05-29T08:00:00Z"}),
        obs(HB, 9.3, None, rid="issued", issued="2025-05-28T08:00:00Z"),
        obs(HB, 9.4, "2025-05-31", rid="day"),
        obs(HB, 9.5, None, rid="none"),
    ])
    assert [(r.resource["id"], r.when_text) for r in index.readings(HB)] == [
        ("day", "2025-05-31"), ("instant", at), ("period", "2025-05-29T08:00:00Z"),
        ("issued", "2025-05-28T08:00:00Z"), ("none", None)]


# --- newest(): dating only the readings written on the latest days gives the full order -------------------
class FullOrder(ObservationIndex):
    """The definition: every reading dated, then ordered newest first."""

    def newest(self, code):
        return self._newest_first(self._by_code.get(code, []), None)


_MOMENTS = st.sampled_from(
    [datetime(2025, 5, d, h, tzinfo=timezone.utc) for d in (28, 29, 30, 31) for h in (0, 11, 23)]
    + [datetime(1, 1, 1, 5, tzinfo=timezone.utc), datetime(9999, 12, 31, 12, tzinfo=timezone.utc)])
_OFFSETS = st.sampled_from([0, 60, -300, 330, 14 * 60, -12 * 60, 23 * 60 + 59, -(23 * 60 + 59)])
_STYLES = st.sampled_from(["plain", "z", "date", "month", "year", "spaced", "period", "issued", "none", "junk"])


def _dated(oid: str, moment: datetime, offset: int, style: str, value) -> dict:
    local = moment.astimezone(timezone(timedelta(minutes=offset))) if 1 < moment.year < 9999 else moment
    text = local.isoformat()
    resource = obs(HB, value, None, rid=oid)
    written = {"plain": text, "z": local.astimezone(timezone.utc).isoformat().replace("+00:00", "Z"),
               "date": text[:10], "month": text[:7], "year": text[:4], "spaced": f" {text}",
               "junk": text[:8] + "xx" + text[10:]}
    if style in written:
        resource["effectiveDateTime"] = written[style]
    elif style == "period":
        resource["effectivePeriod"] = {"start": text}
    elif style == "issued":
        resource["issued"] = text
    return resource


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_MOMENTS, _OFFSETS, _STYLES, st.sampled_from([9.0, 9.5, None])), max_size=12),
       st.integers(0, 12))
def test_newest_gives_the_full_order_dating_only_the_latest_days(readings, taken):
    resources = [_dated(f"o{n}", *reading) for n, reading in enumerate(readings)]
    expected = [(r.resource["id"], r.when) for r in FullOrder(resources).newest(HB)]
    assert [(r.resource["id"], r.when) for r in ObservationIndex(resources).newest(HB)] == expected
    lazily = ObservationIndex(resources).newest(HB)   # read part of the way, then the rest
    first = [(r.resource["id"], r.when) for r in islice(lazily, taken)]
    assert first + [(r.resource["id"], r.when) for r in lazily] == expected


def test_newest_dates_only_the_readings_written_around_the_latest_day(parsed):
    history = [obs(HB, 9 + i / 100, NOW - timedelta(days=i), rid=f"hb{i}") for i in range(40)]
    index = ObservationIndex(list(reversed(history)))
    assert next(index.newest(HB)).resource["id"] == "hb0"
    assert sorted(parsed) == sorted(id(o) for o in history[:2])   # the latest day and the day before it


# --- codes: the usual LOINC URI decided by one comparison reads as system_kind does ---------------------
def _codes_by_system_kind(concept):
    """The definition: codes of LOINC codings, or of codings without a system."""
    coding = concept.get("coding") if isinstance(concept, dict) else None
    return {c["code"] for c in coding if isinstance(c, dict) and isinstance(c.get("code"), str)
            and system_kind(c.get("system")) in ("loinc", None)} if isinstance(coding, list) else set()


_SYSTEMS = st.sampled_from(["http://loinc.org", "http://loinc.org/", "HTTP://LOINC.ORG", "urn:oid:2.16.840.1",
                            "http://snomed.info/sct", "", None, 1, ["http://loinc.org"]])
_CODINGS = st.lists(st.one_of(st.fixed_dictionaries({}, optional={"system": _SYSTEMS,
                                                                   "code": st.sampled_from([HB, SBP, 7, None])}),
                              st.just("junk")), max_size=3)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.fixed_dictionaries({}, optional={"coding": st.one_of(_CODINGS, st.just("junk"))}), st.none()))
def test_codes_read_as_system_kind_reads_them(concept):
    assert set(observations._codes(concept)) == _codes_by_system_kind(concept)


# --- building: the usual one-LOINC-coding concept is read without _codes, and gives what _codes gives ---------
def _plain_index(resources):
    """The definition: every Observation's codes read by ``_codes``; entered-in-error and cancelled ones left out."""
    by_code = {}
    for resource in resources:
        if not isinstance(resource, dict) or (isinstance(resource.get("status"), str)
                                              and resource["status"] in {"entered-in-error", "cancelled"}):
            continue
        for code in observations._codes(resource.get("code")):
            by_code.setdefault(code, []).append(resource)
    return by_code


_ONE_CODING = st.fixed_dictionaries({"coding": st.lists(st.one_of(
    st.fixed_dictionaries({"code": st.sampled_from([HB, SBP, 7, None])}, optional={"system": _SYSTEMS}),
    st.just("junk")), min_size=1, max_size=1)})
_CONCEPTS = st.one_of(_ONE_CODING, st.fixed_dictionaries({}, optional={"coding": st.one_of(_CODINGS, st.just("junk"))}),
                      st.none(), st.just("junk"))
_STATUSES = st.sampled_from(["final", "entered-in-error", "cancelled", "Cancelled", None, 1, ["cancelled"],
                             {"code": "cancelled"}])


@settings(max_examples=300, deadline=None)
@given(_CONCEPTS)
def test_the_usual_code_is_what_codes_reads(concept):
    usual = observations._usual_code(concept)
    assert usual is None or set(observations._codes(concept)) == {usual}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.fixed_dictionaries({"code": _CONCEPTS}, optional={"status": _STATUSES}),
                          st.just("junk")), max_size=8))
def test_the_index_holds_what_codes_reads(resources):
    index = ObservationIndex(resources)
    assert {code: [o for o, _ in pairs] for code, pairs in index._by_code.items()} == _plain_index(resources)
