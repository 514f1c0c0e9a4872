"""The label's minimum administration time for one dose, and how the order says it is given."""

from __future__ import annotations

import re

from cds_service.engine.facts import MissingKnowledge, concept_text
from cds_service.engine.model import IronOrder
from cds_service.knowledge.model import Fact, LabelLimits, TimeBand

_PUSH = re.compile(r"\b(push|bolus|slow (iv )?injection|iv injection)\b")
_INFUSION = re.compile(r"\b(infusion|infuse|drip)\b")


def order_method(order: IronOrder) -> str | None:
    """"push", "infusion" or None (not stated) from the dosage's method and route wording."""
    dosages = order.resource.get("dosageInstruction") if isinstance(order.resource, dict) else None
    dosage = dosages[0] if isinstance(dosages, list) and dosages and isinstance(dosages[0], dict) else {}
    words = " ".join([concept_text(dosage.get("method")), concept_text(dosage.get("route")),
                      (getattr(order, "route_text", None) or "").lower(),
                      str(dosage.get("text") or "").lower()])
    if _PUSH.search(words):
        return "push"
    if _INFUSION.search(words):
        return "infusion"
    return None


def _first_band(bands: tuple[TimeBand, ...], method: str, dose_mg: float) -> TimeBand | None:
    for band in bands:
        if band.method not in (method, "any", None):
            continue
        if band.up_to_mg is None or dose_mg <= band.up_to_mg + 1e-9:
            return band
    return None


def label_minimum(label: LabelLimits, dose_mg: float, method: str | None) -> tuple[float, list[tuple[str, object]]]:
    """(minimum minutes, [(kind, band-or-fact)]) for this dose.

    For a known method the first band (file order) of that method covering the
    dose applies; when the order does not say push or infusion, the strictest of
    the methods' bands applies. The label's maximum rate (mg/min) adds a floor
    of dose / rate whatever the method.
    """
    if method:
        methods = [method]
    else:
        methods = sorted({b.method for b in label.time_bands if b.method not in ("any", None)}) or ["any"]
    bands = [band for m in methods if (band := _first_band(label.time_bands, m, dose_mg)) is not None]
    candidates: list[tuple[float, str, object]] = []
    if bands:
        band = max(bands, key=lambda b: b.min_minutes)
        candidates.append((float(band.min_minutes), "band", band))
    rate: Fact | None = label.max_rate_mg_per_min
    if rate is not None and rate.value:
        candidates.append((dose_mg / float(rate.value), "push_rate", rate))
    if not candidates:
        raise MissingKnowledge(f"the {label.label} data has no administration time for {dose_mg:g} mg")
    minimum = max(value for value, _, _ in candidates)
    return minimum, [(kind, item) for value, kind, item in candidates if value >= minimum - 1e-9]


def has_rate_information(resource: dict) -> bool:
    """True when the order states any time or rate (even one we could not read)."""
    for dosage in resource.get("dosageInstruction") or ():
        if not isinstance(dosage, dict):
            continue
        repeat = (dosage.get("timing") or {}).get("repeat") if isinstance(dosage.get("timing"), dict) else None
        if isinstance(repeat, dict) and any(k in repeat for k in ("duration", "durationMax")):
            return True
        for entry in dosage.get("doseAndRate") or ():
            if isinstance(entry, dict) and any(k in entry for k in ("rateQuantity", "rateRatio", "rateRange")):
                return True
    return False
