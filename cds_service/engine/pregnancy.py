"""A current pregnancy and its gestational age, from the record (engine, pure).

Signals, with codes from ``codes.pregnancy_timing`` and ``codes.labs.pregnancy_status``:
- a gestational-age Observation (weeks or days, projected to today from when it was recorded),
- a last-menstrual-period Observation (age = days since / 7),
- an estimated-delivery-date Observation (age = 40 weeks - weeks still to go),
- a pregnancy-status Observation (pregnant or not), and a current pregnancy Condition.

The newest Observation decides: a newer "not pregnant" (or any answer that is not "pregnant")
status ends what older dating said. Dating that puts today past
``suitability.pregnancy.max_weeks`` (or before conception) is not a current pregnancy. A current
pregnancy Condition or a "pregnant" status without dating gives a pregnancy of unknown age.
No signal at all gives None: unknown pregnancy status says nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cds_service.engine.fhir_values import as_aware, concept_label, counts_as_current, day, parse_when, reference_of
from cds_service.engine.model import EvaluationContext, Evidence, Pregnancy
from cds_service.engine.observations import ObservationIndex

TERM_WEEKS = 40.0   # an estimated delivery date is dated at 40 weeks (Naegele's rule)


@dataclass(frozen=True)
class _Signal:
    when: datetime                       # when the record was made (orders the signals)
    pregnant: bool
    weeks: float | None                  # gestational age today, when the signal dates the pregnancy
    evidence: Evidence


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


def _timing_signals(index: ObservationIndex, codes: dict, now: datetime) -> list[_Signal]:
    out: list[_Signal] = []
    for kind in ("gestational_age", "lmp", "edd"):
        for code in codes.get(kind) or ():
            for obs in index.resources(str(code)):
                when, when_text = _obs_time(obs)
                if when is None:
                    continue
                if kind == "gestational_age":
                    recorded = _quantity_weeks(obs)
                    weeks = None if recorded is None else recorded + _weeks_between(now, when)
                    shown = None if recorded is None else f"gestational age {recorded:g} weeks"
                else:
                    value = _date_value(obs)
                    if value is None:
                        continue
                    weeks = _weeks_between(now, value) if kind == "lmp" else TERM_WEEKS - _weeks_between(value, now)
                    what = "last menstrual period " if kind == "lmp" else "estimated delivery date "
                    shown = what + day(value.isoformat())
                if weeks is None:
                    continue
                text = f"Pregnancy dating: {shown} (recorded {day(when_text)})"
                out.append(_Signal(when, True, weeks, Evidence(text, when_text, reference_of(obs))))
    return out


def _status_signals(index: ObservationIndex, knowledge, pregnant_answer) -> list[_Signal]:
    code = ((knowledge.codes.get("labs") or {}).get("pregnancy_status") or {}).get("loinc")
    out: list[_Signal] = []
    for obs in index.resources(str(code)) if code else ():
        when, when_text = _obs_time(obs)
        if when is None:
            continue
        answer = obs.get("valueCodeableConcept")
        label = concept_label(answer) or "answer not readable"
        out.append(_Signal(when, pregnant_answer(answer), None,
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
                   pregnant_answer) -> Pregnancy | None:
    """The current pregnancy, or None. ``pregnant_answer(concept)`` says whether a code means pregnant."""
    now = as_aware(ctx.now)
    codes = knowledge.codes.get("pregnancy_timing") if isinstance(knowledge.codes, dict) else None
    spec = (knowledge.suitability or {}).get("pregnancy") or {}
    max_weeks = float((spec.get("max_weeks") or {}).get("value", 42))
    recency = timedelta(days=float(knowledge.protocol.data_recency_days.pregnancy.value))
    signals = _timing_signals(index, codes if isinstance(codes, dict) else {}, now)
    signals += _status_signals(index, knowledge, pregnant_answer)
    signals = [s for s in signals if now - s.when <= recency]
    signals.sort(key=lambda s: s.when, reverse=True)
    if signals:
        latest = signals[0]
        if not latest.pregnant:
            return None    # the newest record says not pregnant (or not known): older dating is over
        dated = next((s for s in signals if s.weeks is not None), None)
        if dated is not None and not 0 <= dated.weeks <= max_weeks:
            dated = None   # past term or before conception: that pregnancy is not current
        if dated is None and latest.weeks is not None:
            return None    # only dating, and it puts today outside a pregnancy
        evidence = (latest.evidence,) + ((dated.evidence,) if dated is not None and dated is not latest else ())
        return Pregnancy(dated.weeks if dated is not None else None, evidence)
    conditions = _condition_evidence(record, pregnant_answer)
    return Pregnancy(None, tuple(conditions)) if conditions else None
