"""Builders for rule tests: orders, patients and calls constructed directly (no HTTP, no readers)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from cds_service.engine.facts import OrderFacts
from cds_service.engine.model import (
    Administration,
    EvaluationContext,
    Evidence,
    IronOrder,
    LabValue,
    PatientPicture,
    Reaction,
    RiskFactor,
)
from cds_service.knowledge.loader import load_knowledge
from support.hook_requests import medication_request

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=timezone.utc)


def knowledge():
    return load_knowledge()


def with_protocol(base, path: str, entry=None, **changes):
    """A copy of ``base`` (the knowledge) whose protocol entry at ``path`` ("hypotension.fall_mmhg") is ``entry``,
    or the entry with ``changes`` (e.g. ``value=85``); the packaged knowledge is untouched."""

    def rebuilt(node, keys):
        head, *rest = keys
        child = getattr(node, head)
        return replace(node, **{head: rebuilt(child, rest) if rest else (entry or replace(child, **changes))})

    return replace(base, protocol=rebuilt(base.protocol, path.split(".")))


def ctx(**overrides) -> EvaluationContext:
    base = EvaluationContext(patient_id="pat-1", encounter_id="enc-1", user_id="Practitioner/prac-1",
                             hook="order-sign", now=NOW, jurisdiction="US")
    return replace(base, **overrides)


def draft_resource(rid="mr-1", dose_mg=750, minutes=15, product_code="1435169",
                   display="15 ML ferric carboxymaltose 50 MG/ML Injection", rate=None):
    """The engine tests' draft order: ``hook_requests.medication_request`` with the route as a code only."""
    return medication_request(rid, code=product_code, display=display, dose_mg=dose_mg, minutes=minutes, route=None,
                              rate=rate)


def order(rid="mr-1", product="ferric_carboxymaltose", dose_mg=750, minutes=15, volume_ml=None, resource=None,
          problems=(), **kw) -> IronOrder:
    if resource is None:
        resource = draft_resource(rid, dose_mg=dose_mg, minutes=minutes)
    return IronOrder(request_id=rid, resource=resource, product_key=product, matched_by="code", route="iv",
                     dose_mg=dose_mg, dose_source=None if dose_mg is None else f"doseQuantity {dose_mg} mg",
                     minutes=minutes, minutes_source=None if minutes is None else f"duration {minutes} min",
                     volume_ml=volume_ml, problems=tuple(problems), **kw)


def days_before(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat()


def administration(product="ferric_carboxymaltose", days=30, dose_mg=750, minutes=15, stopped=False) -> Administration:
    when = days_before(days)
    return Administration(product_key=product, date=when, end=when, dose_mg=dose_mg, minutes=minutes,
                          stopped=stopped, stop_reason=None, reference=f"MedicationAdministration/ma-{days}")


def reaction(kind="infusion-pain", severity="mild", product="ferric_carboxymaltose", text=None, days=60) -> Reaction:
    text = text or ("Back pain 6/10 during ferric carboxymaltose infusion" if kind == "infusion-pain"
                    else f"{severity.capitalize()} hypersensitivity reaction to IV iron")
    return Reaction(kind=kind, severity=severity, product_key=product,
                    evidence=(Evidence(text=text, date=days_before(days)[:10], reference="AllergyIntolerance/ai-1"),))


def risk(code="asthma", label="Asthma") -> RiskFactor:
    return RiskFactor(code=code, label=label,
                      evidence=(Evidence(text=label, date="2020-01-01", reference=f"Condition/{code}"),))


def lab(name: str, value: float, days=10) -> tuple[str, LabValue]:
    spec = load_knowledge().codes["labs"][name]
    return spec["loinc"], LabValue(code=spec["loinc"], value=value, unit=spec["unit"] or "",
                                   date=days_before(days)[:10],
                                   reference=f"Observation/{name}")


def patient(**kw) -> PatientPicture:
    labs = kw.pop("labs", None)
    if labs:
        kw["labs"] = dict(labs)
    return PatientPicture(**kw)


def facts(the_order=None, the_patient=None, drafts=(), orders=None, **ctx_overrides) -> OrderFacts:
    the_order = the_order or order()
    return OrderFacts(order=the_order, patient=the_patient or patient(), knowledge=knowledge(),
                      ctx=ctx(**ctx_overrides), other_drafts=tuple(drafts),
                      iron_orders=tuple(orders) if orders is not None else (the_order,))


def needs_products(*keys):
    """Skip (with the reason) until the knowledge data holds these products."""
    import pytest

    missing = [k for k in keys if k not in load_knowledge().products]
    return pytest.mark.skipif(bool(missing), reason=f"knowledge data has no product {missing} yet")


def flat(text: str) -> str:
    """Card text with line breaks folded (wording templates wrap lines), lower case."""
    return " ".join(text.split()).lower()
