"""patient-suitability: who may receive which product (age, paediatric dose, pregnancy).

From ``cards/suitability.yaml``:
- a child (under ``adult_age_years``) younger than the label's ``min_age_months``, or any child
  when the label establishes no paediatric use -> warning, no suggestion;
- a child above the label's paediatric dose (per kg and absolute) -> warning with an update to
  the order's one allowed dose, worked out by the dose-limit rule from every ceiling (the paediatric
  dose among them) and rounded down to a volume a child's dose is measured in (0.1 mL; 0.01 mL under
  1 mL), with the time that dose needs; the dose-limit card names the same dose and offers no second
  change. Without a usable weight (none recent, or one that could not be right) the per-kg dose could
  not be checked, and the card says so (a warning only when the absolute cap is exceeded);
- a current first-trimester pregnancy -> warning (EMA 2013 / MHRA: not in the first trimester,
  oral iron instead); a later trimester, or a pregnancy of unknown age -> info with what the label
  says. Unknown pregnancy status gives nothing. A pregnancy record in words that could not be read with
  confidence (``PatientPicture.pregnancy_unread``) -> info that says so and asks for the status to be
  checked: it never raises the first-trimester warning itself.
One card for the topic: the gravest concern sets the indicator and the summary; every concern is
listed in the detail.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cds_service.engine import paediatric, text
from cds_service.engine.facts import OrderFacts, fmt_mg
from cds_service.engine.model import Evidence, Finding, SuggestionSpec
from cds_service.engine.rules import dose as dose_rule
from cds_service.engine.topics import Topic

TOPIC = Topic("patient-suitability", rank=15, display="Patient suitability (age, pregnancy)")
_RANK = {"info": 0, "warning": 1}


@dataclass(frozen=True)
class Concern:
    indicator: str
    summary: str
    detail: str
    evidence: tuple[Evidence, ...] = ()
    suggestion: SuggestionSpec | None = None


def _age_words(months: int) -> str:
    return f"{months // 12} years" if months >= 24 else f"{months} months"


def _paediatric_dose(facts: OrderFacts, spec: dict, age: str, cite: text.Citations) -> Concern | None:
    """Above the label's paediatric dose: a warning carrying the order's one allowed dose (``dose.decide``, the
    same dose the dose-limit card names), with the time that dose needs. Without a usable weight only the cap."""
    knowledge, dose = facts.knowledge, facts.order.dose_mg
    limits = paediatric.paediatric_dose(facts)
    if not limits or dose is None:
        return None
    per_kg, cap = limits.get("max_mg_per_kg"), limits.get("max_mg")
    limit_text = text.phrase(knowledge, TOPIC, "paediatric_limit", per_kg=f"{per_kg:g}" if per_kg else "-",
                             max_mg=fmt_mg(cap))
    weight, implausible = facts.patient.weight_kg, facts.patient.weight_implausible
    if per_kg and weight is None:
        over = cap is not None and dose > float(cap) + 1e-9
        key = "child_weight_implausible" if implausible else "child_no_weight"
        return Concern("warning" if over else "info",
                       text.phrase(knowledge, TOPIC, f"summary_{key}", drug=facts.drug, age=age, weight=implausible),
                       text.phrase(knowledge, TOPIC, f"detail_{key}", drug=facts.drug, age=age, weight=implausible,
                                   ordered=fmt_mg(dose), limit=limit_text, label=spec_label(facts)))
    decision = dose_rule.decide(facts, text.Citations(knowledge))
    if not decision.paediatric_over:
        return None
    allowed = decision.rounded
    words = {"drug": facts.drug, "age": age, "ordered": fmt_mg(dose), "allowed": fmt_mg(allowed)}
    weighed = (Evidence(f"Body weight {weight:g} kg", facts.patient.weight_date, facts.patient.weight_reference),) \
        if weight is not None else ()
    who = text.phrase(knowledge, TOPIC, "who_weighed", age=age, weight=f"{weight:g}") if weight is not None \
        else text.phrase(knowledge, TOPIC, "who", age=age)
    if allowed <= 0:   # the period's limits leave nothing now: the dose-limit card says so, no dose to offer
        return Concern("warning", text.phrase(knowledge, TOPIC, "summary_child_dose", **words),
                       text.phrase(knowledge, TOPIC, "detail_child_dose_none", limit=limit_text, who=who,
                                   label=spec_label(facts), **words), weighed)
    resource, minutes = dose_rule.reduced_order(facts, allowed)
    paediatric_mg = min(c.mg for c in decision.ceilings if c.kind in dose_rule.PAEDIATRIC)
    lower = (decision.allowed or 0.0) < paediatric_mg - 1e-9   # another limit (daily, weekly, course) is lower
    label_text = text.phrase(knowledge, TOPIC, "suggestion_label", allowed=fmt_mg(allowed))
    return Concern("warning",
                   text.phrase(knowledge, TOPIC, "summary_child_dose", **words),
                   text.phrase(knowledge, TOPIC, "detail_child_dose", limit=limit_text, who=who,
                               label=spec_label(facts), measure=dose_rule.measure_words(facts, cite),
                               time=dose_rule.time_words(facts, allowed, minutes),
                               lower=text.phrase(knowledge, TOPIC, "lower_for_limits") + " " if lower else "",
                               **words),
                   weighed,
                   SuggestionSpec(label=label_text, action="update", description=label_text,
                                  resource=resource, is_recommended=True))


def spec_label(facts: OrderFacts) -> str:
    return facts.label.label if facts.identified else "label"


def age_concern(facts: OrderFacts, cite: text.Citations) -> Concern | None:
    knowledge, months = facts.knowledge, facts.patient.age_months
    adult = (knowledge.suitability or {}).get("adult_age_years") or {}
    spec = paediatric.label_spec(facts)
    if months is None or spec is None or not adult or months >= float(adult["value"]) * 12:
        return None
    age = _age_words(months)
    minimum = spec.get("min_age_months")
    concern = None
    if minimum is None or months < minimum:
        key = "not_established" if minimum is None else "below_min_age"
        concern = Concern("warning",
                          text.phrase(knowledge, TOPIC, f"summary_{key}", drug=facts.drug, age=age),
                          text.phrase(knowledge, TOPIC, f"detail_{key}", drug=facts.drug, age=age,
                                      minimum=_age_words(minimum) if minimum is not None else "",
                                      label=spec_label(facts)))
    else:
        concern = _paediatric_dose(facts, spec, age, cite)
    if concern is not None:
        cite.add(f"Pediatric use (label section {spec.get('section')})", value=dose_rule.paediatric_value(spec),
                 source=spec.get("source"), status=spec.get("status"), note=spec.get("note"))
        cite.add("Adult age (protocol)", value=f"{adult['value']:g} years", source=adult.get("source"),
                 status=adult.get("status"), note=adult.get("note"))
    return concern


def pregnancy_concern(facts: OrderFacts, cite: text.Citations) -> Concern | None:
    knowledge, pregnancy = facts.knowledge, facts.patient.pregnancy
    spec = (knowledge.suitability or {}).get("pregnancy") or {}
    if pregnancy is None or not spec:
        return None
    end = float(spec["first_trimester_end_weeks"]["value"])
    first = spec["first_trimester"]
    later = (spec.get("later_trimesters") or {}).get(facts.ctx.jurisdiction) or first
    evidence = tuple(pregnancy.evidence)
    if pregnancy.weeks is not None and pregnancy.weeks < end:
        weeks = f"{math.floor(pregnancy.weeks):d}"
        cite.add("IV iron in pregnancy", value=first["value"].rstrip("."), source=first["source"],
                 status=first["status"],
                 note=first.get("note"))
        return Concern("warning",
                       text.phrase(knowledge, TOPIC, "summary_first_trimester", drug=facts.drug, weeks=weeks),
                       text.phrase(knowledge, TOPIC, "detail_first_trimester", drug=facts.drug, weeks=weeks,
                                   guidance=first["value"]), evidence)
    cite.add("IV iron in pregnancy (label)", value=later["value"].rstrip("."), source=later["source"],
             status=later["status"],
             note=later.get("note"))
    if pregnancy.weeks is None:
        return Concern("info", text.phrase(knowledge, TOPIC, "summary_pregnancy_undated", drug=facts.drug),
                       text.phrase(knowledge, TOPIC, "detail_pregnancy_undated", drug=facts.drug,
                                   guidance=first["value"], label_text=later["value"]), evidence)
    weeks = f"{math.floor(pregnancy.weeks):d}"
    return Concern("info", text.phrase(knowledge, TOPIC, "summary_later_trimester", drug=facts.drug, weeks=weeks),
                   text.phrase(knowledge, TOPIC, "detail_later_trimester", drug=facts.drug, weeks=weeks,
                               label_text=later["value"]), evidence)


def unread_pregnancy_concern(facts: OrderFacts, cite: text.Citations) -> Concern | None:
    """Pregnancy words that could not be read: say so, never guess (info: nothing was read to warn on)."""
    knowledge, unread = facts.knowledge, facts.patient.pregnancy_unread
    first = ((knowledge.suitability or {}).get("pregnancy") or {}).get("first_trimester")
    if not unread or not first:
        return None
    cite.add("IV iron in pregnancy", value=first["value"].rstrip("."), source=first["source"], status=first["status"],
             note=first.get("note"))
    return Concern("info", text.phrase(knowledge, TOPIC, "summary_pregnancy_unread", drug=facts.drug),
                   text.phrase(knowledge, TOPIC, "detail_pregnancy_unread", drug=facts.drug,
                               guidance=first["value"]), tuple(unread))


def check(facts: OrderFacts) -> Finding | None:
    cite = text.Citations(facts.knowledge)
    concerns = [c for c in (age_concern(facts, cite), pregnancy_concern(facts, cite),
                            unread_pregnancy_concern(facts, cite)) if c is not None]
    if not concerns:
        return None
    worst = max(concerns, key=lambda c: _RANK[c.indicator])
    evidence = tuple(e for c in concerns for e in c.evidence)
    detail = text.compose(*(c.detail for c in concerns), text.evidence_block(facts.knowledge, evidence), cite.block())
    suggestions = tuple(c.suggestion for c in concerns if c.suggestion is not None)
    return Finding(topic=TOPIC, indicator=worst.indicator, order=facts.order, summary=text.summary(worst.summary),
                   detail=detail, evidence=evidence, sources=tuple(cite.ids), suggestions=suggestions)
