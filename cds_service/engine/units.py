"""UCUM unit conversion for the few quantities an iron order or a record carries.

A small table instead of a UCUM library: the engine needs mass (to mg), volume
(to mL), time (to minutes) and body weight (to kg). A unit outside the table
gives ``None``, and the caller says what could not be read; nothing is guessed.
Both the UCUM ``code`` and the human ``unit`` string of a FHIR Quantity are
tried, so "mg", "MG", "mcg", "µg" and "ug" all read as mass.
"""

from __future__ import annotations

# unit (lower case, as UCUM codes or common human spellings) -> factor to the base unit
MASS_TO_MG = {
    "mg": 1.0, "milligram": 1.0, "milligrams": 1.0,
    "g": 1000.0, "gram": 1000.0, "grams": 1000.0, "gm": 1000.0,
    "ug": 0.001, "mcg": 0.001, "µg": 0.001, "μg": 0.001, "microgram": 0.001, "micrograms": 0.001,
}
VOLUME_TO_ML = {
    "ml": 1.0, "milliliter": 1.0, "millilitre": 1.0, "milliliters": 1.0, "millilitres": 1.0, "cc": 1.0, "cm3": 1.0,
    "l": 1000.0, "liter": 1000.0, "litre": 1000.0, "liters": 1000.0, "litres": 1000.0,
    "dl": 100.0, "cl": 10.0,
    # UCUM writes micro as "u"; EHRs also send the micro sign (U+00B5) or Greek mu (U+03BC), and "mcl"
    "ul": 0.001, "µl": 0.001, "μl": 0.001, "mcl": 0.001, "microliter": 0.001, "microlitre": 0.001,
    "microliters": 0.001, "microlitres": 0.001,
}
TIME_TO_MIN = {
    "s": 1 / 60, "sec": 1 / 60, "second": 1 / 60, "seconds": 1 / 60,
    "min": 1.0, "mins": 1.0, "minute": 1.0, "minutes": 1.0,
    "h": 60.0, "hr": 60.0, "hrs": 60.0, "hour": 60.0, "hours": 60.0,
    "d": 1440.0, "day": 1440.0, "days": 1440.0,
}
WEIGHT_TO_KG = {
    "kg": 1.0, "kilogram": 1.0, "kilograms": 1.0,
    "g": 0.001, "gram": 0.001, "grams": 0.001,
    "[lb_av]": 0.45359237, "lb": 0.45359237, "lbs": 0.45359237, "pound": 0.45359237, "pounds": 0.45359237,
}


def _norm(unit: object) -> str | None:
    """Lower case without UCUM annotations: "mg{Fe}" and "mg{elemental iron}" read as "mg"."""
    if not isinstance(unit, str):
        return None
    unit = _strip_annotations(unit).strip().lower()
    return unit or None


def _strip_annotations(unit: str) -> str:
    # one pass, linear: drop every "{...}"; an unclosed "{" keeps the rest as written
    if "{" not in unit:
        return unit   # the usual unit: nothing to drop (a "}" alone is kept as written below too)
    out, depth = [], 0
    for ch in unit:
        if ch == "{":
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        elif not depth:
            out.append(ch)
    return "".join(out) if depth == 0 else unit


_INFINITIES = (float("inf"), float("-inf"))


def quantity_value(quantity: object) -> float | None:
    """The numeric value of a FHIR Quantity (bools and non-finite numbers are not values)."""
    if not isinstance(quantity, dict):
        return None
    value = quantity.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if value != value or value in _INFINITIES:
        return None
    return float(value)


def quantity_units(quantity: dict) -> list[str]:
    """Candidate unit spellings of a Quantity: UCUM code first, then the display unit."""
    units = []
    for key in ("code", "unit"):
        unit = _norm(quantity.get(key))
        if unit and unit not in units:
            units.append(unit)
    return units


def unit_label(quantity: dict) -> str:
    """The unit as written in the order, for messages."""
    for key in ("unit", "code"):
        if isinstance(quantity.get(key), str) and quantity[key].strip():
            return quantity[key].strip()
    return "no unit"


def _convert(quantity: object, table: dict[str, float]) -> float | None:
    value = quantity_value(quantity)
    if value is None:
        return None
    for unit in quantity_units(quantity):  # type: ignore[arg-type]
        factor = table.get(unit)
        if factor is not None:
            return value * factor
    return None


def to_mg(quantity: object) -> float | None:
    return _convert(quantity, MASS_TO_MG)


def to_ml(quantity: object) -> float | None:
    return _convert(quantity, VOLUME_TO_ML)


def to_minutes(quantity: object) -> float | None:
    return _convert(quantity, TIME_TO_MIN)


def to_kg(quantity: object) -> float | None:
    return _convert(quantity, WEIGHT_TO_KG)


def time_unit_minutes(unit: object) -> float | None:
    """Minutes in one ``unit`` (``timing.repeat.durationUnit`` is a bare UCUM code: s, min, h, d)."""
    norm = _norm(unit)
    return TIME_TO_MIN.get(norm) if norm else None


def split_rate_unit(unit: str) -> tuple[str, str, float] | None:
    """Split a rate unit like "mg/min", "mL/h", "mL/hr", "mg/(2.h)" into (kind, base, per-minute factor).

    ``kind`` is "mass" or "volume"; the factor turns a value in this unit into
    mg/min or mL/min. UCUM annotations in braces are dropped. Anything else is None.
    """
    unit = _strip_annotations(unit.replace(" ", "")).lower()
    if "/" not in unit:
        return None
    top, _, bottom = unit.partition("/")
    bottom = bottom.strip("()")
    per = 1.0
    if "." in bottom:  # UCUM "/(2.h)" style multiplier
        number, _, bottom = bottom.partition(".")
        try:
            per = float(number)
        except ValueError:
            return None
    minutes = TIME_TO_MIN.get(bottom)
    if minutes is None or per <= 0:
        return None
    if top in MASS_TO_MG:
        return "mass", "mg", MASS_TO_MG[top] / (minutes * per)
    if top in VOLUME_TO_ML:
        return "volume", "mL", VOLUME_TO_ML[top] / (minutes * per)
    return None


def rate_per_minute(quantity: object) -> tuple[str, float] | None:
    """A rateQuantity as ("mass", mg/min) or ("volume", mL/min), or None when the unit is not a rate we know."""
    value = quantity_value(quantity)
    if value is None:
        return None
    for unit in quantity_units(quantity):  # type: ignore[arg-type]
        split = split_rate_unit(unit)
        if split is not None:
            kind, _, factor = split
            return kind, value * factor
    return None


def per_kg_dose(quantity: object) -> float | None:
    """mg per kg of body weight of a dose written as "mg/kg" (or "g/kg", "ug/kg"); None for any other unit."""
    value = quantity_value(quantity)
    if value is None:
        return None
    for unit in quantity_units(quantity):  # type: ignore[arg-type]
        top, slash, bottom = unit.replace(" ", "").partition("/")
        if slash and bottom.strip("()") in WEIGHT_TO_KG and top in MASS_TO_MG:
            return value * MASS_TO_MG[top] / WEIGHT_TO_KG[bottom.strip("()")]
    return None


def fmt(number: float) -> str:
    """A number as a prescriber writes it: 750, 7.5, 0.25 (no trailing zeros)."""
    text = f"{number:.2f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"
