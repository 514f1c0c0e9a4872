"""What every card of one order must also say about how the order was read.

A dose or time read from the order's text, a dose worked out per kg from the
weight on record, or a route that contradicts the product: the prescriber sees
it on each card of that order, since any card may be the only one shown. An
order not written as an R4 MedicationRequest (DSTU2 MedicationOrder, STU3
Dosage-level dose, a doseAndRate object) gets no one-click update: the change
would be written in a shape its draft does not use. An injectable product ordered
by mouth is never silent: when no rule has anything to say, one card says so.
"""

from __future__ import annotations

import dataclasses

from cds_service.engine import text
from cds_service.engine.model import Finding, IronOrder

ROUTE_TOPIC = "formulation"


def _own_type(suggestions: tuple, order: IronOrder) -> tuple:
    """A delete of the draft names it by its own type (a DSTU2 MedicationOrder is not a MedicationRequest)."""
    rtype = order.resource.get("resourceType") if isinstance(order.resource, dict) else None
    wrong = f"MedicationRequest/{order.request_id}"
    if rtype in (None, "MedicationRequest") or not any(s.resource_id == wrong for s in suggestions):
        return suggestions
    return tuple(dataclasses.replace(s, resource_id=f"{rtype}/{order.request_id}") if s.resource_id == wrong else s
                 for s in suggestions)


def annotate(findings: list[Finding], order: IronOrder, drug: str, knowledge) -> list[Finding]:
    """``findings`` of ``order`` with the reading notes added (pure: new Finding objects)."""
    notes = list(order.notes)
    out: list[Finding] = []
    for finding in findings:
        extra = list(notes)
        suggestions = _own_type(finding.suggestions, order)
        if not order.editable and any(s.action == "update" for s in suggestions):
            suggestions = tuple(s for s in suggestions if s.action != "update")
            extra.append(text.common(knowledge, "order_reading", "not_editable"))
        if extra or suggestions is not finding.suggestions:
            finding = dataclasses.replace(
                finding, detail=text.compose(finding.detail, text.bullet_list(extra)), suggestions=suggestions
            )
        out.append(finding)
    if order.route_conflict and not out:
        out.append(
            Finding(
                topic=ROUTE_TOPIC,
                indicator="warning",
                order=order,
                summary=text.summary(
                    text.common(
                        knowledge,
                        "order_reading",
                        "route_conflict_summary",
                        drug=drug,
                        route=order.route_text or "oral",
                    )
                ),
                detail=text.bullet_list(notes),
            )
        )
    return out
