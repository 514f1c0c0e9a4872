"""Read the patient record into a ``PatientPicture``.

Weight, age and labs are read here; earlier administrations and reactions in
``administrations.py`` / ``reactions.py``; risk factors in ``risk.py``. Values too old
to trust (``protocol.data_recency_days``) or in a unit we cannot convert are
left out, and ``weight_note`` / ``notes`` say so: a check never runs on a
number it should not trust.
"""

from __future__ import annotations

from datetime import date, timedelta

from cds_service.engine import text
from cds_service.engine.administrations import read_administrations
from cds_service.engine.fhir_values import as_aware, day, parse_when
from cds_service.engine.model import EvaluationContext, LabValue, PatientPicture
from cds_service.engine.observations import ObservationIndex
from cds_service.engine.pregnancy import read_pregnancy
from cds_service.engine.reactions import read_reactions
from cds_service.engine.risk import pregnant_answer_for, read_risk_factors
from cds_service.engine.units import fmt, quantity_units, to_kg, unit_label

# lab key in codes.labs -> {unit as written (lower case): factor to the unit the knowledge names}
# Haemoglobin in mmol/L is counted per Hb monomer (one haem, 16,114 g/mol, about a quarter of the tetramer),
# the convention of the laboratories that report it (e.g. the Netherlands): 1 mmol/L = 16.114 g/L = 1.6114 g/dL.
# The Venofer SmPC quotes the rounded factor 1.6 (iv-iron-knowledge.md, S-VEN-EU); the exact one is kept.
LAB_UNITS: dict[str, dict[str, float]] = {
    "hemoglobin": {"g/dl": 1.0, "g/l": 0.1, "mg/dl": 0.001, "mmol/l": 1.6114},
    "ferritin": {"ng/ml": 1.0, "ug/l": 1.0, "µg/l": 1.0, "μg/l": 1.0, "mcg/l": 1.0},
    "tsat": {"%": 1.0, "percent": 1.0},
    "phosphate": {"mg/dl": 1.0, "mmol/l": 3.097},                                  # P 30.97 g/mol
}


def age_years(birth_date: object, today: date) -> int | None:
    """Completed years; a partial birth date (YYYY or YYYY-MM) reads as the earliest day it allows."""
    born = parse_when(birth_date)
    if born is None:
        return None
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return years if years >= 0 else None


def age_months(birth_date: object, today: date) -> int | None:
    """Completed months; a partial birth date reads as the earliest day it allows."""
    born = parse_when(birth_date)
    if born is None:
        return None
    months = (today.year - born.year) * 12 + today.month - born.month - (today.day < born.day)
    return months if months >= 0 else None


def _implausible(kg: float, months: int | None, knowledge) -> bool:
    """A weight no patient of this age can have (protocol ``plausible_weight_kg``): a unit slip, not a weight."""
    bounds = knowledge.protocol.plausible_weight_kg
    if bounds is None:
        return False
    low = bounds.low_under_1_year if months is not None and months < 12 else bounds.low
    return kg < float(low.value) or kg > float(bounds.high.value)


def _weight(index: ObservationIndex, knowledge, ctx: EvaluationContext, months: int | None = None):
    """(kg, date, reference, note, implausible): the newest usable body weight, or why there is none; the last
    item is the recorded weight ("0.45 kg") when it could not be right (then no weight is used at all)."""
    code = ((knowledge.codes.get("labs") or {}).get("body_weight") or {}).get("loinc")
    max_days = float(knowledge.protocol.data_recency_days.weight.value)
    now = as_aware(ctx.now)
    if not code:
        return None, None, None, "No body-weight code in the knowledge data, so the weight was not read", None
    recorded = False
    for reading in index.newest(code):   # values read only as far as the newest usable weight
        recorded = True
        kg = to_kg(reading.quantity)
        if kg is None or kg <= 0:
            continue
        if reading.when is None:
            return None, None, None, (f"The latest body weight ({fmt(reading.value)} {unit_label(reading.quantity)}) "
                                      "has no date, so it was not used"), None
        if now - reading.when > timedelta(days=max_days):
            return None, None, None, (
                f"The latest body weight ({fmt(kg)} kg on {day(reading.when_text)}) is older than "
                                      f"{fmt(max_days)} days, so it was not used"), None
        if _implausible(kg, months, knowledge):
            recorded_as = f"{fmt(reading.value)} {unit_label(reading.quantity)}"
            note = text.common(knowledge, "weight_implausible", weight=f"{recorded_as} on {day(reading.when_text)}")
            return None, None, None, note, recorded_as
        return round(kg, 2), reading.when_text, reading.reference, None, None
    if not recorded:
        return None, None, None, "No body weight is recorded", None
    return None, None, None, "The recorded body weight is in a unit that could not be read, so it was not used", None


def _labs(index: ObservationIndex, knowledge, ctx: EvaluationContext, notes: list[str]) -> dict[str, LabValue]:
    labs: dict[str, LabValue] = {}
    max_days = float(knowledge.protocol.data_recency_days.labs.value)
    now = as_aware(ctx.now)
    for key, table in LAB_UNITS.items():
        spec = (knowledge.codes.get("labs") or {}).get(key) or {}
        code, unit, name = spec.get("loinc"), spec.get("unit"), spec.get("display") or key
        if not code or not unit:
            continue
        for reading in index.newest(code):   # newest first; older values are never read
            factor = next((table[u] for u in quantity_units(reading.quantity) if u in table), None)
            if factor is None:
                notes.append(f"{name} {fmt(reading.value)} {unit_label(reading.quantity)} "
                             f"({day(reading.when_text) or 'undated'}): unit not recognised, value not used")
                continue
            if reading.when is None:
                notes.append(f"{name} {fmt(reading.value)} has no date, value not used")
                continue
            if now - reading.when > timedelta(days=max_days):
                notes.append(f"The latest {name} ({fmt(reading.value * factor)} {unit} on {day(reading.when_text)}) "
                             f"is older than {fmt(max_days)} days, so it was not used")
                break  # older ones are older still
            labs[code] = LabValue(code=code, value=round(reading.value * factor, 3), unit=unit,
                                  date=reading.when_text, reference=reading.reference)
            break
    return labs


def read_patient(record, knowledge, ctx: EvaluationContext) -> PatientPicture:
    """Everything the rules need to know about the patient, from plain FHIR dicts."""
    index = ObservationIndex(record.of_type("Observation"))
    notes: list[str] = []
    patient = record.patient or {}
    age = age_years(patient.get("birthDate"), as_aware(ctx.now).date())
    months = age_months(patient.get("birthDate"), as_aware(ctx.now).date())
    weight_kg, weight_date, weight_ref, weight_note, implausible = _weight(index, knowledge, ctx, months)
    administrations = read_administrations(record, knowledge)
    reactions = read_reactions(record, knowledge, index, administrations)
    risk_factors = read_risk_factors(record, knowledge, index, age, ctx)
    pregnancy, pregnancy_unread = read_pregnancy(record, knowledge, index, ctx, pregnant_answer_for(knowledge))
    return PatientPicture(
        weight_kg=weight_kg,
        weight_date=weight_date,
        age_years=age,
        labs=_labs(index, knowledge, ctx, notes),
        administrations=tuple(administrations),
        reactions=tuple(reactions),
        risk_factors=tuple(risk_factors),
        unavailable=tuple(record.unavailable),
        weight_note=weight_note,
        weight_reference=weight_ref,
        weight_implausible=implausible,
        notes=tuple(notes),
        age_months=months,
        pregnancy=pregnancy,
        pregnancy_unread=pregnancy_unread,
    )
