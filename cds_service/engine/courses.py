"""Dose intervals, course totals, the day's total and duplicate orders (decisions for the dose-limit card).

Pure functions over ``OrderFacts`` and ``cards/courses.yaml``:
- ``course_ceiling``: what the course total still allows (same product, last ``window_days``);
- ``interval_concern``: a dose too soon after the last one of the course (warning), or a second dose
  later than the label's window (info);
- ``counted_drafts`` / ``reserved_test_dose``: what else counts towards today's total: other draft
  IV-iron orders of this call (a test dose before the dose it tests; otherwise the drafts listed
  before this one, so only one of two same-day orders is flagged), and a required test dose not yet
  drafted (iron dextran, US: the 100 mg a day includes the 25 mg test dose);
- ``duplicate_concern``: two or more IV-iron orders in one set of drafts -> one warning, on the first
  of them, naming every one (a test-dose order beside its first dose is not a duplicate).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from cds_service.engine.facts import OrderFacts, fmt_mg, iron_administrations, now_utc, parse_when
from cds_service.engine.model import Administration, Evidence, IronOrder
from cds_service.engine.suggest import has_marker
from cds_service.engine.text import display_date

TEST_DOSE_TOPIC = "formulation"   # the topic whose card suggests the test-dose order (its marker)


@dataclass(frozen=True)
class Concern:
    indicator: str                   # "warning" blocks the dose now; "info" is a note
    key: str                         # wording key under dose-limit.course
    fields: dict
    evidence: tuple[Evidence, ...] = ()


def label_spec(facts: OrderFacts) -> dict | None:
    products = (facts.knowledge.courses or {}).get("products") or {}
    return (products.get(facts.order.product_key) or {}).get(facts.ctx.jurisdiction)


def _day(admin: Administration) -> date | None:
    moment = parse_when(admin.date)
    return moment.date() if moment else None


def course_doses(facts: OrderFacts) -> tuple[Administration, ...]:
    """Earlier doses of this product within the course window, newest first (not-done ones gave nothing).

    Worked out once per order: the course total and the interval since the last dose both ask."""
    return facts.once("course_doses", _course_doses)


def _course_doses(facts: OrderFacts) -> tuple[Administration, ...]:
    window = float(((facts.knowledge.courses or {}).get("window_days") or {}).get("value", 0))
    today = now_utc(facts.ctx).date()
    same_product = iron_administrations(facts.patient, facts.knowledge, product_key=facts.order.product_key)
    dated = [(when, a) for a in same_product
             if a.status != "not-done" and (when := _day(a)) is not None and 0 <= (today - when).days <= window]
    return tuple(a for _, a in sorted(dated, key=lambda pair: pair[0], reverse=True))


def _evidence(admin: Administration, what: str) -> Evidence:
    return Evidence(f"{what} {fmt_mg(admin.dose_mg)} on {display_date(admin.date) or 'an unknown date'}",
                    admin.date, admin.reference)


@dataclass(frozen=True)
class CourseCeiling:
    left: float                      # mg the course still allows
    total: float                     # the label's course total for this patient
    given: float                     # given in this course so far
    days: int                        # the course window
    evidence: tuple[Evidence, ...]


def course_ceiling(facts: OrderFacts, weight: float | None) -> CourseCeiling | None:
    """What the course total still allows, or None (no course total in the label, or a first dose)."""
    spec = label_spec(facts)
    if not spec or (spec.get("course_max_mg") is None and spec.get("course_max_mg_per_kg") is None):
        return None
    limits = [float(spec["course_max_mg"])] if spec.get("course_max_mg") else []
    if spec.get("course_max_mg_per_kg") and weight is not None and weight < 50:
        limits.append(float(spec["course_max_mg_per_kg"]) * weight)   # the label's under-50-kg course
    doses = course_doses(facts)
    given = sum(a.dose_mg or 0.0 for a in doses)
    if not given or not limits:
        return None   # a first dose of the course: the single-dose limits already bind
    total = min(limits)
    return CourseCeiling(max(total - given, 0.0), total, given, int(facts.knowledge.courses["window_days"]["value"]),
                         tuple(_evidence(a, "Earlier dose of this product:") for a in doses))


def interval_concern(facts: OrderFacts) -> Concern | None:
    spec = label_spec(facts)
    doses = course_doses(facts)
    if not spec or not doses:
        return None
    latest = doses[0]
    days = (now_utc(facts.ctx).date() - _day(latest)).days
    evidence = (_evidence(latest, "Last dose of this product:"),)
    low, high = spec.get("min_interval_days"), spec.get("max_interval_days")
    fields = {"days": days, "min": low, "max": high, "last_date": display_date(latest.date)}
    if low is not None and days < low:
        return Concern("warning", "too_soon", fields, evidence)
    if spec.get("doses") and len(doses) >= int(spec["doses"]):
        return Concern("warning", "course_complete", dict(fields, doses=len(doses)), evidence)
    if high is not None and days > high and len(doses) == 1:
        return Concern("info", "later_than_window", fields, evidence)
    return None


def is_test_dose(order: IronOrder, facts: OrderFacts) -> bool:
    """A draft that is the label's test dose (our own test-dose order, or a dose no larger than it)."""
    product = facts.knowledge.products.get(order.product_key) if order.product_key else None
    label = product.labels.get(facts.ctx.jurisdiction) if product else None
    rule = label.test_dose if label else None
    if not rule or not rule.get("required"):
        return False
    if has_marker(order.resource, TEST_DOSE_TOPIC):
        return True
    return order.dose_mg is not None and order.dose_mg <= float(rule["dose_mg"])


def counted_drafts(facts: OrderFacts) -> list[IronOrder]:
    """Other draft IV-iron orders that count towards this order's daily total."""
    order = facts.order
    if is_test_dose(order, facts):
        return []   # the test dose comes first: the dose it tests absorbs the reduction
    position = next((i for i, o in enumerate(facts.iron_orders) if o is order), len(facts.iron_orders))
    return [o for i, o in enumerate(facts.iron_orders)
            if o is not order and o.dose_mg and (is_test_dose(o, facts) or i < position)]


def reserved_test_dose(facts: OrderFacts) -> float:
    """mg of a required test dose that today's total must leave room for, when it is not drafted yet."""
    order, label = facts.order, facts.label
    rule = label.test_dose
    if not rule or not rule.get("required") or is_test_dose(order, facts):
        return 0.0
    if iron_administrations(facts.patient, facts.knowledge, dextran_only=True):
        return 0.0   # not a first dose: no test dose
    if any(o is not order and o.product_key == order.product_key and is_test_dose(o, facts) for o in facts.iron_orders):
        return 0.0   # already drafted: counted as a draft
    return float(rule["dose_mg"])


def duplicate_concern(facts: OrderFacts, name_of) -> Concern | None:
    orders = [o for o in facts.iron_orders if not is_test_dose(o, facts)]
    if len(orders) < 2 or orders[0] is not facts.order:
        return None
    names = [name_of(o) for o in orders]
    return Concern("warning", "duplicate", {"orders": "; ".join(names), "count": len(orders)})


def duplicate_rule(knowledge) -> dict:
    """The protocol statement the duplicate warning cites (courses.one_order_at_a_time)."""
    return (knowledge.courses or {}).get("one_order_at_a_time") or {
        "value": "one IV-iron order at a time", "source": "S-LOCAL-PROTOCOL", "status": "institutional"}
