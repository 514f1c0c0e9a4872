"""A child's dose: the label's paediatric ceiling and the volume a child's dose is measured in.

Read by the dose-limit rule, which works out the one allowed dose of an order from every ceiling (the
paediatric one among them), and by the patient-suitability rule, which carries that dose as its update when
the paediatric dose is exceeded. One place, so that the two cards never offer two different doses.
"""

from __future__ import annotations

import math

from cds_service.engine.facts import OrderFacts


def is_child(facts: OrderFacts) -> bool:
    """Younger than the protocol's adult age (suitability ``adult_age_years``); an unknown age is not a child."""
    months = facts.patient.age_months
    adult = (facts.knowledge.suitability or {}).get("adult_age_years") or {}
    return months is not None and bool(adult) and months < float(adult["value"]) * 12


def label_spec(facts: OrderFacts) -> dict | None:
    """suitability.yaml's entry for the ordered product under this jurisdiction's label."""
    products = (facts.knowledge.suitability or {}).get("products") or {}
    return (products.get(facts.order.product_key) or {}).get(facts.ctx.jurisdiction)


def paediatric_dose(facts: OrderFacts) -> dict | None:
    """The label's paediatric dose (``max_mg_per_kg`` / ``max_mg``) for this child, when the label establishes
    the product at this age and gives one; None for adults, unknown ages and ages the label does not cover."""
    if not facts.identified or not is_child(facts):
        return None
    spec = label_spec(facts)
    minimum = spec.get("min_age_months") if spec else None
    if minimum is None or facts.patient.age_months < minimum:
        return None
    return spec.get("paediatric_dose") or None


def round_down(mg: float, facts: OrderFacts, label_step_mg: float | None) -> float:
    """``mg`` rounded down to a dose that can be measured: the label's own step when it gives one; for a child
    ``paediatric_measure`` (0.1 mL, 0.01 mL under 1 mL); else whole mL of the product; whole mg without a
    concentration."""
    concentration = facts.product.concentration_mg_per_ml if facts.identified else None
    measure = (facts.knowledge.suitability or {}).get("paediatric_measure")
    if label_step_mg is None and concentration and measure and is_child(facts):
        per_ml = float(concentration.value)
        small = mg / per_ml < float(measure["small_volume_ml"]["value"])
        step = per_ml * float(measure["small_step_ml" if small else "step_ml"]["value"])
    elif label_step_mg is not None:
        step = label_step_mg
    else:
        step = float(concentration.value) if concentration else None
    if step and mg >= step:
        return round(math.floor(mg / step + 1e-9) * step, 6)
    return float(math.floor(mg + 1e-9))
