"""A current pregnancy and its gestational age, from the record (engine, pure).

Signals, with codes from ``codes.pregnancy_timing`` and ``codes.labs.pregnancy_status``:
- a gestational-age Observation (weeks or days, projected to today from when it was recorded),
- a last-menstrual-period Observation (age = days since / 7),
- an estimated-delivery-date Observation (age = 40 weeks - weeks still to go),
- a pregnancy-status Observation (pregnant or not), and a current pregnancy Condition.

A gestational age or a status may be written in words ("9+3 weeks", "Pregnant", "not pregnant"):
``pregnancy_text.py`` reads them, and words it cannot read with confidence ("possibly pregnant",
"about nine weeks") are kept as unread records, never guessed from.

The newest readable Observation decides: a newer "not pregnant" (or any coded answer that is not
"pregnant") status ends what older dating said. Dating that puts today past
``suitability.pregnancy.max_weeks`` (postterm: that pregnancy has ended) or before conception is not
a current pregnancy. A current pregnancy Condition or a "pregnant" status without dating gives a
pregnancy of unknown age. An unread record newer than every readable one is returned beside the
reading, so the card can say it was not read; it neither raises nor ends a pregnancy.
No signal at all gives None: unknown pregnancy status says nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cds_service.engine.fhir_values import as_aware, concept_label, counts_as_current, day, parse_when, reference_of
from cds_service.engine.model import EvaluationContext, Evidence, Pregnancy
from cds_service.engine.observations import ObservationIndex
from cds_service.engine.pregnancy_text import NOT_PREGNANT, PREGNANT, UNREAD, gestational_weeks, reader_for, weeks_text

TERM_WEEKS = 40.0   # an estimated delivery date is dated at 40 weeks (Naegele's rule)


@dataclass(frozen=True)
class _Signal:
    when: datetime                       # when the record was made (orders the signals)
    pregnant: bool
    weeks: float | None                  # gestational age today, when the signal dates the pregnancy
    evidence: Evidence
    unread: bool = False                 # words that could not be read with confidence: decides nothing


def _weeks_between(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / (7 * 86400)


def _obs_time(obs: dict) -> tuple[datetime | None, str | None]:
    for key in ("effectiveDateTime", "issued"):
        if isinstance(obs.get(key), str) and parse_when(obs[key]) is not None:
            return parse_when(obs[key]), obs[key]
    period = obs.get("effectivePeriod")
    if isinstance(period, dict) and isinstance(period.get("start"), str) and parse_when(period["start"]):
        return parse_when(period["start"]), period["start"]
    return None, None


def _quantity_weeks(obs: dict) -> float | None:
    quantity = obs.get("valueQuantity")
    if not isinstance(quantity, dict) or isinstance(quantity.get("value"), bool):
        return None
    value = quantity.get("value")
    if not isinstance(value, (int, float)) or value < 0:
        return None
    unit = str(quantity.get("code") or quantity.get("unit") or "").strip().lower()
    if unit in ("wk", "w", "week", "weeks", "/wk"):
        return float(value)
    if unit in ("d", "day", "days"):
        return float(value) / 7
    return None   # an unreadable unit dates nothing


def _date_value(obs: dict) -> datetime | None:
    for key in ("valueDateTime", "valueDate", "valueString"):
        if isinstance(obs.get(key), str):
            return parse_when(obs[key])
    return None


_SHOWN_CHARS = 200   # characters of unread words kept for the card (the card escapes and shortens them again)


def _shown(words: str) -> str:
    return words if len(words) <= _SHOWN_CHARS else words[:_SHOWN_CHARS] + "\u2026"


def _unread(what: str, words: str, when: datetime, when_text: str | None, obs: dict) -> _Signal:
    return _Signal(when, False, None,
                   Evidence(f'{what} (not read): "{_shown(words)}"', when_text, reference_of(obs)), unread=True)


def _text_signal(reader, what: str, words: str, when: datetime, when_text: str | None, obs: dict) -> _Signal | None:
    """A status written in words (also a gestational-age value that is not a duration)."""
    reading = reader.text(words)
    if reading is None:
        return None
    if reading == UNREAD:
        return _unread(what, words, when, when_text, obs)
    return _Signal(when, reading == PREGNANT, None,
                   Evidence(f"{what}: {_shown(words)}", when_text, reference_of(obs)))


def _gestational_age_signal(reader, obs: dict, when: datetime, when_text: str | None,
                            now: datetime) -> _Signal | None:
    recorded, written = _quantity_weeks(obs), None
    if recorded is None and isinstance(obs.get("valueString"), str):
        written = obs["valueString"]
        recorded = gestational_weeks(written)
        if recorded is None:
            return _text_signal(reader, "Gestational age", written, when, when_text, obs)
    if recorded is None:
        return None
    shown = f"gestational age {recorded:g} weeks" if written is None else f"gestational age {weeks_text(recorded)}"
    if written is not None and " ".join(written.split()) != weeks_text(recorded):
        shown += f' (written "{_shown(written)}")'
    text = f"Pregnancy dating: {shown} (recorded {day(when_text)})"
    return _Signal(when, True, recorded + _weeks_between(now, when), Evidence(text, when_text, reference_of(obs)))


def _timing_signals(index: ObservationIndex, codes: dict, now: datetime, reader) -> list[_Signal]:
    out: list[_Signal] = []
    for kind in ("gestational_age", "lmp", "edd"):
        for code in codes.get(kind) or ():
            for obs in index.resources(str(code)):
                when, when_text = _obs_time(obs)
                if when is None:
                    continue
                if kind == "gestational_age":
                    signal = _gestational_age_signal(reader, obs, when, when_text, now)
                    if signal is not None:
                        out.append(signal)
                    continue
                value = _date_value(obs)
                if value is None:
                    continue
                weeks = _weeks_between(now, value) if kind == "lmp" else TERM_WEEKS - _weeks_between(value, now)
                what = "last menstrual period " if kind == "lmp" else "estimated delivery date "
                shown = what + day(value.isoformat())
                text = f"Pregnancy dating: {shown} (recorded {day(when_text)})"
                out.append(_Signal(when, True, weeks, Evidence(text, when_text, reference_of(obs))))
    return out


def _status_signals(index: ObservationIndex, knowledge, reader) -> list[_Signal]:
    """Pregnancy-status answers, coded or in words; an Observation without an answer says nothing."""
    code = ((knowledge.codes.get("labs") or {}).get("pregnancy_status") or {}).get("loinc")
    out: list[_Signal] = []
    for obs in index.resources(str(code)) if code else ():
        when, when_text = _obs_time(obs)
        if when is None:
            continue
        reading, label = reader.value(obs)
        if reading is None:
            continue
        if reading == UNREAD:
            out.append(_unread("Pregnancy status", label or "", when, when_text, obs))
            continue
        out.append(_Signal(when, reading != NOT_PREGNANT, None,
                           Evidence(f"Pregnancy status: {label} ({day(when_text)})", when_text, reference_of(obs))))
    return out


def _condition_evidence(record, pregnant_answer) -> list[Evidence]:
    out = []
    for condition in record.of_type("Condition"):
        if isinstance(condition, dict) and counts_as_current(condition) and pregnant_answer(condition.get("code")):
            when = next((condition[k] for k in ("onsetDateTime", "recordedDate")
                         if isinstance(condition.get(k), str)), None)
            label = concept_label(condition.get("code")) or "pregnancy"
            out.append(Evidence(f"Problem: {label}" + (f" (since {day(when)})" if when else ""), when,
                                reference_of(condition)))
    return out


def read_pregnancy(record, knowledge, index: ObservationIndex, ctx: EvaluationContext,
                   pregnant_answer) -> tuple[Pregnancy | None, tuple[Evidence, ...]]:
    """(the current pregnancy or None, unread records newer than every readable one).

    ``pregnant_answer(concept)`` says whether a problem-list Condition means pregnant."""
    now = as_aware(ctx.now)
    codes = knowledge.codes.get("pregnancy_timing") if isinstance(knowledge.codes, dict) else None
    spec = (knowledge.suitability or {}).get("pregnancy") or {}
    max_weeks = float((spec.get("max_weeks") or {}).get("value", 42))
    recency = timedelta(days=float(knowledge.protocol.data_recency_days.pregnancy.value))
    reader = reader_for(knowledge)
    signals = _timing_signals(index, codes if isinstance(codes, dict) else {}, now, reader)
    signals += _status_signals(index, knowledge, reader)
    signals = [s for s in signals if now - s.when <= recency]
    signals.sort(key=lambda s: s.when, reverse=True)
    readable = [s for s in signals if not s.unread]
    newest = readable[0].when if readable else None
    unread = tuple(s.evidence for s in signals if s.unread and (newest is None or s.when >= newest))
    return _current(record, readable, max_weeks, pregnant_answer), unread


def _current(record, signals: list[_Signal], max_weeks: float, pregnant_answer) -> Pregnancy | None:
    """The current pregnancy from the readable signals (newest first), else from the problem list."""
    if signals:
        latest = signals[0]
        if not latest.pregnant:
            return None    # the newest record says not pregnant: older dating is over
        dated = next((s for s in signals if s.weeks is not None), None)
        if dated is not None and not 0 <= dated.weeks <= max_weeks:
            dated = None   # postterm or before conception: that pregnancy is not current
        if dated is None and latest.weeks is not None:
            return None    # only dating, and it puts today outside a pregnancy
        evidence = (latest.evidence,) + ((dated.evidence,) if dated is not None and dated is not latest else ())
        return Pregnancy(dated.weeks if dated is not None else None, evidence)
    conditions = _condition_evidence(record, pregnant_answer)
    return Pregnancy(None, tuple(conditions)) if conditions else None
