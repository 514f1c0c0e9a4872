"""Earlier IV-iron administrations (MedicationAdministration), read like orders.

(Not named history.py: a submodule of that name would shadow the ``history`` rule that
``engine/__init__`` imports from ``rules``.)

The product is identified exactly as for a draft order; a non-IV route or an
oral product is not IV-iron history. Entered-in-error records are skipped.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cds_service.engine.dosage import DoseReading, Entry, check_plausible, read_dose, read_time
from cds_service.engine.fhir_values import concept_texts, effective_span, notes_text, parse_when, reference_of
from cds_service.engine.model import Administration
from cds_service.engine.order import identify_medication, labelled_non_iv_route, medication_index
from cds_service.engine.routes import route_matcher_for
from cds_service.engine.units import to_mg

STOPPED_STATUS = {"stopped", "not-done"}


def _stop_reason(resource: dict) -> str | None:
    texts: list[str] = []
    reasons = resource.get("statusReason")
    for concept in reasons if isinstance(reasons, list) else [reasons]:
        texts += concept_texts(concept)
    texts += notes_text(resource)
    unique = list(dict.fromkeys(t.strip() for t in texts if t.strip()))
    return "; ".join(unique) or None


def _dose_given(dosage: dict, concentration: float | None) -> DoseReading:
    """The dose given (mg, and the volume when it is one), as ``read_dose`` reads it. The usual dose, a mass,
    is taken directly: ``read_dose`` would add only the labels and problems an administration does not keep."""
    quantity = dosage.get("dose")
    mg = to_mg(quantity)
    if mg is not None:
        dose = DoseReading(dose_mg=mg)
    else:
        dose = read_dose([Entry("dose", quantity, None)] if isinstance(quantity, dict) else [], concentration)
    check_plausible(dose, None)   # a negative or zero dose given must not lower the totals
    return dose


def read_administration(resource: dict, medications: dict[str, dict], knowledge) -> Administration | None:
    status = resource.get("status") if isinstance(resource.get("status"), str) else None
    if status == "entered-in-error":
        return None
    found = identify_medication(resource, medications, knowledge)
    if found is None:
        return None
    identity, _ = found
    dosage = resource.get("dosage") if isinstance(resource.get("dosage"), dict) else {}
    route = route_matcher_for(knowledge).classify(dosage.get("route"))
    product = knowledge.products.get(identity.product_key) if identity.product_key else None
    # The injectable by another route its label allows (INFeD IM) was an iron dose too (a first dose for the
    # test-dose check, a dose of the day); it is read without a time: it was no infusion.
    labelled = labelled_non_iv_route(dosage.get("route"), product, knowledge) \
        if route.route == "non-iv" and product is not None and identity.injectable else None
    if route.route == "non-iv" and labelled is None:
        return None
    if identity.oral and not ((route.route == "iv" or labelled) and identity.injectable_code):
        return None
    concentration = (float(product.concentration_mg_per_ml.value)
                     if product and product.concentration_mg_per_ml else None)
    dose = _dose_given(dosage, concentration)
    date_text, start, end = effective_span(resource)
    period = resource.get("effectivePeriod") if isinstance(resource.get("effectivePeriod"), dict) else {}
    end_text = period.get("end") if isinstance(period.get("end"), str) else None
    minutes = None
    rate = None
    if labelled:
        pass
    elif start is not None and end is not None and end_text and end > start:
        minutes = (end - start).total_seconds() / 60
        rate = dose.dose_mg / minutes if dose.dose_mg is not None else None
    else:
        rates = [Entry(k, dosage[k], None) for k in ("rateQuantity", "rateRatio", "rateRange")
                 if isinstance(dosage.get(k), dict)]
        if rates:
            volume = (dose.volume_ml, "the administered volume") if dose.volume_ml is not None else None
            timing = read_time(None, rates, dose.dose_mg, volume)
            minutes, rate = timing.minutes, timing.rate_mg_per_min
    return Administration(
        product_key=identity.product_key,
        date=date_text,
        end=end_text,
        dose_mg=dose.dose_mg,
        minutes=minutes,
        stopped=status in STOPPED_STATUS,
        stop_reason=_stop_reason(resource),
        reference=reference_of(resource),
        status=status,
        rate_mg_per_min=rate,
        route=labelled or "iv",
    )


def read_administrations(record, knowledge) -> list[Administration]:
    """IV-iron administrations, oldest first (undated ones first)."""
    medications = medication_index(record, [])
    out = [a for a in (read_administration(r, medications, knowledge)
                       for r in record.of_type("MedicationAdministration") if isinstance(r, dict)) if a is not None]
    def when(admin: Administration) -> float:
        moment = parse_when(admin.date)
        return moment.timestamp() if moment else float("-inf")

    out.sort(key=when)
    return out


def span(admin: Administration) -> tuple[datetime, datetime] | None:
    """(start, end) of an administration that gave iron; the end is the start when nothing else is known."""
    if admin.status == "not-done":
        return None
    start = parse_when(admin.date)
    if start is None:
        return None
    end = parse_when(admin.end)
    if end is None or end < start:
        end = start + timedelta(minutes=admin.minutes) if admin.minutes else start
    return start, end
