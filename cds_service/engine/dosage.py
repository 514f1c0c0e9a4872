"""Dose (mg of iron) and administration time (minutes) of one FHIR Dosage.

Shared by draft orders (``dosageInstruction``) and earlier administrations
(``MedicationAdministration.dosage`` has ``dose`` and ``rate[x]`` directly).
Whatever cannot be read is left ``None`` with a plain-language problem: a dose
or a time is never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cds_service.engine.units import (
    fmt,
    quantity_value,
    rate_per_minute,
    time_unit_minutes,
    to_mg,
    to_minutes,
    to_ml,
    unit_label,
)


@dataclass
class DoseReading:
    dose_mg: float | None = None
    dose_source: str | None = None
    volume_ml: float | None = None
    problems: list[str] = field(default_factory=list)


@dataclass
class TimeReading:
    minutes: float | None = None
    minutes_source: str | None = None
    rate_mg_per_min: float | None = None
    problems: list[str] = field(default_factory=list)


def _qty(quantity: dict) -> str:
    value = quantity_value(quantity)
    return f"{fmt(value) if value is not None else '?'} {unit_label(quantity)}"


def read_dose(dose_entries: list[tuple[str, dict]], concentration: float | None) -> DoseReading:
    """Read the dose from (element name, Quantity) pairs: ("doseQuantity", {...}) or ("doseRange", {...}).

    Mass wins over volume; a volume is kept as the infusion volume and turned
    into mg with the product concentration only when no mass is given.
    """
    reading = DoseReading()
    masses: list[tuple[float, str]] = []
    volumes: list[tuple[float, str]] = []
    for element, value in dose_entries:
        if element == "doseRange":
            high = value.get("high") if isinstance(value.get("high"), dict) else None
            if high is None:
                reading.problems.append("The dose is a range without an upper value; the dose could not be determined")
                continue
            quantity, label = high, f"doseRange high {_qty(high)} (upper end of the range, used to be safe)"
        else:
            quantity, label = value, f"{element} {_qty(value)}"
        mg, ml = to_mg(quantity), to_ml(quantity)
        if mg is not None:
            masses.append((mg, label))
        elif ml is not None:
            volumes.append((ml, label))
        elif quantity_value(quantity) is None:
            reading.problems.append("The dose has no numeric value")
        else:
            reading.problems.append(f"The dose unit '{unit_label(quantity)}' could not be converted to mg of iron")
    if volumes:
        reading.volume_ml = max(v for v, _ in volumes)
    if masses:
        reading.dose_mg, reading.dose_source = max(masses, key=lambda m: m[0])
        if len({round(m, 3) for m, _ in masses}) > 1:
            reading.problems.append("The order gives different doses; the highest was used for the checks")
    elif volumes:
        ml, label = max(volumes, key=lambda v: v[0])
        if concentration:
            reading.dose_mg = ml * concentration
            reading.dose_source = f"{label} x {fmt(concentration)} mg/mL"
        else:
            reading.problems.append(
                f"The dose is given as a volume ({fmt(ml)} mL) and the product concentration is not known, "
                                    "so the dose in mg could not be determined")
    if reading.dose_mg is not None:
        reading.problems = [p for p in reading.problems if "could not be converted" not in p and "no numeric" not in p]
    elif not reading.problems:
        reading.problems.append("The dose was not stated in the order")
    return reading


def _rate_minutes(rate_mg: float | None, rate_ml: float | None, label: str, dose_mg: float | None,
                  volume_ml: float | None, reading: TimeReading) -> tuple[float, str] | None:
    """Minutes for one dose at a mass rate (mg/min) or a volume rate (mL/min)."""
    if rate_mg is not None:
        if rate_mg <= 0:
            reading.problems.append(f"The rate ({label}) is not a positive number")
            return None
        reading.rate_mg_per_min = rate_mg if reading.rate_mg_per_min is None else max(rate_mg, reading.rate_mg_per_min)
        if dose_mg is None:
            reading.problems.append(
                f"The infusion time could not be determined: the rate is given ({label}) but the dose is not known")
            return None
        return dose_mg / rate_mg, f"{label} for {fmt(dose_mg)} mg"
    if rate_ml is not None:
        if rate_ml <= 0:
            reading.problems.append(f"The rate ({label}) is not a positive number")
            return None
        if volume_ml is None:
            reading.problems.append(f"The infusion time could not be determined: the rate is given in volume ({label}) "
                                    "but the infusion volume is not stated in the order")
            return None
        return volume_ml / rate_ml, f"{label} for {fmt(volume_ml)} mL"
    return None


def read_time(repeat: dict | None, rates: list[tuple[str, dict]], dose_mg: float | None,
              volume_ml: float | None) -> TimeReading:
    """Administration time from ``timing.repeat.duration`` and rate elements
    ("rateQuantity" / "rateRatio" / "rateRange").

    When several are given, the shortest time (the fastest rate) is used: the
    checks are about infusing too fast.
    """
    reading = TimeReading()
    candidates: list[tuple[float, str]] = []
    if isinstance(repeat, dict) and repeat.get("duration") is not None:
        duration = quantity_value({"value": repeat.get("duration")})
        per = time_unit_minutes(repeat.get("durationUnit"))
        if duration is None or duration <= 0:
            reading.problems.append("The infusion duration in the order is not a positive number")
        elif per is None:
            reading.problems.append(
                f"The infusion duration unit '{repeat.get('durationUnit')}' is not a time unit we can read")
        else:
            candidates.append((duration * per, f"timing.repeat.duration {fmt(duration)} {repeat.get('durationUnit')}"))
    for element, value in rates:
        found = None
        if element in ("rateQuantity", "rateRange"):
            quantity = value if element == "rateQuantity" else value.get("high")
            if not isinstance(quantity, dict):
                reading.problems.append("The rate is a range without an upper value")
                continue
            label = f"{element} {_qty(quantity)}" + (" (upper end of the range)" if element == "rateRange" else "")
            rate = rate_per_minute(quantity)
            if rate is None:
                reading.problems.append(
                    f"The rate unit '{unit_label(quantity)}' is not a rate we can read (mg or mL per time)")
                continue
            kind, per_min = rate
            found = _rate_minutes(per_min if kind == "mass" else None, per_min if kind == "volume" else None,
                                  label, dose_mg, volume_ml, reading)
        elif element == "rateRatio":
            numerator, denominator = value.get("numerator"), value.get("denominator")
            per = to_minutes(denominator) if isinstance(denominator, dict) else None
            if not isinstance(numerator, dict) or per is None or per <= 0:
                reading.problems.append("The rate ratio could not be read (it needs an amount per time)")
                continue
            label = f"rateRatio {_qty(numerator)} per {_qty(denominator)}"
            mg, ml = to_mg(numerator), to_ml(numerator)
            if mg is None and ml is None:
                reading.problems.append(
                    f"The rate unit '{unit_label(numerator)}' is not a rate we can read (mg or mL per time)")
                continue
            found = _rate_minutes(mg / per if mg is not None else None, ml / per if ml is not None else None,
                                  label, dose_mg, volume_ml, reading)
        if found is not None:
            candidates.append(found)
    if candidates:
        reading.minutes, reading.minutes_source = min(candidates, key=lambda c: c[0])
        if len(candidates) > 1 and max(c[0] for c in candidates) > reading.minutes * 1.1:
            reading.problems.append(
                "The order gives a duration and a rate that disagree; the shorter time was used for the checks")
        # a time found makes the other unreadable elements moot
        reading.problems = [p for p in reading.problems if p.startswith("The order gives")]
        if dose_mg is not None and reading.minutes > 0:
            derived = dose_mg / reading.minutes
            reading.rate_mg_per_min = (derived if reading.rate_mg_per_min is None
                                       else max(derived, reading.rate_mg_per_min))
    elif not reading.problems:
        reading.problems.append("The infusion time could not be determined from the order (no duration or rate)")
    return reading
