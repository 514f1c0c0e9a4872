"""Before any FHIR read: is there an IV-iron order to check, and what must be read to know?

The patient's history (prefetch parsing and fallback reads, with the EHR's
token) is only worth its cost when there is an IV-iron order to check: drafts
of a DeviceRequest, a ServiceRequest, amoxicillin or no medication at all get
no card, so they cost no read either. A draft whose ``medicationReference``
names a Medication we do not have, and no drug, may be iron: that one
Medication is read first, and the history only if it turns out to be iron.
"""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.engine.fhir_values import items, reference_target
from cds_service.engine.order import ORDER_TYPES, medication_index, read_orders, unread_reference
from cds_service.engine.routes import route_matcher_for


@dataclass(frozen=True)
class Triage:
    iron: bool                    # an IV-iron order (a selected one, on order-select) is known: read the history
    pending: tuple[str, ...] = ()  # Medication ids to read first: whether their orders are iron depends on them


def _drafts(draft_orders: object) -> list[dict]:
    entries = draft_orders.get("entry") if isinstance(draft_orders, dict) else None
    return [e["resource"] for e in items(entries)
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)]


def _in_scope(resource: dict, hook: str, selections) -> bool:
    if hook != "order-select" or selections is None:
        return True
    return f"{resource.get('resourceType')}/{resource.get('id')}" in set(selections)


def triage(draft_orders, selections, hook: str, record, knowledge) -> Triage:
    """What the drafts (the selected ones on order-select) need read, from what the request and ``record`` hold."""
    orders, _ = read_orders(draft_orders, record, knowledge)
    if any(o.matched_by != "unresolved" and o.route != "non-iv" and _in_scope(o.resource, hook, selections)
           for o in orders):
        return Triage(iron=True)
    resources = _drafts(draft_orders)
    medications = medication_index(record, resources)
    failed = getattr(record, "unavailable", None) or {}
    matcher = route_matcher_for(knowledge)
    pending: list[str] = []
    for resource in resources:
        if resource.get("resourceType") not in ORDER_TYPES or not _in_scope(resource, hook, selections):
            continue
        if unread_reference(resource, medications) is None:
            continue     # a concept, a name, or a Medication we have: already decided above
        rtype, rid = reference_target(resource.get("medicationReference"))
        if rtype != "Medication" or not rid or f"medication:{rid}" in failed or rid in pending:
            continue
        dosages = [d for d in items(resource.get("dosageInstruction")) if isinstance(d, dict)]
        if dosages and all(matcher.classify(d.get("route")).route == "non-iv" for d in dosages):
            continue     # plainly not intravenous: not an IV-iron order whatever the Medication is
        pending.append(rid)
    return Triage(iron=False, pending=tuple(pending))
