"""Rewrite a draft's free-text dosage so that it says what the updated coded fields say.

Nurses read the free text. When a suggestion changes the time, the rate or the
dose, only the words that state the old value change; the method ("slow IV push"),
the diluent ("in 100 mL sodium chloride 0.9%") and anything else the prescriber
wrote stay as written. Dropping them would change the order (a push would become an
infusion the next time it is checked) and make the cards oscillate.

Each pattern is linear (no nested repetition) on untrusted text.
"""

from __future__ import annotations

import re

_NUM = r"\d[\d,]*(?:\.\d+)?"
# "over 5 min", "over 1.5 hours", "5-10 minutes", "2 to 5 mins": a time span of the administration.
_TIME = re.compile(rf"(?<![\w/.,])(?P<num>{_NUM}(?:\s*(?:-|–|to)\s*{_NUM})?)\s*"
                   r"(?P<unit>minutes?|mins?|hours?|hrs?|h)\b", re.IGNORECASE)
# "600 mL/h", "100 ml/hr", "50 mL per hour", "10 mg/min": a stated rate.
_RATE = re.compile(rf"(?<![\w/.,])(?P<num>{_NUM})\s*(?P<unit>(?:ml|mg)\s*(?:/|per)\s*(?:h|hr|hour|min|minute))\b",
                   re.IGNORECASE)
_DOSE = re.compile(rf"(?<![\w/.,])(?P<num>{_NUM})\s*(?P<unit>mg)\b(?!\s*(?:/|per)\s*(?:h|hr|hour|min|minute|kg|ml)\b)",
                   re.IGNORECASE)


def number(value: float) -> str:
    return f"{int(value)}" if float(value).is_integer() else f"{round(float(value), 1):g}"


def dose_number(mg: float) -> str:
    """A dose as the coded doseQuantity carries it (up to 3 decimals, no trailing zeros): 1000, 7.4, 31.25.
    ``number`` keeps one decimal, which would make a child's 31.25 mg read "31.2 mg" in the order's own text."""
    text = f"{float(mg):.3f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _value(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def _span(minutes: float, old_unit: str) -> str:
    """The new time in the unit style the prescriber used (hours stay hours when they come out round)."""
    if old_unit.lower().startswith(("hour", "hr")) and (minutes / 60 * 2).is_integer():
        hours = minutes / 60
        return f"{number(hours)} {'hour' if hours == 1 else 'hours'}"
    short = old_unit.lower().startswith("min") and not old_unit.lower().startswith("minute")
    return f"{number(minutes)} {'min' if short else ('minute' if minutes == 1 else 'minutes')}"


def with_time(text: str, minutes: float) -> str:
    """``text`` with its administration time restated as ``minutes`` (appended when it states none)."""
    found = list(_TIME.finditer(text))
    if not found:
        return f"{text.rstrip()} over {_span(minutes, 'minutes')}"
    # the span said "over ..." is the administration time; another ("wait 60 minutes") is left alone
    first = next((m for m in found if text[:m.start()].rstrip().lower().endswith(("over", "during", "in"))), found[0])
    return text[:first.start()] + _span(minutes, first.group("unit")) + text[first.end():]


def with_rate(text: str, unit_kind: str, value: float | None) -> str:
    """``text`` with its stated rate of ``unit_kind`` ("ml" or "mg") set to ``value``; removed when None."""
    def replace(match: re.Match) -> str:
        if not match.group("unit").lower().startswith(unit_kind):
            return match.group(0)
        return "" if value is None else f"{number(value)} {match.group('unit')}"
    out = _RATE.sub(replace, text)
    if value is None:   # "at  over 15 minutes" -> tidy the words a removed rate leaves behind
        out = re.sub(r"\b(?:at|@)\s+(?=(?:over|,|;|$))", "", out, flags=re.IGNORECASE)
        out = re.sub(r"\s{2,}", " ", out).strip()
    return out


def stated_rates(text: str) -> list[tuple[float, str]]:
    return [(v, m.group("unit")) for m in _RATE.finditer(text) if (v := _value(m.group("num"))) is not None]


def with_dose(text: str, old_mg: float | None, new_mg: float) -> str:
    """``text`` with the old dose in mg restated as ``new_mg`` (prepended when it states none)."""
    for match in _DOSE.finditer(text):
        if old_mg is None or _value(match.group("num")) == old_mg:
            return text[:match.start()] + f"{dose_number(new_mg)} mg" + text[match.end():]
    return f"{dose_number(new_mg)} mg {text.lstrip()}"
