"""Observations indexed once by code; dates and values read only for the codes a rule asks about.

A record can hold thousands of Observations, most of them for codes no rule reads (or only the
newest of them matters). The index is built in one pass over the codes; an Observation's date is
parsed the first time a rule asks for its code, its value the first time a rule needs it, and
neither ever twice. Entered-in-error and cancelled Observations are dropped here, once.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Iterator, NamedTuple

from cds_service.engine.fhir_values import effective_span, parse_when, reference_of, system_kind
from cds_service.engine.units import quantity_value

SKIPPED_STATUS = ("entered-in-error", "cancelled")   # a tuple: ``in`` compares, so a status of any type is tested
# Every FHIR R4 Observation.status code but the skipped ones: what a prefetch template that asks the server for few
# results filters on (``status=...``), so that a newer entered-in-error reading never takes the place of a valid one.
READ_STATUS = ("registered", "preliminary", "final", "amended", "corrected", "unknown")
_UNDATED = float("-inf")   # sorts after every dated reading (newest first)
_UNREAD = object()         # a value not read yet (None: read, and not a number)


class Reading(NamedTuple):
    """One numeric value of an Observation (or of one of its components)."""

    value: float
    quantity: dict              # the valueQuantity (or {"value": n} for valueInteger), for unit conversion
    when: datetime | None
    when_text: str | None
    reference: str | None
    resource: dict


def _codes(concept: object) -> set[str] | tuple[str, ...]:
    """LOINC codes of a concept; codings without a system are accepted (some feeds omit it)."""
    if not isinstance(concept, dict):
        return ()
    coding = concept.get("coding")
    if not isinstance(coding, list):
        return ()
    if len(coding) == 1:   # the usual shape: no set to build
        c = coding[0]
        code = c.get("code") if isinstance(c, dict) else None
        return (code,) if isinstance(code, str) and _loinc_or_none(c.get("system")) else ()
    return {c["code"] for c in coding if isinstance(c, dict) and isinstance(c.get("code"), str)
            and _loinc_or_none(c.get("system"))}


_LOINC_OR_NONE = ("loinc", None)
_LOINC = "http://loinc.org"


def _usual_code(concept: object) -> str | None:
    """The code of the usual concept, one coding with the LOINC URI as written, else None (``_codes`` reads
    the rest). Exact types only: whatever else goes the plain way."""
    coding = concept.get("coding") if type(concept) is dict else None
    if type(coding) is list and len(coding) == 1:
        c = coding[0]
        if type(c) is dict and c.get("system") == _LOINC:
            code = c.get("code")
            return code if type(code) is str else None
    return None


def _loinc_or_none(system: object) -> bool:
    # The usual URI by one comparison: system_kind hashes each record's fresh copy of it to look it up.
    return system == _LOINC or system_kind(system) in _LOINC_OR_NONE


def _start(obs: dict) -> tuple[str | None, datetime | None]:
    """(text, moment) of when an Observation was made, as ``effective_span`` reads it."""
    text = obs.get("effectiveDateTime")
    if isinstance(text, str):   # the common case, and the first one effective_span tries
        return text, parse_when(text)
    text, start, _ = effective_span(obs)
    return text, start


def _quantity(holder: dict) -> tuple[dict, float] | None:
    if isinstance(holder.get("valueQuantity"), dict):
        quantity = holder["valueQuantity"]
    elif "valueInteger" in holder:
        quantity = {"value": holder.get("valueInteger")}
    else:
        return None
    value = quantity_value(quantity)
    return None if value is None else (quantity, value)


def _written_day(obs: dict) -> str | None:
    """The day (``YYYY-MM-DD``) an ``effectiveDateTime`` is plainly written on, else None (dated another way,
    or not at all). Whatever the offset, the moment it gives lies within a day either side of that day."""
    text = obs.get("effectiveDateTime")
    if isinstance(text, str) and len(text) >= 10 and text[4] == "-" and text[7] == "-":
        return text[:10]
    return None


def _older_days_before(moment: datetime) -> str | None:
    """A ``YYYY-MM-DD`` such that a reading written on an earlier day is older than ``moment``: written on day D
    it lies before D + 2 days (UTC), so the bound is the day before ``moment``'s UTC day. None at the calendar's
    edge (no bound)."""
    try:
        return (moment.astimezone(timezone.utc).date() - timedelta(days=1)).isoformat()
    except OverflowError:
        return None


def days_around(spans, margin: timedelta = timedelta(days=1)) -> frozenset[str]:
    """Every day (``YYYY-MM-DD``) a time inside one of ``spans`` (aware (start, end) pairs) can be written
    with: its UTC day and the day on either side, since an offset moves the written day by less than one."""
    days = set()
    for start, end in spans:
        day = (start.astimezone(timezone.utc) - margin).date()
        last = (end.astimezone(timezone.utc) + margin).date()
        while day <= last:
            days.add(day.isoformat())
            day += timedelta(days=1)
    return frozenset(days)


class ObservationIndex:
    def __init__(self, observations: list[dict]) -> None:
        self._by_code: dict[str, list[tuple[dict, dict]]] = {}      # code -> [(obs, obs)]
        self._components: dict[str, list[tuple[dict, dict]]] = {}   # code -> [(component, obs)]
        self._dates: dict[int, tuple[str | None, datetime | None, float]] = {}   # id(obs) -> text, start, sort key
        self._values: dict[int, tuple[dict, float] | None] = {}     # id(holder) -> quantity, value
        self._readings: dict[tuple, tuple[Reading, ...]] = {}
        by_code = self._by_code
        for obs in observations:
            if not isinstance(obs, dict) or obs.get("status") in SKIPPED_STATUS:
                continue
            usual = _usual_code(obs.get("code"))
            for code in (usual,) if usual is not None else _codes(obs.get("code")):
                by_code.setdefault(code, []).append((obs, obs))
            if "component" in obs and isinstance(obs["component"], list):
                for component in obs["component"]:
                    if isinstance(component, dict):
                        for code in _codes(component.get("code")):
                            self._components.setdefault(code, []).append((component, obs))

    def resources(self, code: str) -> list[dict]:
        return [obs for obs, _ in self._by_code.get(code, ())]

    def readings(self, code: str, *, components: bool = False, at_least: float | None = None,
                 days: frozenset[str] | None = None) -> tuple[Reading, ...]:
        """Numeric readings of ``code``, newest first (undated last); with ``components``, panel components
        too; with ``at_least``, only values >= it (their dates are then the only ones parsed); with ``days``
        (``YYYY-MM-DD``), only readings whose ``effectiveDateTime`` is written on one of those days, so the
        others are neither parsed nor read (a reading dated any other way is always read)."""
        key = (code, components, at_least, days)
        found = self._readings.get(key)
        if found is None:
            holders = self._by_code.get(code, [])
            if components:
                holders = holders + self._components.get(code, [])
            if days is not None:
                # False only for an ``effectiveDateTime`` plainly written on a day not in ``days``
                holders = [pair for pair in holders if (day := _written_day(pair[1])) is None or day in days]
            found = self._readings[key] = tuple(self._newest_first(holders, at_least))
        return found

    def newest(self, code: str) -> Iterator[Reading]:
        """``readings(code)`` one at a time: values are read only as far as the caller goes, and dates too.

        The callers want the newest usable reading, so most of a long history need not be dated: one reading
        written on the latest day gives a moment, and every reading written two days or more before that moment's
        UTC day is older than it (an offset moves the written day by less than one day). Only the others are
        dated and ordered first; a caller reading past the ones as new as that moment gets the full order.
        """
        holders = self._by_code.get(code, [])
        done = 0
        for holder, obs in self._as_new_as_latest_day(holders):
            done += 1
            reading = self._reading(holder, obs)
            if reading is not None:
                yield reading
        yield from self._newest_first(holders, None, skip=done)

    def _as_new_as_latest_day(self, holders: list[tuple[dict, dict]]) -> list[tuple[dict, dict]]:
        """The first readings of the full newest-first order: those as new as a reading written on the latest
        written day (none when no such reading has a readable date); a single reading is the whole order."""
        if len(holders) < 2:
            return holders
        days = [_written_day(obs) for _, obs in holders]
        latest = max((d for d in days if d is not None), default=None)
        moment = next((start for (_, obs), d in zip(holders, days, strict=True) if d == latest
                       and (start := self._date(obs)[1]) is not None), None) if latest else None
        cut = _older_days_before(moment) if moment is not None else None
        if cut is None:
            return []
        bound = moment.timestamp()
        # Readings dated otherwise, or written on a day from ``cut`` on, in record order (ties keep it).
        candidates = [pair for pair, d in zip(holders, days, strict=True) if d is None or d >= cut]
        ordered = sorted(candidates, key=lambda pair: self._date(pair[1])[2], reverse=True)
        return [pair for pair in ordered if self._date(pair[1])[2] >= bound]

    def _newest_first(self, holders: list[tuple[dict, dict]], at_least: float | None,
                      skip: int = 0) -> Iterator[Reading]:
        """Readings of ``holders`` newest first, after the first ``skip`` holders of that order."""
        if skip and skip >= len(holders):
            return   # all given already: nothing to sort
        if at_least is not None:
            holders = [(h, obs) for h, obs in holders if (v := self._value(h)) is not None and v[1] >= at_least]
        # A stable sort on the date alone: readings with the same date keep the record's order.
        for holder, obs in sorted(holders, key=lambda pair: self._date(pair[1])[2], reverse=True)[skip:]:
            reading = self._reading(holder, obs)
            if reading is not None:
                yield reading

    def _reading(self, holder: dict, obs: dict) -> Reading | None:
        found = self._value(holder)
        if found is None:
            return None
        text, start, _ = self._date(obs)
        return Reading(found[1], found[0], start, text, reference_of(obs), obs)

    def _date(self, obs: dict) -> tuple[str | None, datetime | None, float]:
        date = self._dates.get(id(obs))
        if date is None:
            text, start = _start(obs)
            date = self._dates[id(obs)] = (text, start, start.timestamp() if start else _UNDATED)
        return date

    def _value(self, holder: dict) -> tuple[dict, float] | None:
        found = self._values.get(id(holder), _UNREAD)
        if found is _UNREAD:
            found = self._values[id(holder)] = _quantity(holder)
        return found
