"""Dose (mg of iron) and administration time (minutes) of one FHIR Dosage, in every shape EHRs send.

Shared by draft orders (``dosageInstruction``) and earlier administrations
(``MedicationAdministration.dosage`` has ``dose`` and ``rate[x]`` directly).
One reader for the encodings seen in the wild:

- R4 ``doseAndRate`` as a list, or as one object (the CDS Hooks order-select example);
- STU3 / DSTU2 Dosage-level ``doseQuantity`` / ``doseRange`` / ``rateQuantity`` / ``rateRatio`` / ``rateRange``;
- ``doseAndRate.type``: an "ordered" mass wins over a calculated one; a calculated or administered
  volume is the drug's own volume, never the infusion (bag) volume;
- doses per kg ("mg/kg": worked out by the order reader with the weight on record), in mL or µL;
- ``rateRatio`` whose denominator has no value (an implied 1) or no denominator at all;
- last, the dose, time and diluent volume written in ``dosageInstruction.text``, said as read from text.

Whatever cannot be read is left ``None`` with a plain-language problem: a dose or a time is never guessed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from cds_service.engine.fhir_values import codings
from cds_service.engine.markdown import markdown_text
from cds_service.engine.units import (
    fmt,
    per_kg_dose,
    quantity_value,
    rate_per_minute,
    time_unit_minutes,
    to_mg,
    to_minutes,
    to_ml,
    unit_label,
)

DOSE_ELEMENTS = ("doseQuantity", "doseRange")
RATE_ELEMENTS = ("rateQuantity", "rateRatio", "rateRange")
# doseAndRate.type codes (HL7 dose-rate-type: ordered / calculated; Epic also sends admin-amount)
_CALCULATED = ("calculated", "admin-amount", "admin amount", "administered", "administration amount")


@dataclass(frozen=True)
class Entry:
    """One dose or rate element of a Dosage, with the kind its ``doseAndRate.type`` gives."""

    element: str  # "doseQuantity", "doseRange", "rateQuantity", "rateRatio" or "rateRange"
    value: dict
    kind: str | None  # "ordered", "calculated" (calculated or administered amounts) or None (untyped)


@dataclass
class DoseReading:
    dose_mg: float | None = None
    dose_source: str | None = None
    volume_ml: float | None = None  # an ordered (or untyped) volume: the infused volume when nothing better is known
    per_kg: float | None = None  # mg/kg when the dose is ordered per kg (the order reader applies the weight)
    per_kg_source: str | None = None
    problems: list[str] = field(default_factory=list)
    absent: bool = False  # no dose element at all (the caller says so, quoting the text)


@dataclass
class TimeReading:
    minutes: float | None = None
    minutes_source: str | None = None
    rate_mg_per_min: float | None = None
    problems: list[str] = field(default_factory=list)
    absent: bool = False  # no duration and no rate at all


def _unit(quantity: dict) -> str:
    """The unit as the order writes it, escaped for the card (the EHR's text)."""
    return markdown_text(unit_label(quantity))


def _qty(quantity: dict) -> str:
    value = quantity_value(quantity)
    return f"{fmt(value) if value is not None else '?'} {_unit(quantity)}"


def _kind(entry: dict) -> str | None:
    concept = entry.get("type")
    if not isinstance(concept, dict):
        return None
    words = (
        [c.get("code") for c in codings(concept)] + [c.get("display") for c in codings(concept)] + [concept.get("text")]
    )
    words = [w.strip().lower() for w in words if isinstance(w, str)]
    if "ordered" in words:
        return "ordered"
    if any(w in _CALCULATED for w in words):
        return "calculated"
    return None


def dosage_entries(dosage: dict) -> tuple[list[Entry], list[Entry]]:
    """(dose entries, rate entries) of one Dosage, from ``doseAndRate`` (list or object) and the Dosage itself."""
    doses: list[Entry] = []
    rates: list[Entry] = []
    holders = []
    dar = dosage.get("doseAndRate")
    if isinstance(dar, dict):
        holders.append(dar)
    elif isinstance(dar, list):
        holders.extend(d for d in dar if isinstance(d, dict))
    for holder in holders + [dosage]:  # the Dosage itself: STU3 and DSTU2 put dose[x] / rate[x] there
        kind = _kind(holder) if holder is not dosage else None
        doses += [Entry(e, holder[e], kind) for e in DOSE_ELEMENTS if isinstance(holder.get(e), dict)]
        rates += [Entry(e, holder[e], kind) for e in RATE_ELEMENTS if isinstance(holder.get(e), dict)]
    return doses, rates


def _dose_quantity(entry: Entry, reading: DoseReading) -> tuple[dict, str] | None:
    if entry.element != "doseRange":
        return entry.value, f"{entry.element} {_qty(entry.value)}"
    high = entry.value.get("high") if isinstance(entry.value.get("high"), dict) else None
    if high is None:
        reading.problems.append("The dose is a range without an upper value; the dose could not be determined")
        return None
    return high, f"doseRange high {_qty(high)} (upper end of the range, used to be safe)"


def read_dose(entries: list[Entry], concentration: float | None, concentration_label: str | None = None) -> DoseReading:
    """Read the dose from the dose entries.

    A mass wins over a volume, and an "ordered" mass over a calculated one; a
    volume becomes mg with ``concentration`` (the order's own Medication strength,
    else the product's) only when no mass is given. Only ordered or untyped
    volumes are kept as the infused volume: a calculated or administered volume is
    the drug's own (15 mL of a 750 mg dose), not the bag it is diluted in.
    """
    reading = DoseReading(absent=not entries)
    masses: dict[bool, list[tuple[float, str]]] = {True: [], False: []}
    volumes: dict[bool, list[tuple[float, str]]] = {True: [], False: []}  # key: typed calculated/administered
    per_kg: list[tuple[float, str]] = []
    unreadable: list[str] = []
    for entry in entries:
        found = _dose_quantity(entry, reading)
        if found is None:
            continue
        quantity, label = found
        mg, ml, pk = to_mg(quantity), to_ml(quantity), per_kg_dose(quantity)
        if mg is not None:
            masses[entry.kind == "ordered"].append((mg, label + (" (ordered)" if entry.kind == "ordered" else "")))
        elif pk is not None:
            per_kg.append((pk, label))
        elif ml is not None:
            volumes[entry.kind == "calculated"].append((ml, label))
        elif quantity_value(quantity) is None:
            unreadable.append("The dose has no numeric value")
        else:
            unreadable.append(f"The dose unit '{_unit(quantity)}' could not be converted to mg of iron")
    if volumes[False]:
        reading.volume_ml = max(v for v, _ in volumes[False])
    chosen = masses[True] or masses[False]
    if chosen:
        reading.dose_mg, reading.dose_source = max(chosen, key=lambda m: m[0])
        if len({round(m, 3) for m, _ in chosen}) > 1:
            reading.problems.append("The order gives different doses; the highest was used for the checks")
    elif per_kg:
        reading.per_kg, reading.per_kg_source = max(per_kg, key=lambda p: p[0])
    elif volumes[False] or volumes[True]:
        ml, label = max(volumes[False] or volumes[True], key=lambda v: v[0])
        if concentration:
            reading.dose_mg = ml * concentration
            reading.dose_source = f"{label} x {fmt(concentration)} mg/mL" + (
                f" ({markdown_text(concentration_label)})" if concentration_label else ""
            )
        else:
            reading.problems.append(
                f"The dose is given as a volume ({fmt(ml)} mL) and the product concentration is not known, "
                "so the dose in mg could not be determined"
            )
    if reading.dose_mg is None and reading.per_kg is None:
        reading.problems += unreadable
    return reading


# Not a clinical limit: the smallest number that can be a dose of IV iron at all (every product's doses
# are tens to hundreds of mg). Below it the order says something else (a sign slip, a placeholder 0, a
# unit slip) and the dose is said to be unreadable instead of being checked as if it were tiny.
SMALLEST_READABLE_DOSE_MG = 1.0


def check_plausible(reading: DoseReading, ceiling_mg: float | None) -> None:
    """A dose that cannot be real is unreadable, never checked as read: zero, negative or under 1 mg, or
    far above any product's largest dose (a misread, e.g. a 1,000 mL bag read as 50,000 mg)."""
    mg = reading.dose_mg
    if mg is None:
        return
    if mg <= 0 or math.isnan(mg):
        problem = (f"The dose read from the order ({mg:g} mg, from {reading.dose_source}) is zero or negative: "
                   "the dose could not be read")
    elif mg < SMALLEST_READABLE_DOSE_MG:
        problem = (f"The dose read from the order ({mg:g} mg, from {reading.dose_source}) is under "
                   f"{fmt(SMALLEST_READABLE_DOSE_MG)} mg, so it was taken as misread: the dose could not be read")
    elif (ceiling_mg is not None and mg > ceiling_mg) or math.isinf(mg):
        problem = (f"The dose read from the order ({fmt(mg)} mg, from {reading.dose_source}) is far above "
                   "the largest dose of any IV-iron product, so it was taken as misread: the dose could not be read")
    else:
        return
    reading.problems.append(problem)
    reading.dose_mg = reading.dose_source = None


def _rate_minutes(
    rate_mg: float | None,
    rate_ml: float | None,
    label: str,
    dose_mg: float | None,
    volume: tuple[float, str] | None,
    reading: TimeReading,
) -> tuple[float, str] | None:
    """Minutes for one dose at a mass rate (mg/min) or a volume rate (mL/min)."""
    if rate_mg is not None:
        if rate_mg <= 0:
            reading.problems.append(f"The rate ({label}) is not a positive number")
            return None
        reading.rate_mg_per_min = rate_mg if reading.rate_mg_per_min is None else max(rate_mg, reading.rate_mg_per_min)
        if dose_mg is None:
            reading.problems.append(
                f"The infusion time could not be determined: the rate is given ({label}) but the dose is not known"
            )
            return None
        return dose_mg / rate_mg, f"{label} for {fmt(dose_mg)} mg"
    if rate_ml is not None:
        if rate_ml <= 0:
            reading.problems.append(f"The rate ({label}) is not a positive number")
            return None
        if volume is None:
            reading.problems.append(
                f"The infusion time could not be determined: the rate is given in volume ({label}) "
                "but the infusion volume was not found in the order"
            )
            return None
        ml, where = volume
        return ml / rate_ml, f"{label} for {fmt(ml)} mL ({where})"
    return None


def _ratio(value: dict) -> tuple[dict, float, str] | None:
    """(numerator, minutes per denominator, label) of a rateRatio.

    A denominator without a value counts as 1 of its unit; without a denominator the numerator's own rate unit is read.
    """
    numerator, denominator = value.get("numerator"), value.get("denominator")
    if not isinstance(numerator, dict):
        return None
    if denominator is None:
        split = rate_per_minute(numerator)  # "100 mL/h" written as the numerator alone
        return (numerator, 0.0, f"rateRatio {_qty(numerator)}") if split is not None else None
    if not isinstance(denominator, dict):
        return None
    if quantity_value(denominator) is None and (denominator.get("code") or denominator.get("unit")):
        denominator = {**denominator, "value": 1}
    per = to_minutes(denominator)
    if per is None or per <= 0:
        return None
    return numerator, per, f"rateRatio {_qty(numerator)} per {_qty(denominator)}"


def _one_rate(entry: Entry, dose_mg, volume, reading: TimeReading) -> tuple[float, str] | None:
    value = entry.value
    if entry.element in ("rateQuantity", "rateRange"):
        quantity = value if entry.element == "rateQuantity" else value.get("high")
        if not isinstance(quantity, dict):
            reading.problems.append("The rate is a range without an upper value")
            return None
        label = f"{entry.element} {_qty(quantity)}" + (
            " (upper end of the range)" if entry.element == "rateRange" else ""
        )
    else:
        ratio = _ratio(value)
        if ratio is None:
            reading.problems.append("The rate ratio could not be read (it needs an amount per time)")
            return None
        numerator, per, label = ratio
        if per == 0.0:
            quantity = numerator
        else:
            mg, ml = to_mg(numerator), to_ml(numerator)
            if mg is None and ml is None:
                reading.problems.append(
                    f"The rate unit '{_unit(numerator)}' is not a rate we can read (mg or mL per time)"
                )
                return None
            return _rate_minutes(
                mg / per if mg is not None else None,
                ml / per if ml is not None else None,
                label,
                dose_mg,
                volume,
                reading,
            )
    rate = rate_per_minute(quantity)
    if rate is None:
        reading.problems.append(
            f"The rate unit '{_unit(quantity)}' is not a rate we can read (mg or mL per time)"
        )
        return None
    kind, per_min = rate
    return _rate_minutes(
        per_min if kind == "mass" else None, per_min if kind == "volume" else None, label, dose_mg, volume, reading
    )


def read_time(
    repeat: dict | None, rates: list[Entry], dose_mg: float | None, volume: tuple[float, str] | None
) -> TimeReading:
    """Administration time from ``timing.repeat.duration`` and the rate entries.

    ``volume``: (mL, where it was found) of the whole infusion, for rates in mL per time.
    When several are given, the shortest time (the fastest rate) is used: the
    checks are about infusing too fast.
    """
    reading = TimeReading()
    candidates: list[tuple[float, str]] = []
    has_duration = isinstance(repeat, dict) and repeat.get("duration") is not None
    if has_duration:
        duration = quantity_value({"value": repeat.get("duration")})
        per = time_unit_minutes(repeat.get("durationUnit"))
        unit = markdown_text(repeat.get("durationUnit"))   # the EHR's text, escaped for the card
        if duration is None or duration <= 0:
            reading.problems.append("The infusion duration in the order is not a positive number")
        elif per is None:
            reading.problems.append(
                f"The infusion duration unit '{unit}' is not a time unit we can read"
            )
        else:
            candidates.append((duration * per, f"timing.repeat.duration {fmt(duration)} {unit}"))
    for entry in rates:
        found = _one_rate(entry, dose_mg, volume, reading)
        if found is not None:
            candidates.append(found)
    if candidates:
        reading.minutes, reading.minutes_source = min(candidates, key=lambda c: c[0])
        if len(candidates) > 1 and max(c[0] for c in candidates) > reading.minutes * 1.1:
            reading.problems.append(
                "The order gives a duration and a rate that disagree; the shorter time was used for the checks"
            )
        # a time found makes the other unreadable elements moot
        reading.problems = [p for p in reading.problems if p.startswith("The order gives")]
        if dose_mg is not None and reading.minutes > 0:
            derived = dose_mg / reading.minutes
            reading.rate_mg_per_min = (
                derived if reading.rate_mg_per_min is None else max(derived, reading.rate_mg_per_min)
            )
    elif not reading.problems:
        reading.absent = not has_duration and not rates
    return reading


# --- free text: the last resort ----------------------------------------------------------------
# Bounded quantifiers only: linear time on any input.
_NUMBER = r"(\d{1,6}(?:[.,]\d{1,3})?)"
_TEXT_DOSE = re.compile(_NUMBER + r"\s{0,3}(mg|milligrams?|g|grams?)\b(?!\s{0,3}/)", re.IGNORECASE)
_TEXT_TIME = re.compile(
    r"\bover\s{1,3}(?:at\s{1,3}least\s{1,3}|a\s{1,3}minimum\s{1,3}of\s{1,3}|not\s{1,3}less\s{1,3}than\s{1,3}|"
    r"no\s{1,3}less\s{1,3}than\s{1,3}|approx(?:imately)?\.?\s{1,3}|about\s{1,3})?"
    + _NUMBER
    + r"(?:\s{0,3}(?:-|to)\s{0,3}\d{1,4}(?:\.\d{1,2})?)?\s{0,3}(minutes?|mins?|hours?|hrs?|h)\b",
    re.IGNORECASE,
)
_TEXT_VOLUME = re.compile(
    r"\b(?:in|into|to|with)\s{1,3}" + _NUMBER + r"\s{0,3}(ml|l)\b|" + _NUMBER + r"\s{0,3}(ml|l)\s{1,3}bag\b",
    re.IGNORECASE,
)
_TEXT_UNITS = {"mg": 1.0, "milligram": 1.0, "milligrams": 1.0, "g": 1000.0, "gram": 1000.0, "grams": 1000.0}
MAX_TEXT = 2000  # only the start of a very long text is read


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", "."))
    except ValueError:
        return None


def text_dose(text: str) -> float | None:
    """mg of a dose written in the text; None when there is none or several different ones."""
    found = {
        round(n * _TEXT_UNITS[u.lower()], 3)
        for v, u in _TEXT_DOSE.findall(text[:MAX_TEXT])
        if (n := _number(v)) is not None and n > 0
    }
    return next(iter(found)) if len(found) == 1 else None


def text_minutes(text: str) -> float | None:
    """Minutes of "over [at least] N minutes/hours" in the text (the shortest when several)."""
    found = []
    for value, unit in _TEXT_TIME.findall(text[:MAX_TEXT]):
        number = _number(value)
        if number and number > 0:
            found.append(number * (60.0 if unit.lower().startswith("h") else 1.0))
    return min(found) if found else None


def text_volume(text: str) -> float | None:
    """mL of the diluent or bag the text names ("in 100 mL sodium chloride 0.9%", "250 mL bag"); the smallest."""
    found = []
    for v1, u1, v2, u2 in _TEXT_VOLUME.findall(text[:MAX_TEXT]):
        number, unit = (_number(v1), u1) if v1 else (_number(v2), u2)
        if number and number > 0:
            found.append(number * (1000.0 if unit.lower() == "l" else 1.0))
    return min(found) if found else None


def quote(text: str, limit: int = 200) -> str:
    """The text as a card may quote it: one line, markdown neutralised, at most ``limit`` characters."""
    return markdown_text(text[:MAX_TEXT], limit)
