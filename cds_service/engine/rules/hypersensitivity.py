"""hypersensitivity-history: an earlier hypersensitivity reaction to IV iron.

Severe (anaphylaxis-type) -> critical, with a suggestion to cancel the draft and
the safer paths in the detail. A label contraindication triggered by any
earlier allergic reaction to IV iron (ferumoxytol: ``prior-iv-iron-allergy``)
-> critical too. Milder grades -> warning (slower rate, premedication, longer
observation).

Decision on critical findings (``stops``): the stop card is the only way
forward offered. The premedication rule suggests no premedication (premedication
does not prevent anaphylaxis, and a one-click premedication would read as a way
to proceed; it still flags a drafted H1 antihistamine for removal); the observation
rule stays quiet and the rate rule offers no slowing (a slower rate or an observation
order would also read as "proceed with care"). A specialist-supervised re-challenge is
planned afresh, not signed from this order. The label's own limits stay: the dose card,
and a rate card without an update when the order is faster than the label allows.
"""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.engine import text
from cds_service.engine.facts import OrderFacts
from cds_service.engine.model import Evidence, Finding, Reaction, SuggestionSpec
from cds_service.engine.topics import Topic

TOPIC = Topic("hypersensitivity-history", rank=10, display="Hypersensitivity history",
              label_fields=("contraindications",))
ANY_IV_IRON_ALLERGY = "prior-iv-iron-allergy"
SAME_PRODUCT = "product-hypersensitivity"
_GRADES = ("mild", "moderate", "severe")


@dataclass(frozen=True)
class Assessment:
    level: str                       # "severe", "contraindicated" or "warning"
    reactions: tuple[Reaction, ...]
    contraindication: dict | None = None

    @property
    def critical(self) -> bool:
        return self.level in ("severe", "contraindicated")


def _hypersensitivity(facts: OrderFacts) -> tuple[Reaction, ...]:
    # A "severe" grade counts whatever the reader called the reaction (the stricter reading).
    return tuple(r for r in facts.patient.reactions if r.kind == "hypersensitivity" or r.severity == "severe")


def assess(facts: OrderFacts) -> Assessment | None:
    """The hypersensitivity history as it bears on this order: worked out once per order, since the rate,
    premedication and observation rules ask too (whether this order gets the critical stop card)."""
    return facts.once("hypersensitivity", _assess)


def _assess(facts: OrderFacts) -> Assessment | None:
    reactions = _hypersensitivity(facts)
    if not reactions:
        return None
    severe = tuple(r for r in reactions if r.severity == "severe")
    if severe:
        return Assessment("severe", severe)
    if facts.identified:
        for item in facts.label.contraindications:
            if item.get("code") == ANY_IV_IRON_ALLERGY:
                return Assessment("contraindicated", reactions, dict(item))
    return Assessment("warning", reactions)


def stops(facts: OrderFacts) -> bool:
    """Whether this order gets the critical stop card: then no slower-rate, premedication or
    observation suggestion may come with it (each would read as a way to proceed)."""
    found = assess(facts)
    return found is not None and found.critical


def check(facts: OrderFacts) -> Finding | None:
    found = assess(facts)
    if found is None:
        return None
    knowledge, order = facts.knowledge, facts.order
    cite = text.Citations(knowledge)
    evidence: list[Evidence] = [e for r in found.reactions for e in r.evidence]
    label = facts.label if facts.identified else None
    suggestions: tuple[SuggestionSpec, ...] = ()
    notes: list[str] = []

    if found.critical:
        indicator = "critical"
        if found.level == "severe":
            summary = text.phrase(knowledge, TOPIC, "summary_severe", drug=facts.drug)
            intro = text.phrase(knowledge, TOPIC, "detail_severe", drug=facts.drug)
            text.cite_from_wording(cite, TOPIC, "severe")
        else:
            item = found.contraindication
            summary = text.phrase(knowledge, TOPIC, "summary_contraindicated", drug=facts.drug)
            intro = text.phrase(knowledge, TOPIC, "detail_contraindicated", drug=facts.drug,
                                contraindication=item.get("text", ""), label=label.label)
            cite.add("Contraindication", value=item.get("text", ""), source=item.get("source"),
                     status=item.get("status"), note=item.get("note"), section=item.get("section"))
        label_text = text.phrase(knowledge, TOPIC, "suggestion_label_cancel", drug=facts.drug)
        suggestions = (SuggestionSpec(label=label_text, action="delete", description=label_text,
                                      resource_id=f"MedicationRequest/{order.request_id}", is_recommended=True),)
    else:
        indicator = "warning"
        worst = max((r.severity for r in found.reactions if r.severity in _GRADES), key=_GRADES.index,
                    default="earlier")
        # INFeD IM: no infusion to slow down, no infusion premedication or observation card to point to
        variant = "_by_route" if order.labelled_non_iv else ""
        route = text.common(knowledge, "order_reading", "route_names", order.route) if variant else ""
        summary = text.phrase(knowledge, TOPIC, f"summary_warning{variant}", drug=facts.drug, severity=worst,
                              route=route)
        intro = text.phrase(knowledge, TOPIC, f"detail_warning{variant}", drug=facts.drug, severity=worst,
                            route=route)
        if label is not None and any(r.product_key == order.product_key for r in found.reactions):
            for item in label.contraindications:
                if item.get("code") == SAME_PRODUCT:
                    notes.append(text.phrase(knowledge, TOPIC, "label_contraindication_same_product",
                                             label=label.label, contraindication=item.get("text", "")))
                    cite.add("Contraindication", value=item.get("text", ""), source=item.get("source"),
                             status=item.get("status"), note=item.get("note"), section=item.get("section"))
        text.cite_from_wording(cite, TOPIC, "warning")
    text.cite_from_wording(cite, TOPIC, "always")
    detail = text.compose(intro, text.bullet_list(notes), text.evidence_block(knowledge, evidence), cite.block())
    return Finding(topic=TOPIC, indicator=indicator, order=order, summary=text.summary(summary), detail=detail,
                   evidence=tuple(evidence), sources=tuple(cite.ids), suggestions=suggestions)
