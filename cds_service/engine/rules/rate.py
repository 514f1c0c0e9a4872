"""infusion-rate: no faster than the label allows, and slower after a reaction or with risk factors.

The slower time is worked out from a *fixed* reference rate, never from the
ordered time itself: the rate of an earlier infusion of the *same product* that
a reaction followed, else the label's fastest rate for this product and dose
(another product's mg/min is never used). So after a reaction the time is at
least (dose / (factor x reference rate)), never under the label minimum, and
capped at the protocol's ``slowed_time_max_minutes`` (the card says when).
Halving "the ordered rate" instead would double the time again at every hook
call after the prescriber accepted our suggestion.

A single risk factor other than an earlier reaction (asthma alone) gives at
most an info card; an order faster than the label, an earlier reaction or
several risk factors give a warning.

After a critical hypersensitivity finding (severe reaction, or a contraindication
such as ferumoxytol after any allergic reaction) there is no slowing for the
history and no one-click update: a slower rate does not prevent anaphylaxis and a
"slower" update would read as a way to proceed (see ``hypersensitivity.stops``).
An order faster than the label itself allows (or given a way the label does not
allow) still gets its card, as the dose card keeps a label limit: a prescriber who
overrides the stop must not also sign a rate outside the label unawares.

Time unknown: when the order states no time or rate at all we suggest setting
the required time explicitly (that is the label's or protocol's minimum, not an
invented rate); when it states a rate we could not read we only say so, since
an update would overwrite what the prescriber wrote.
"""

from __future__ import annotations

from cds_service.engine import text
from cds_service.engine.facts import OrderFacts, ceil_minutes, fmt_mg, fmt_minutes, parse_when
from cds_service.engine.model import Evidence, Finding, SuggestionSpec
from cds_service.engine.rules import hypersensitivity
from cds_service.engine.suggest import with_duration
from cds_service.engine.timing import any_method_minimum, has_rate_information, label_minimum, unlabelled_band
from cds_service.engine.topics import Topic

TOPIC = Topic("infusion-rate", rank=40, display="Infusion rate",
              label_fields=("time_bands", "max_rate_mg_per_min"),
              protocol_keys=("infusion_pain", "rate_after_reaction_factor", "rate_with_risk_factors_factor"),
              iv_only=True)


def _reaction_reference_rates(facts: OrderFacts) -> list[tuple[float, Evidence]]:
    """mg/min of earlier administrations of the ordered product that a recorded reaction followed
    (same day). Another product's mg/min says nothing about this one: 100 mg of iron sucrose
    over an hour would make 1,000 mg of ferric carboxymaltose run for 20 hours."""
    reaction_days = {parse_when(e.date).date() for r in facts.patient.reactions for e in r.evidence
                     if parse_when(e.date) is not None}
    rates = []
    for admin in facts.patient.administrations:
        if admin.product_key != facts.order.product_key:
            continue
        when = parse_when(admin.date)
        if when is None or when.date() not in reaction_days or not admin.dose_mg or not admin.minutes:
            continue
        rate = admin.dose_mg / admin.minutes
        rates.append((rate,
                      Evidence(text=f"Earlier infusion: {fmt_mg(admin.dose_mg)} over {fmt_minutes(admin.minutes)} "
                                    f"({rate:.1f} mg/min), followed by a reaction", date=admin.date,
                               reference=admin.reference)))
    return rates


# A reason for the required time, as its wording key under ``reasons`` and the fields it names: worded only
# when there is a card (most orders are slow enough, and their reasons were never read).
Reason = tuple[str, dict]


def _label_reasons(facts: OrderFacts, cite: text.Citations) -> tuple[float, list[Reason]]:
    """(label minimum minutes, reasons) for this order's dose and method."""
    label, dose = facts.label, facts.order.dose_mg
    label_min, parts = label_minimum(label, dose, facts.method)
    reasons: list[Reason] = []
    for kind, item in parts:
        if kind == "band":
            reasons.append(("label", {"label": label.label, "minimum": fmt_minutes(item.min_minutes),
                                      "dose": fmt_mg(dose)}))
            cite.add("Minimum administration time", value=fmt_minutes(item.min_minutes), source=item.source,
                     status=item.status, note=item.note, section=item.section)
        else:
            reasons.append(("push_rate", {"max_rate": f"{item.value:g}", "dose": fmt_mg(dose),
                                          "minimum": fmt_minutes(label_min)}))
            cite.add("Maximum rate", item)
    return label_min, reasons


def required_time(facts: OrderFacts, cite: text.Citations) -> tuple[float, float, list[Reason], list[Evidence]]:
    """(required minutes, label minimum, reasons, evidence) for this order's dose.

    History-driven slowing is capped at the protocol's longest administration time (never below
    the label minimum), and the card says so when the cap applies."""
    knowledge, dose = facts.knowledge, facts.order.dose_mg
    label_min, reasons = _label_reasons(facts, cite)
    label_rate = dose / label_min if label_min else None
    slowed: list[float] = []
    evidence: list[Evidence] = []

    if facts.patient.reactions:
        factor = knowledge.protocol.rate_after_reaction_factor
        earlier = _reaction_reference_rates(facts)
        references = [rate for rate, _ in earlier] + ([label_rate] if label_rate else [])
        if references:
            minutes = dose / (float(factor.value) * min(references))
            slowed.append(minutes)
            key = "after_reaction_same_product" if earlier else "after_reaction"
            reasons.append((key, {"percent": f"{float(factor.value) * 100:g}",
                                  "minimum": fmt_minutes(ceil_minutes(minutes))}))
            cite.add("Rate after infusion pain or a reaction (protocol)", factor,
                     value=f"at most {float(factor.value) * 100:g}% of the earlier rate")
        for reaction in facts.patient.reactions:
            evidence.extend(reaction.evidence)
        evidence.extend(e for _, e in earlier)

    if facts.patient.risk_factors and label_rate:
        factor = knowledge.protocol.rate_with_risk_factors_factor
        minutes = dose / (float(factor.value) * label_rate)
        slowed.append(minutes)
        names = ", ".join(dict.fromkeys(r.label for r in facts.patient.risk_factors))
        reasons.append(("risk_factors", {"percent": f"{float(factor.value) * 100:g}",
                                         "minimum": fmt_minutes(ceil_minutes(minutes)), "factors": names}))
        cite.add("Rate with risk factors (protocol)", factor,
                 value=f"at most {float(factor.value) * 100:g}% of the usual rate")
        for risk in facts.patient.risk_factors:
            evidence.extend(risk.evidence)

    required = max([label_min, *slowed])
    if slowed:
        cap = knowledge.protocol.slowed_time_max_minutes
        ceiling = max(float(cap.value), label_min)
        if required > ceiling:
            required = ceiling
            reasons.append(("capped", {"maximum": fmt_minutes(ceil_minutes(ceiling))}))
            cite.add("Longest suggested administration time (protocol)", cap)
    return required, label_min, reasons, evidence


def fits_another_method(facts: OrderFacts) -> bool:
    """True when the order does not say push or infusion and its time fits a method the label allows.

    Noise is harm: 100 mg iron sucrose "into the venous line over 2 min" at dialysis is
    the label's slow injection; warning it to run over 15 minutes would fire at every session.
    """
    order = facts.order
    if facts.method is not None or order.dose_mg is None or order.minutes is None:
        return False
    fastest = any_method_minimum(facts.label, order.dose_mg)
    return fastest is not None and order.minutes >= fastest[0] - 1e-9


def unlabelled_method(facts: OrderFacts) -> Finding | None:
    """A warning when the order says it is given a way the label does not allow (ferumoxytol as a push).

    No one-click change: giving it as an infusion needs a diluent and a bag the prescriber chooses.
    """
    knowledge, order = facts.knowledge, facts.order
    method = facts.method
    if method is None or order.dose_mg is None:
        return None
    band = unlabelled_band(facts.label, order.dose_mg, method)
    if band is None:
        return None
    cite = text.Citations(knowledge)
    cite.add("How it is given", value=band.note or method, source=band.source, status=band.status)
    fields = {"drug": facts.drug, "method": method, "label": facts.label.label,
              "minimum": fmt_minutes(ceil_minutes(label_minimum(facts.label, order.dose_mg, "infusion")[0]))}
    return Finding(topic=TOPIC, indicator="warning", order=order,
                   summary=text.summary(text.phrase(knowledge, TOPIC, "summary_method_not_labelled", **fields)),
                   detail=text.compose(text.phrase(knowledge, TOPIC, "detail_method_not_labelled", **fields),
                                       text.phrase(knowledge, TOPIC, "nurse_advice"), cite.block()),
                   sources=tuple(cite.ids))


def _outside_label(facts: OrderFacts) -> Finding | None:
    """Beside the stop card: a card only when the order breaks the label's own time or method, with no update."""
    knowledge, order = facts.knowledge, facts.order
    if not facts.identified or order.dose_mg is None:
        return None
    not_labelled = unlabelled_method(facts)
    if not_labelled is not None:
        return not_labelled
    cite = text.Citations(knowledge)
    label_min, reasons = _label_reasons(facts, cite)
    if order.minutes is None or order.minutes >= label_min - 1e-9 or fits_another_method(facts):
        return None
    minimum = fmt_minutes(ceil_minutes(label_min))
    detail = text.compose(
        text.phrase(knowledge, TOPIC, "detail_too_fast_stopped", drug=facts.drug, ordered=fmt_minutes(order.minutes),
                    label_minimum=minimum),
        text.phrase(knowledge, TOPIC, "why_heading") + "\n"
        + text.bullet_list(text.phrase(knowledge, TOPIC, "reasons", key, **fields) for key, fields in reasons),
        cite.block(),
    )
    summary = text.phrase(knowledge, TOPIC, "summary_too_fast", drug=facts.drug, ordered=fmt_minutes(order.minutes),
                          required=minimum)
    return Finding(topic=TOPIC, indicator="warning", order=order, summary=text.summary(summary), detail=detail,
                   sources=tuple(cite.ids))


def push_alternative(facts: OrderFacts, required: float) -> Reason | None:
    """When the order does not say how it is given and a slow injection would need less time, say so:
    the suggested time fits any method, but a push written as such may be quicker."""
    order = facts.order
    if order.dose_mg is None or facts.method is not None:
        return None
    fastest = any_method_minimum(facts.label, order.dose_mg)
    if fastest is None or fastest[1] != "push" or ceil_minutes(fastest[0]) >= ceil_minutes(required):
        return None
    return "push_alternative", {"minimum": fmt_minutes(ceil_minutes(fastest[0]))}


def _indicator(facts: OrderFacts, label_min: float) -> str:
    """A single risk factor other than an earlier reaction (asthma alone) is worth a note, not an
    interruption; an order faster than the label, or after a reaction, or with several risk factors
    is a warning."""
    order, patient = facts.order, facts.patient
    if order.minutes is not None and order.minutes < label_min - 1e-9:
        return "warning"
    if patient.reactions or len({r.code for r in patient.risk_factors}) >= 2:
        return "warning"
    return "info"


def check(facts: OrderFacts) -> Finding | None:
    knowledge, order = facts.knowledge, facts.order
    if hypersensitivity.stops(facts):
        return _outside_label(facts)   # the stop card is the way forward; only a label breach is said
    if not facts.identified:
        return text.not_checked(facts, TOPIC, "product_unknown")
    problems = "; ".join(order.problems) or "no administration time or rate in the order"
    if order.dose_mg is None:
        return Finding(topic=TOPIC, indicator="warning", order=order,
                       summary=text.summary(text.phrase(knowledge, TOPIC, "summary_unknown_no_dose", drug=facts.drug)),
                       detail=text.compose(text.phrase(knowledge, TOPIC, "detail_unknown_no_dose", drug=facts.drug,
                                                       problems=problems),
                                           text.phrase(knowledge, TOPIC, "nurse_advice")))
    not_labelled = unlabelled_method(facts)
    if not_labelled is not None:
        return not_labelled
    cite = text.Citations(knowledge)
    required, label_min, reasons, evidence = required_time(facts, cite)
    required_whole = ceil_minutes(required)
    history_driven = required_whole > ceil_minutes(label_min)

    if order.minutes is not None and order.minutes >= required - 1e-9:
        return None
    if order.minutes is not None and not history_driven and fits_another_method(facts):
        return None
    if not history_driven and (alternative := push_alternative(facts, required)):
        reasons.append(alternative)
    if order.minutes is not None:
        intro = text.phrase(knowledge, TOPIC, "detail_too_fast", drug=facts.drug, ordered=fmt_minutes(order.minutes),
                            required=fmt_minutes(required_whole), label_minimum=fmt_minutes(label_min))
        summary = text.phrase(knowledge, TOPIC, "summary_too_fast", drug=facts.drug, ordered=fmt_minutes(order.minutes),
                              required=fmt_minutes(required_whole))
        indicator = _indicator(facts, label_min)
        label_key = "suggestion_label"
        suggest = True
    else:
        intro = text.phrase(knowledge, TOPIC, "detail_unknown", drug=facts.drug, required=fmt_minutes(required_whole),
                            label_minimum=fmt_minutes(label_min), problems=problems)
        summary = text.phrase(knowledge, TOPIC, "summary_unknown", drug=facts.drug,
                              required=fmt_minutes(required_whole))
        indicator = _indicator(facts, label_min) if history_driven else "info"
        label_key = "suggestion_label_set"
        suggest = not has_rate_information(order.resource)

    suggestions = ()
    if suggest:
        label_text = text.phrase(knowledge, TOPIC, label_key, required=fmt_minutes(required_whole))
        suggestions = (SuggestionSpec(label=label_text, action="update", description=label_text,
                                      resource=with_duration(order, required_whole), is_recommended=True),)
    detail = text.compose(
        intro,
        text.phrase(knowledge, TOPIC, "why_heading") + "\n"
        + text.bullet_list(text.phrase(knowledge, TOPIC, "reasons", key, **fields) for key, fields in reasons),
        text.phrase(knowledge, TOPIC, "nurse_advice"),
        text.evidence_block(knowledge, evidence),
        cite.block(),
    )
    return Finding(topic=TOPIC, indicator=indicator, order=order, summary=text.summary(summary), detail=detail,
                   evidence=tuple(evidence), sources=tuple(cite.ids), suggestions=suggestions)
