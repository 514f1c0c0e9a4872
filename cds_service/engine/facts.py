"""What every rule receives, and small helpers the rules share.

A rule is a pure function ``check(facts: OrderFacts) -> Finding | None``: it
looks at one IV-iron order with the patient picture and the knowledge, and
returns at most one finding for its topic. Thresholds come from the knowledge
data (labels, protocol), never from literals here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any, Callable, TypeVar

from cds_service.engine.fhir_values import (
    codings,
    parse_when,  # noqa: F401  (the rules import it from here)
)
from cds_service.engine.markdown import markdown_text
from cds_service.engine.method import order_method
from cds_service.engine.model import Administration, EvaluationContext, IronOrder, PatientPicture
from cds_service.knowledge.model import Knowledge, LabelLimits, Product

T = TypeVar("T")
_CLOCK_SKEW = timedelta(minutes=5)   # a record written "now" on a clock a little ahead still counts as recent


class MissingKnowledge(LookupError):
    """A value the rule needs is not in the knowledge data (the rule cannot run)."""


@dataclass(frozen=True)
class OrderFacts:
    """One IV-iron order in its setting: the patient, the other drafts, the call."""

    order: IronOrder
    patient: PatientPicture
    knowledge: Knowledge
    ctx: EvaluationContext
    other_drafts: tuple[dict, ...] = ()          # draft resources that are not IV-iron orders
    iron_orders: tuple[IronOrder, ...] = ()      # every IV-iron order of the call (this one included)
    # Conclusions several rules share, worked out once per order (see ``once``); not part of the facts.
    _derived: dict = field(default_factory=dict, init=False, compare=False, repr=False)  # fresh on replace()

    def once(self, key: str, derive: Callable[[OrderFacts], T]) -> T:
        """``derive(self)``, computed on the first call for ``key`` and reused by the other rules."""
        if key not in self._derived:
            self._derived[key] = derive(self)
        return self._derived[key]

    @property
    def identified(self) -> bool:
        """False when the order is IV iron only as a class (no product, so no label)."""
        return self.order.product_key is not None and self.order.product_key in self.knowledge.products

    # The product, label, name and method below are read by most rules, several times each: worked out on
    # first use and kept with this order (a cached_property lives in the instance, so a replace() starts fresh;
    # a lookup that raises MissingKnowledge is not kept and raises again for the next rule).
    @cached_property
    def product(self) -> Product:
        if self.order.product_key is None:
            raise MissingKnowledge("the IV-iron product of this order could not be identified")
        try:
            return self.knowledge.products[self.order.product_key]
        except KeyError:
            raise MissingKnowledge(f"product {self.order.product_key!r} is not in the knowledge data") from None

    @cached_property
    def label(self) -> LabelLimits:
        labels = self.product.labels
        if self.ctx.jurisdiction not in labels:
            raise MissingKnowledge(f"no {self.ctx.jurisdiction} label data for {self.product.display}")
        return labels[self.ctx.jurisdiction]

    @cached_property
    def drug(self) -> str:
        """How cards name this order: the product, plus which order when there are several."""
        return order_name(self.order, self.iron_orders, self.knowledge)

    @cached_property
    def method(self) -> str | None:
        """"push", "infusion" or None: how the order says the dose is given (``method.order_method``)."""
        return order_method(self.order, self.knowledge)

    @cached_property
    def history_missing(self) -> frozenset[str]:
        return frozenset(self.patient.unavailable)


def order_name(order: IronOrder, iron_orders: tuple[IronOrder, ...], knowledge: Knowledge) -> str:
    product = knowledge.products.get(order.product_key) if order.product_key else None
    medication_text = getattr(order, "medication_text", None)   # the order's own words: escaped for the detail
    name = product.display if product else (markdown_text(medication_text, 120) if medication_text else "IV iron")
    if len(iron_orders) <= 1:
        return name
    position = next((i for i, o in enumerate(iron_orders, 1) if o is order), None)
    if position is None:
        position = next((i for i, o in enumerate(iron_orders, 1) if o.request_id == order.request_id), 0)
    template = knowledge.wording.get("common", {}).get("order_name_several", "{drug} (order {position} of {count})")
    return template.format(drug=name, dose=fmt_mg(order.dose_mg) if order.dose_mg is not None else "dose unknown",
                           position=position, count=len(iron_orders), order_id=markdown_text(order.request_id))


def now_utc(ctx: EvaluationContext) -> datetime:
    return ctx.now if ctx.now.tzinfo else ctx.now.replace(tzinfo=timezone.utc)


def within_days(when: str | None, ctx: EvaluationContext, days: float) -> bool:
    """True when ``when`` lies in the ``days`` before now (inclusive of the boundary day count)."""
    moment = parse_when(when)
    if moment is None:
        return False
    now = now_utc(ctx)
    return now - timedelta(days=days) <= moment <= now + _CLOCK_SKEW


def fmt_mg(value: float | None) -> str:
    """A dose as the order carries it (``suggest._number``: up to 3 decimals), no trailing zeros: "1,000 mg",
    "7.4 mg", "31.25 mg". One decimal hid a child's 31.25 mg (2.5 mL of 12.5 mg/mL) as "31.2 mg"."""
    if value is None:
        return "unknown"
    number = f"{float(value):,.3f}".rstrip("0").rstrip(".")
    return f"{'0' if number == '-0' else number} mg"


def fmt_minutes(value: float | None) -> str:
    if value is None:
        return "unknown"
    if value == int(value):
        return f"{int(value)} min"
    return f"{value:.1f} min"


def minutes_phrase(value: float) -> str:
    """ "1 minute", "90 minutes", "7.5 minutes" for running text (never "1 minutes")."""
    number = f"{value:g}"
    return f"{number} minute" if number == "1" else f"{number} minutes"


def ceil_minutes(value: float) -> int:
    """Times are rounded up to whole minutes (slower is the safe side)."""
    return int(math.ceil(value - 1e-9))


def iron_administrations(patient: PatientPicture, knowledge: Knowledge, *, dextran_only: bool = False,
                         product_key: str | None = None) -> tuple[Administration, ...]:
    result = []
    for admin in patient.administrations:
        if product_key is not None and admin.product_key != product_key:
            continue
        if dextran_only:
            product = knowledge.products.get(admin.product_key) if admin.product_key else None
            if not (product and product.is_dextran):
                continue
        result.append(admin)
    return tuple(result)


def draft_resources_of_type(facts: OrderFacts, resource_type: str) -> tuple[dict, ...]:
    return tuple(r for r in facts.other_drafts if isinstance(r, dict) and r.get("resourceType") == resource_type)


def concept_text(concept: Any) -> str:
    """All human-readable text of a CodeableConcept, lower case (for name matching)."""
    if not isinstance(concept, dict):
        return ""
    parts = [concept.get("text") or ""] + [c.get("display") or "" for c in codings(concept)]
    return " ".join(p for p in parts if isinstance(p, str)).lower()
