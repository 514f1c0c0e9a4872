"""The label's minimum administration time for one dose, per way of giving it (push, infusion)."""

from __future__ import annotations

from cds_service.engine.facts import MissingKnowledge
from cds_service.knowledge.model import Fact, LabelLimits, TimeBand


def _first_band(bands: tuple[TimeBand, ...], method: str, dose_mg: float) -> TimeBand | None:
    for band in bands:
        if band.method not in (method, "any", None):
            continue
        if band.up_to_mg is None or dose_mg <= band.up_to_mg + 1e-9:
            return band
    return None


def label_methods(label: LabelLimits) -> list[str]:
    """The ways of giving the dose the label's time bands name ("any" when none is named)."""
    return sorted({b.method for b in label.time_bands if b.method not in ("any", None)}) or ["any"]


def method_minimum(label: LabelLimits, dose_mg: float, method: str) -> tuple[float, list[tuple[str, object]]] | None:
    """(minimum minutes, [(kind, band-or-fact)]) for this dose given by ``method``; None when no band covers it.

    The first band (file order) of that method covering the dose applies; the
    label's maximum rate (mg/min) adds a floor of dose / rate.
    """
    candidates: list[tuple[float, str, object]] = []
    band = _first_band(label.time_bands, method, dose_mg)
    if band is not None:
        candidates.append((float(band.min_minutes), "band", band))
    rate: Fact | None = label.max_rate_mg_per_min
    if rate is not None and rate.value:
        candidates.append((dose_mg / float(rate.value), "push_rate", rate))
    if not candidates:
        return None
    minimum = max(value for value, _, _ in candidates)
    return minimum, [(kind, item) for value, kind, item in candidates if value >= minimum - 1e-9]


def label_minimum(label: LabelLimits, dose_mg: float, method: str | None) -> tuple[float, list[tuple[str, object]]]:
    """(minimum minutes, [(kind, band-or-fact)]) for this dose.

    For a known method, that method's minimum. When the order does not say push or
    infusion, the strictest of the methods the label allows for this dose: a time set
    from it is within the label however the dose is given (see ``any_method_minimum``
    for whether an order fits). A way the label does not allow (``labelled: false``:
    iron sucrose pushed above 200 mg) sets no time here, or the card would call its
    stand-in time the label's; an order that says it is given that way gets the
    method warning instead.
    """
    methods = [method] if method else label_methods(label)
    if not method:
        methods = [m for m in methods if _labelled(label, dose_mg, m)] or methods
    results = [r for m in methods if (r := method_minimum(label, dose_mg, m))]
    if not results:
        raise MissingKnowledge(f"the {label.label} data has no administration time for {dose_mg:g} mg")
    return max(results, key=lambda r: r[0])


def any_method_minimum(label: LabelLimits, dose_mg: float) -> tuple[float, str] | None:
    """(minutes, method) of the label method that allows this dose the shortest time.

    An order that does not say how it is given and whose time reaches this is within
    the label: it fits at least one way of giving it (e.g. 100 mg iron sucrose over
    2 minutes is the labelled slow injection at dialysis). A band marked ``labelled:
    false`` (iron sucrose pushed above 200 mg) is not a way the label allows.
    """
    found = [(r[0], m) for m in label_methods(label)
             if _labelled(label, dose_mg, m) and (r := method_minimum(label, dose_mg, m))]
    return min(found) if found else None


def _labelled(label: LabelLimits, dose_mg: float, method: str) -> bool:
    return unlabelled_band(label, dose_mg, method) is None


def unlabelled_band(label: LabelLimits, dose_mg: float, method: str) -> TimeBand | None:
    """The band marked ``labelled: false`` that covers this dose given by ``method``, if that is the one that applies.

    Read from the band itself, not from ``method_minimum``'s parts: a maximum rate that asks for more time
    (sodium ferric gluconate pushed at 12.5 mg/min above 750 mg) must not hide that the label allows no push."""
    band = _first_band(label.time_bands, method, dose_mg)
    return band if band is not None and band.labelled is False else None


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
