"""infusion-rate: no faster than the label allows, and slower after a reaction or with risk factors.

The slower time is worked out from a *fixed* reference rate, never from the
ordered time itself: the earlier infusion's rate when a reaction followed an
administration we can see, else the label's fastest rate for this dose. So
after a reaction the time is at least (dose / (factor x reference rate)), never
under the label minimum. Halving "the ordered rate" instead would double the
time again at every hook call after the prescriber accepted our suggestion.

After a critical hypersensitivity finding (severe reaction, or a contraindication
such as ferumoxytol after any allergic reaction) the history-driven slowing is
dropped: a slower rate does not prevent anaphylaxis and a one-click "slower"
update would read as a way to proceed. The label minimum is still enforced.

Time unknown: when the order states no time or rate at all we suggest setting
the required time explicitly (that is the label's or protocol's minimum, not an
invented rate); when it states a rate we could not read we only say so, since
an update would overwrite what the prescriber wrote.
"""

from __future__ import annotations

from cds_service.engine import text
from cds_service.engine.facts import OrderFacts, ceil_minutes, fmt_mg, fmt_minutes, parse_when, protocol_fact
from cds_service.engine.method import order_method
from cds_service.engine.model import Evidence, Finding, SuggestionSpec
from cds_service.engine.rules import hypersensitivity
from cds_service.engine.suggest import with_duration
from cds_service.engine.timing import any_method_minimum, has_rate_information, label_minimum

TOPIC = "infusion-rate"


def _reaction_reference_rates(facts: OrderFacts) -> list[tuple[float, Evidence]]:
    """mg/min of earlier administrations that a recorded reaction followed (same day)."""
    reaction_days = {parse_when(e.date).date() for r in facts.patient.reactions for e in r.evidence
                     if parse_when(e.date) is not None}
    rates = []
    for admin in facts.patient.administrations:
        when = parse_when(admin.date)
        if when is None or when.date() not in reaction_days or not admin.dose_mg or not admin.minutes:
            continue
        rate = admin.dose_mg / admin.minutes
        rates.append((rate,
                      Evidence(text=f"Earlier infusion: {fmt_mg(admin.dose_mg)} over {fmt_minutes(admin.minutes)} "
                                          f"({rate:.1f} mg/min), followed by a reaction", date=admin.date,
                                          reference=admin.reference)))
    return rates


def required_time(facts: OrderFacts, cite: text.Citations) -> tuple[float, float, list[str], list[Evidence]]:
    """(required minutes, label minimum, reasons, evidence) for this order's dose."""
    knowledge, label, order = facts.knowledge, facts.label, facts.order
    dose = order.dose_mg
    label_min, parts = label_minimum(label, dose, order_method(order, knowledge))
    reasons: list[str] = []
    for kind, item in parts:
        if kind == "band":
            reasons.append(text.phrase(knowledge, TOPIC, "reasons", "label", label=label.label,
                                       minimum=fmt_minutes(item.min_minutes), dose=fmt_mg(dose)))
            cite.add("Minimum administration time", value=fmt_minutes(item.min_minutes), source=item.source,
                     status=item.status, note=item.note)
        else:
            reasons.append(text.phrase(knowledge, TOPIC, "reasons", "push_rate", max_rate=f"{item.value:g}",
                                       dose=fmt_mg(dose), minimum=fmt_minutes(label_min)))
            cite.add("Maximum rate", item)
    required = label_min
    evidence: list[Evidence] = []
    label_rate = dose / label_min if label_min else None
    # After a critical hypersensitivity finding a slower rate is no way to proceed (it does not prevent
    # anaphylaxis): only the label minimum, which holds for any administration, is still checked.
    assessment = hypersensitivity.assess(facts)
    history_counts = not (assessment is not None and assessment.critical)

    if history_counts and facts.patient.reactions:
        factor = protocol_fact(knowledge, "rate_after_reaction_factor")
        earlier = _reaction_reference_rates(facts)
        references = [rate for rate, _ in earlier] + ([label_rate] if label_rate else [])
        reference = min(references)
        minutes = dose / (float(factor.value) * reference)
        required = max(required, minutes)
        reasons.append(text.phrase(knowledge, TOPIC, "reasons", "after_reaction",
                                   percent=f"{float(factor.value) * 100:g}",
                                   minimum=fmt_minutes(ceil_minutes(minutes))))
        cite.add("Rate after infusion pain or a reaction (protocol)", factor)
        for reaction in facts.patient.reactions:
            evidence.extend(reaction.evidence)
        evidence.extend(e for _, e in earlier)

    if history_counts and facts.patient.risk_factors and label_rate:
        factor = protocol_fact(knowledge, "rate_with_risk_factors_factor")
        minutes = dose / (float(factor.value) * label_rate)
        required = max(required, minutes)
        names = ", ".join(dict.fromkeys(r.label for r in facts.patient.risk_factors))
        reasons.append(text.phrase(knowledge, TOPIC, "reasons", "risk_factors",
                                   percent=f"{float(factor.value) * 100:g}",
                                   minimum=fmt_minutes(ceil_minutes(minutes)), factors=names))
        cite.add("Rate with risk factors (protocol)", factor)
        for risk in facts.patient.risk_factors:
            evidence.extend(risk.evidence)
    return required, label_min, reasons, evidence


def fits_another_method(facts: OrderFacts) -> bool:
    """True when the order does not say push or infusion and its time fits a method the label allows.

    Noise is harm: 100 mg iron sucrose "into the venous line over 2 min" at dialysis is
    the label's slow injection; warning it to run over 15 minutes would fire at every session.
    """
    order = facts.order
    if order_method(order, facts.knowledge) is not None or order.dose_mg is None or order.minutes is None:
        return False
    fastest = any_method_minimum(facts.label, order.dose_mg)
    return fastest is not None and order.minutes >= fastest[0] - 1e-9


def check(facts: OrderFacts) -> Finding | None:
    knowledge, order = facts.knowledge, facts.order
    if not facts.identified:
        return text.not_checked(facts, TOPIC, "product_unknown")
    problems = "; ".join(order.problems) or "no administration time or rate in the order"
    if order.dose_mg is None:
        return Finding(topic=TOPIC, indicator="warning", order=order,
                       summary=text.summary(text.phrase(knowledge, TOPIC, "summary_unknown_no_dose", drug=facts.drug)),
                       detail=text.compose(text.phrase(knowledge, TOPIC, "detail_unknown_no_dose", drug=facts.drug,
                                                       problems=problems),
                                           text.phrase(knowledge, TOPIC, "nurse_advice")))
    cite = text.Citations(knowledge)
    required, label_min, reasons, evidence = required_time(facts, cite)
    required_whole = ceil_minutes(required)
    history_driven = required_whole > ceil_minutes(label_min)

    if order.minutes is not None and order.minutes >= required - 1e-9:
        return None
    if order.minutes is not None and not history_driven and fits_another_method(facts):
        return None
    if order.minutes is not None:
        intro = text.phrase(knowledge, TOPIC, "detail_too_fast", drug=facts.drug, ordered=fmt_minutes(order.minutes),
                            required=fmt_minutes(required_whole), label_minimum=fmt_minutes(label_min))
        summary = text.phrase(knowledge, TOPIC, "summary_too_fast", drug=facts.drug, ordered=fmt_minutes(order.minutes),
                              required=fmt_minutes(required_whole))
        indicator = "warning"
        label_key = "suggestion_label"
        suggest = True
    else:
        intro = text.phrase(knowledge, TOPIC, "detail_unknown", drug=facts.drug, required=fmt_minutes(required_whole),
                            label_minimum=fmt_minutes(label_min), problems=problems)
        summary = text.phrase(knowledge, TOPIC, "summary_unknown", drug=facts.drug,
                              required=fmt_minutes(required_whole))
        indicator = "warning" if history_driven else "info"
        label_key = "suggestion_label_set"
        suggest = not has_rate_information(order.resource)

    suggestions = ()
    if suggest:
        label_text = text.phrase(knowledge, TOPIC, label_key, required=fmt_minutes(required_whole))
        suggestions = (SuggestionSpec(label=label_text, action="update", description=label_text,
                                      resource=with_duration(order, required_whole), is_recommended=True),)
    detail = text.compose(
        intro,
        text.phrase(knowledge, TOPIC, "why_heading") + "\n" + text.bullet_list(reasons),
        text.phrase(knowledge, TOPIC, "nurse_advice"),
        text.evidence_block(knowledge, evidence),
        cite.block(),
    )
    return Finding(topic=TOPIC, indicator=indicator, order=order, summary=text.summary(summary), detail=detail,
                   evidence=tuple(evidence), sources=tuple(cite.ids), suggestions=suggestions)
