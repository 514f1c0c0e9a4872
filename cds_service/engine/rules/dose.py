"""dose-limit: one administration within the label's ceilings (absolute, per kg, daily, weekly).

The allowed dose is the smallest applicable ceiling, rounded *down* to whole mL
of the product (what a nurse draws up), never up. Daily and weekly totals count
every earlier IV-iron administration, whatever the product, and stopped ones
too (their dose may have been partly given): the stricter reading. Without a
recent weight only weight-free ceilings apply and the card says the per-kg
check did not run.
"""

from __future__ import annotations

import math

from cds_service.engine import text
from cds_service.engine.facts import OrderFacts, fmt_mg, protocol_value, within_days
from cds_service.engine.model import Evidence, Finding, SuggestionSpec
from cds_service.engine.suggest import with_dose
from cds_service.engine.topics import Topic

TOPIC = Topic("dose-limit", rank=30, display="Dose limit",
              label_fields=("max_single_dose", "dose_bands", "max_weekly_mg", "max_daily_mg"),
              protocol_keys=("weekly_window_days",))


def _round_down(mg: float, step: float | None) -> float:
    if step and mg >= step:
        return math.floor(mg / step + 1e-9) * step
    return math.floor(mg + 1e-9)


def _weight(facts: OrderFacts) -> tuple[float | None, str | None]:
    weight, date = facts.patient.weight_kg, facts.patient.weight_date
    if weight is None:
        return None, None
    try:
        recency = protocol_value(facts.knowledge, "data_recency_days", "weight")
    except LookupError:
        recency = None
    if recency is not None and date and not within_days(date, facts.ctx, float(recency)):
        return None, None  # too old to dose by
    return float(weight), date


def check(facts: OrderFacts) -> Finding | None:
    knowledge, order = facts.knowledge, facts.order
    if not facts.identified:
        return text.not_checked(facts, TOPIC, "product_unknown")
    if order.dose_mg is None:
        return text.not_checked(facts, TOPIC, "dose_unknown", problems=order.problems)
    label, product = facts.label, facts.product
    dose = float(order.dose_mg)
    weight, weight_date = _weight(facts)
    cite = text.Citations(knowledge)
    ceilings: list[tuple[float, str]] = []
    notes: list[str] = []
    evidence: list[Evidence] = []
    split_days: list[int] = []
    per_kg_skipped = False

    if label.max_single_dose is not None:
        limit = float(label.max_single_dose.value)
        ceilings.append((limit, text.phrase(knowledge, TOPIC, "limits", "absolute", limit=fmt_mg(limit))))
        cite.add("Maximum single dose", label.max_single_dose)
    for band in label.dose_bands:
        bounded = band.min_weight_kg is not None or band.max_weight_kg is not None
        if bounded:
            if weight is None:
                per_kg_skipped = True
                continue
            if (band.min_weight_kg is not None and weight < band.min_weight_kg) or \
                    (band.max_weight_kg is not None and weight >= band.max_weight_kg):
                continue
        applied = False
        if band.max_mg is not None:
            ceilings.append((float(band.max_mg), text.phrase(knowledge, TOPIC, "limits", "band",
                                                             limit=fmt_mg(band.max_mg))))
            applied = True
        if band.max_mg_per_kg is not None:
            if weight is None:
                per_kg_skipped = True
            else:
                limit = band.max_mg_per_kg * weight
                ceilings.append((limit, text.phrase(knowledge, TOPIC, "limits", "per_kg", per_kg=band.max_mg_per_kg,
                                                    weight=weight, weight_date=weight_date or "date unknown",
                                                    limit=fmt_mg(limit))))
                applied = True
        if applied:
            cite.add("Dose band", value=_band_value(band), source=band.source, status=band.status, note=band.note)
            if band.split_interval_days:
                split_days.append(int(band.split_interval_days))
    if weight is not None:
        evidence.append(Evidence(text=f"Body weight {weight:g} kg", date=weight_date))

    history_unknown = "ironAdministrations" in facts.history_missing
    period_limited = None
    for key, fact, days in (("daily", label.max_daily_mg, 1),
                            ("weekly", label.max_weekly_mg, None)):
        if fact is None:
            continue
        if days is None:
            days = float(protocol_value(knowledge, "weekly_window_days"))
        recent = [a for a in facts.patient.administrations if a.dose_mg and within_days(a.date, facts.ctx, days)]
        given = sum(a.dose_mg for a in recent)
        left = max(float(fact.value) - given, 0.0)
        ceilings.append((left, text.phrase(knowledge, TOPIC, "limits", key, limit=fmt_mg(float(fact.value)),
                                           days=f"{days:g}",
                                           given=fmt_mg(given), allowed=fmt_mg(left))))
        cite.add(f"Maximum {key} dose", fact)
        evidence.extend(Evidence(text=f"IV iron {fmt_mg(a.dose_mg)}" + (" (stopped)" if a.stopped else ""),
                                 date=a.date, reference=a.reference) for a in recent)
        if left < dose:
            period_limited = days
    if history_unknown and (label.max_daily_mg or label.max_weekly_mg):
        notes.append(text.phrase(knowledge, TOPIC, "history_unknown"))
    if per_kg_skipped:
        notes.append(text.phrase(knowledge, TOPIC, "weight_unknown"))

    allowed = min((value for value, _ in ceilings), default=None)
    if allowed is None or dose <= allowed + 1e-9:
        if not per_kg_skipped:
            return None
        # Within the limits we could check, but the per-kg limit could not be: say so, quietly.
        return Finding(topic=TOPIC, indicator="info", order=order,
                       summary=text.summary(text.common(knowledge, "not_checked_summary", drug=facts.drug,
                                                        topic=text.topic_wording(knowledge, TOPIC)["display"],
                                                        reason=text.phrase(knowledge, TOPIC, "weight_unknown_short"))),
                       detail=text.compose(text.bullet_list(notes), cite.block()), sources=tuple(cite.ids))

    step = float(product.concentration_mg_per_ml.value) if product.concentration_mg_per_ml else None
    rounded = _round_down(allowed, step) if allowed > 0 else 0.0
    why = text.phrase(knowledge, TOPIC, "why_heading") + "\n" + text.bullet_list(r for _, r in ceilings)
    if rounded <= 0:
        return Finding(
            topic=TOPIC, indicator="warning", order=order,
            summary=text.summary(text.phrase(knowledge, TOPIC, "summary_none_left", drug=facts.drug,
                                             ordered=fmt_mg(dose))),
            detail=text.compose(text.phrase(knowledge, TOPIC, "detail_none_left", drug=facts.drug,
                                            ordered=fmt_mg(dose)),
                                why, text.bullet_list(notes), text.evidence_block(knowledge, evidence), cite.block()),
            evidence=tuple(evidence), sources=tuple(cite.ids))

    remaining = dose - rounded
    interval = max(split_days) if split_days else (int(period_limited) if period_limited else None)
    if interval:
        split = text.phrase(knowledge, TOPIC, "split_with_interval", allowed=fmt_mg(rounded),
                            remaining=fmt_mg(remaining), days=interval)
    else:
        split = text.phrase(knowledge, TOPIC, "split_no_interval", allowed=fmt_mg(rounded), remaining=fmt_mg(remaining))
    if label.max_daily_mg or label.max_weekly_mg:
        notes.append(text.phrase(knowledge, TOPIC, "weekly_counts_all"))
    label_text = text.phrase(knowledge, TOPIC, "suggestion_label", allowed=fmt_mg(rounded))
    detail = text.compose(
        text.phrase(knowledge, TOPIC, "detail", drug=facts.drug, ordered=fmt_mg(dose), allowed=fmt_mg(rounded)),
        why,
        text.phrase(knowledge, TOPIC, "split_heading") + "\n" + split,
        text.bullet_list(notes),
        text.evidence_block(knowledge, evidence),
        cite.block(),
    )
    return Finding(
        topic=TOPIC, indicator="warning", order=order,
        summary=text.summary(text.phrase(knowledge, TOPIC, "summary", drug=facts.drug, ordered=fmt_mg(dose),
                                         allowed=fmt_mg(rounded))),
        detail=detail, evidence=tuple(evidence), sources=tuple(cite.ids),
        suggestions=(SuggestionSpec(label=label_text, action="update", description=split,
                                    resource=with_dose(order, rounded), is_recommended=True),),
    )


def _band_value(band) -> str:
    parts = []
    if band.max_mg is not None:
        parts.append(fmt_mg(band.max_mg))
    if band.max_mg_per_kg is not None:
        parts.append(f"{band.max_mg_per_kg:g} mg/kg")
    where = []
    if band.min_weight_kg is not None:
        where.append(f">= {band.min_weight_kg:g} kg")
    if band.max_weight_kg is not None:
        where.append(f"< {band.max_weight_kg:g} kg")
    return " and ".join(parts) + (f" ({', '.join(where)})" if where else "")
