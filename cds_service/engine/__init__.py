"""The clinical engine: pure functions, facts in, findings out.

``evaluate`` reads the draft orders and the patient record, runs every rule for
every IV-iron order (each rule call isolated: a rule that fails becomes a
visible "check by hand" card, never a silent skip), and adds a
history-unavailable finding when part of the record could not be obtained.

The call has a total deadline (``ctx.engine_seconds``, ``budget.py``): past it the
engine stops and answers with the findings done so far plus a history-unavailable
card saying the checks could not be completed.
"""

from __future__ import annotations

import logging
import traceback

from cds_service.engine import order as _order_reader  # has_orders_to_check: see there
from cds_service.engine import text as _text
from cds_service.engine import unavailable as unavailable_history  # aliased: engine submodules must not shadow it
from cds_service.engine.budget import Budget, DeadlineExceeded, budget_scope, over_deadline
from cds_service.engine.consolidate import consolidate
from cds_service.engine.facts import OrderFacts, order_name
from cds_service.engine.model import Finding, IronOrder, PatientPicture
from cds_service.engine.order_notes import annotate
from cds_service.engine.rules import COMPANION_RULES, RULES
from cds_service.engine.suggest import SUGGESTION_SYSTEM

log = logging.getLogger("iron_cds.engine")


def evaluate(draft_orders, selections, record, knowledge, ctx, prefetch_keys=None) -> list[Finding]:
    """Findings for the IV-iron orders among ``draft_orders`` (none when there is no IV-iron order).

    ``prefetch_keys``: the data the service asks for (discovery's keys), named as missing when the
    whole history turns out unreadable.

    order-select: only the selected orders (``Type/id`` in ``selections``) get findings; every
    draft still counts as context (an observation order already drafted, a drafted antihistamine).
    order-sign: every IV-iron order gets findings.
    """
    with budget_scope(getattr(ctx, "engine_seconds", None)) as budget:
        findings: list[Finding] = []
        names: list[str] = []
        try:
            _evaluate(draft_orders, selections, record, knowledge, ctx, prefetch_keys, budget, findings, names)
        except DeadlineExceeded:
            pass   # budget.stopped is set: answered below
        if budget.stopped:
            log.warning("engine deadline reached", extra={"event": "engine-deadline", "findings": len(findings)})
            return unavailable_history.incomplete(findings, names, knowledge)
        return findings


def _evaluate(draft_orders, selections, record, knowledge, ctx, prefetch_keys, budget: Budget,
              findings: list[Finding], names: list[str]) -> None:
    """``evaluate`` without the deadline: appends to ``findings`` (and the drug ``names``) as it goes."""
    from cds_service.engine.order import read_orders  # the readers land in their own modules
    from cds_service.engine.patient import read_patient

    orders, other_drafts = read_orders(draft_orders, record, knowledge)
    orders = _selected(orders, selections, ctx.hook)
    # An IV order whose Medication could not be read may or may not be iron: no clinical card
    # (an observation order for what may be vancomycin would be noise), but one visible
    # history-unavailable card saying it could not be checked.
    unresolved = [o for o in orders if o.matched_by == "unresolved"]
    orders = [o for o in orders if o.matched_by != "unresolved"]
    if not orders and not unresolved:
        return
    names.extend(order_name(o, tuple(orders), knowledge) for o in orders)

    unavailable = dict(getattr(record, "unavailable", {}) or {})
    try:
        patient = read_patient(record, knowledge, ctx)
    except DeadlineExceeded:
        raise
    except Exception as exc:  # the history is unreadable: check the orders alone, and say so
        _log_failure("read_patient", exc)
        keys = tuple(prefetch_keys) if prefetch_keys else ("history",)
        patient = PatientPicture(unavailable=keys)
        for key in keys:
            unavailable.setdefault(key, "could not be read")
    if any(o.dose_per_kg is not None for o in orders):
        # a dose ordered per kg needs the weight on record: read the orders again with it
        orders = [o for o in _selected(read_orders(draft_orders, record, knowledge, patient)[0], selections, ctx.hook)
                  if o.matched_by != "unresolved"]
        names[:] = [order_name(o, tuple(orders), knowledge) for o in orders]

    missing = unavailable_history.check(unavailable, names, knowledge, unresolved, texts_cut=budget.texts_cut)
    if missing:
        findings.append(missing)
    for order, name in zip(orders, names, strict=True):
        facts = OrderFacts(order=order, patient=patient, knowledge=knowledge, ctx=ctx,
                           other_drafts=tuple(other_drafts), iron_orders=tuple(orders))
        rules = COMPANION_RULES if is_test_dose_of(order, orders) else RULES
        if order.labelled_non_iv:   # INFeD IM: none of the checks of an IV administration (rate, observation...)
            rules = tuple(rule for rule in rules if not rule.TOPIC.iv_only)
        findings.extend(annotate(consolidate(run_rules(facts, rules), knowledge), order, name, knowledge))


def has_orders_to_check(draft_orders, selections, record, knowledge, hook: str) -> bool:
    """False when ``evaluate`` has no order to check (not even one whose Medication could not be read), so
    that it would answer no finding: a hook call without IV iron can then skip the engine and the cards.

    The same reading ``evaluate`` starts with; the triage has just made it, so it is remembered on ``record``.
    The reader is bound at import, not imported here as ``evaluate`` does (so that tests can swap the readers):
    that import statement alone cost as much as the remembered reading.
    """
    return bool(_selected(_order_reader.read_orders(draft_orders, record, knowledge)[0], selections, hook))


def _selected(orders: list[IronOrder], selections, hook: str) -> list[IronOrder]:
    """order-select: only the selected drafts (``Type/id``: MedicationRequest or DSTU2 MedicationOrder)."""
    orders = [o for o in orders if o.route != "non-iv"]
    if hook == "order-select" and selections is not None:
        selected = set(selections)
        orders = [o for o in orders if f"{o.resource.get('resourceType')}/{o.request_id}" in selected]
    return orders


def is_test_dose_of(order: IronOrder, orders: list[IronOrder]) -> bool:
    """True for the test-dose order one of our cards created, while the order it belongs to is drafted too.

    It is part of that order's administration (the same product, observation and cards);
    only its own speed is checked, so a later call does not add cards for it.
    """
    for ident in order.resource.get("identifier") or () if isinstance(order.resource, dict) else ():
        value = ident.get("value") if isinstance(ident, dict) and ident.get("system") == SUGGESTION_SYSTEM else None
        parts = value.split("/") if isinstance(value, str) else []
        if len(parts) == 3 and parts[0] == "formulation" and parts[2] == "test-dose":
            return any(o.request_id == parts[1] and o is not order for o in orders)
    return False


def run_rules(facts: OrderFacts, rules=RULES) -> list[Finding]:
    """Every rule for one order; at most one finding per topic, failures made visible."""
    findings: dict[str, Finding] = {}
    for rule in rules:
        if over_deadline():
            break   # the rest is left undone; evaluate says so on a card
        try:
            finding = rule.check(facts)
        except Exception as exc:
            _log_failure(f"{rule.TOPIC}", exc)
            finding = failed_check(rule.TOPIC, facts)
        if finding is not None and finding.topic not in findings:
            findings[finding.topic] = finding
    return list(findings.values())


def failed_check(topic: str, facts: OrderFacts) -> Finding:
    """The card for a rule that could not run: the check must be done by hand."""
    knowledge = facts.knowledge
    try:
        display = knowledge.wording["topics"][topic]["display"]
    except (KeyError, TypeError):
        display = topic
    drug = order_name(facts.order, facts.iron_orders, knowledge)
    try:
        summary = _text.common(knowledge, "rule_failed_summary", drug=drug, topic=display)
        detail = _text.common(knowledge, "rule_failed_detail", drug=drug, topic=display)
    except Exception:  # the wording itself is broken: fall back to a fixed sentence
        summary = f"{drug}: the {display} check could not run. Check it by hand"
        detail = f"The automatic {display} check could not be completed. Check it by hand before signing."
    return Finding(topic=topic, indicator="warning", order=facts.order,
                   summary=_text.summary(summary), detail=detail)


def _log_failure(step: str, exc: BaseException) -> None:
    # Only the exception type and where it happened: messages can carry patient values.
    frames = [f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno}:{f.name}" for f in traceback.extract_tb(exc.__traceback__)]
    log.error("engine check failed", extra={"event": "engine-check-failed", "check": step,
                                            "error": type(exc).__name__, "where": frames[-5:]})


__all__ = ["evaluate", "has_orders_to_check", "run_rules", "failed_check", "IronOrder", "PatientPicture", "Finding"]
