"""dose-limit: one administration within the label's ceilings (absolute, per kg, daily, weekly).

The allowed dose is the smallest applicable ceiling, rounded *down* to whole mL
of the product (what a nurse draws up), to the volume the label doses in (INFeD:
0.5 mL), or for a child to 0.1 mL (0.01 mL under 1 mL: ``paediatric.round_down``),
never up. A child's paediatric dose is one of the ceilings, so one dose is worked
out for the order; above it, the patient-suitability card carries that dose as its
update and this card, if the other limits are exceeded too, only names it. Daily and weekly totals count
every earlier IV-iron administration, whatever the product, and stopped ones
too (their dose may have been partly given): the stricter reading. Without a
recent weight only weight-free ceilings apply and the card says the per-kg
check did not run.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import NamedTuple

from cds_service.engine import courses, paediatric, text
from cds_service.engine.facts import OrderFacts, fmt_mg, fmt_minutes, order_name, within_days
from cds_service.engine.model import Evidence, Finding, SuggestionSpec
from cds_service.engine.rules import rate
from cds_service.engine.suggest import with_dose
from cds_service.engine.topics import Topic

TOPIC = Topic("dose-limit", rank=30, display="Dose limit",
              label_fields=("max_single_dose", "dose_bands", "max_weekly_mg", "max_daily_mg"),
              protocol_keys=("weekly_window_days",))


def _weight(facts: OrderFacts) -> tuple[float | None, str | None]:
    weight, date = facts.patient.weight_kg, facts.patient.weight_date
    if weight is None:
        return None, None
    recency = float(facts.knowledge.protocol.data_recency_days.weight.value)
    if date and not within_days(date, facts.ctx, recency):
        return None, None  # too old to dose by
    return float(weight), date


# Ceiling and DoseDecision are NamedTuples, not frozen dataclasses: every order makes several, and a frozen
# dataclass costs a few times as much to make.
class Ceiling(NamedTuple):
    """One limit on this administration, in mg, and what its line on the card names."""

    mg: float
    kind: str                        # its wording under limits: absolute, band, per_kg, daily, weekly, course
    limit: float                     # the label's figure (per period for daily / weekly)
    per_kg: float | None = None
    weight: float | None = None
    weight_date: str | None = None
    days: float | None = None
    given: float | None = None       # already given within the period
    planned: float = 0.0             # daily: other drafts and a test dose still to be given today


PAEDIATRIC = ("paediatric_per_kg", "paediatric_max")   # ceilings from the label's paediatric dose


class DoseDecision(NamedTuple):
    """What the label allows for this order: no wording, the card builders below say it."""

    dose: float
    ceilings: tuple[Ceiling, ...]
    per_kg_skipped: bool             # a per-kg limit applies but there is no recent weight
    history_unknown: bool            # earlier doses unknown while a daily or weekly maximum applies
    split_days: tuple[int, ...]      # the label's gaps before a further dose, from the bands that applied
    period_limited: float | None     # days of the daily/weekly window that limits this dose
    evidence: tuple[Evidence, ...]
    rounded: float                   # the one allowed dose: the smallest ceiling, rounded down to a measurable dose
    drafted_today: float = 0.0       # other draft IV-iron orders counted in the day's total
    test_dose_reserved: float = 0.0  # a required test dose not yet drafted, counted in the day's total

    @property
    def allowed(self) -> float | None:
        return min((c.mg for c in self.ceilings), default=None)

    @property
    def within(self) -> bool:
        """Within the label's dose limits; the paediatric dose is the patient-suitability card's to say."""
        return all(self.dose <= c.mg + 1e-9 for c in self.ceilings if c.kind not in PAEDIATRIC)

    @property
    def paediatric_over(self) -> bool:
        """Above the label's paediatric dose: the patient-suitability card then carries the dose update."""
        return any(self.dose > c.mg + 1e-9 for c in self.ceilings if c.kind in PAEDIATRIC)

    @property
    def interval(self) -> int | None:
        if self.split_days:
            return max(self.split_days)
        return int(self.period_limited) if self.period_limited else None


def decide(facts: OrderFacts, cite: text.Citations) -> DoseDecision:
    """The ceilings that apply to an identified order with a dose (citing each fact on ``cite``)."""
    label, product = facts.label, facts.product
    weight, weight_date = _weight(facts)
    ceilings: list[Ceiling] = []
    if label.max_single_dose is not None:
        limit = float(label.max_single_dose.value)
        ceilings.append(Ceiling(limit, "absolute", limit))
        cite.add("Maximum single dose", label.max_single_dose)
    band_ceilings, split_days, per_kg_skipped = _band_ceilings(label.dose_bands, weight, weight_date, cite)
    ceilings += band_ceilings
    ceilings += _paediatric_ceilings(facts, weight, weight_date, cite)
    evidence = [Evidence(text=f"Body weight {weight:g} kg", date=weight_date)] if weight is not None else []
    dose = float(facts.order.dose_mg)
    # today's other drafts, and a required test dose, count towards the day's total (only a daily maximum counts)
    drafted = sum(o.dose_mg for o in courses.counted_drafts(facts)) if label.max_daily_mg else 0.0
    reserved = courses.reserved_test_dose(facts) if label.max_daily_mg else 0.0
    period_limited = None
    for key, fact, days in (("daily", label.max_daily_mg, 1), ("weekly", label.max_weekly_mg, None)):
        if fact is None:
            continue
        if days is None:
            days = float(facts.knowledge.protocol.weekly_window_days.value)
        recent = [a for a in facts.patient.administrations if a.dose_mg and within_days(a.date, facts.ctx, days)]
        given = sum(a.dose_mg for a in recent)
        planned = drafted + reserved if key == "daily" else 0.0
        left = max(float(fact.value) - given - planned, 0.0)
        ceilings.append(Ceiling(left, key, float(fact.value), days=days, given=given, planned=planned))
        cite.add(f"Maximum {key} dose", fact)
        evidence.extend(Evidence(text=f"IV iron {fmt_mg(a.dose_mg)}" + (" (stopped)" if a.stopped else ""),
                                 date=a.date, reference=a.reference) for a in recent)
        if left < dose:
            period_limited = days
    course = courses.course_ceiling(facts, weight)
    if course is not None:
        ceilings.append(Ceiling(course.left, "course", course.total, days=course.days, given=course.given))
        evidence.extend(course.evidence)
        spec = courses.label_spec(facts)
        cite.add(f"Course total (label section {spec['section']})", value=fmt_mg(course.total), source=spec["source"],
                 status=spec["status"], note=spec.get("note"))
        if course.left < dose:
            period_limited = period_limited or course.days
    history_unknown = ("ironAdministrations" in facts.history_missing
                       and bool(label.max_daily_mg or label.max_weekly_mg or courses.label_spec(facts)))
    label_step = None
    if product.concentration_mg_per_ml and label.dose_step_ml:
        label_step = float(product.concentration_mg_per_ml.value) * float(label.dose_step_ml.value)
    allowed = min((c.mg for c in ceilings), default=0.0)
    rounded = paediatric.round_down(allowed, facts, label_step) if allowed > 0 else 0.0
    return DoseDecision(dose, tuple(ceilings), per_kg_skipped, history_unknown, tuple(split_days), period_limited,
                        tuple(evidence), rounded, drafted, reserved)


def _paediatric_ceilings(facts: OrderFacts, weight: float | None, weight_date: str | None,
                         cite: text.Citations) -> list[Ceiling]:
    """The label's paediatric dose for a child of an age it covers (per kg at a recent weight, and its cap).
    Without a weight the per-kg part is the patient-suitability card's to say."""
    limits = paediatric.paediatric_dose(facts)
    if not limits:
        return []
    ceilings = []
    per_kg, cap = limits.get("max_mg_per_kg"), limits.get("max_mg")
    if per_kg and weight is not None:
        ceilings.append(Ceiling(float(per_kg) * weight, "paediatric_per_kg", float(per_kg) * weight,
                                per_kg=float(per_kg), weight=weight, weight_date=weight_date))
    if cap:
        ceilings.append(Ceiling(float(cap), "paediatric_max", float(cap)))
    spec = paediatric.label_spec(facts)
    cite.add(f"Pediatric use (label section {spec.get('section')})", value=paediatric_value(spec),
             source=spec.get("source"), status=spec.get("status"), note=spec.get("note"))
    return ceilings


def paediatric_value(spec: dict) -> str:
    """A label's paediatric age and dose in words ("from 1 years, 15 mg/kg, at most 750 mg a dose")."""
    minimum = spec.get("min_age_months")
    if minimum is None:
        return "not established in children"
    dose = spec.get("paediatric_dose") or {}
    months = int(minimum)
    parts = [f"from {months // 12} years" if months >= 24 else f"from {months} months"]
    if dose.get("max_mg_per_kg"):
        parts.append(f"{dose['max_mg_per_kg']:g} mg/kg")
    if dose.get("max_mg"):
        parts.append(f"at most {fmt_mg(dose['max_mg'])} a dose")
    return ", ".join(parts)


def _band_ceilings(bands, weight: float | None, weight_date: str | None,
                   cite: text.Citations) -> tuple[list[Ceiling], list[int], bool]:
    """The dose bands that apply at this weight; per-kg ones are skipped (and said) without a weight."""
    ceilings: list[Ceiling] = []
    split_days: list[int] = []
    per_kg_skipped = False
    for band in bands:
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
            ceilings.append(Ceiling(float(band.max_mg), "band", float(band.max_mg)))
            applied = True
        if band.max_mg_per_kg is not None:
            if weight is None:
                per_kg_skipped = True
            else:
                limit = band.max_mg_per_kg * weight
                ceilings.append(Ceiling(limit, "per_kg", limit, per_kg=band.max_mg_per_kg, weight=weight,
                                        weight_date=weight_date))
                applied = True
        if applied:
            cite.add("Dose band", value=_band_value(band), source=band.source, status=band.status, note=band.note,
                     section=band.section)
            if band.split_interval_days:
                split_days.append(int(band.split_interval_days))
    return ceilings, split_days, per_kg_skipped


def _limits(facts: OrderFacts) -> Finding | None:
    knowledge, order = facts.knowledge, facts.order
    if not facts.identified:
        return text.not_checked(facts, TOPIC, "product_unknown")
    if order.dose_mg is None:
        return text.not_checked(facts, TOPIC, "dose_unknown", problems=order.problems)
    cite = text.Citations(knowledge)
    decision = decide(facts, cite)
    notes = []
    if decision.history_unknown:
        notes.append(text.phrase(knowledge, TOPIC, "history_unknown"))
    if decision.per_kg_skipped:
        notes.append(_no_weight(facts, ""))
    if decision.drafted_today or decision.test_dose_reserved:
        notes.append(text.phrase(knowledge, TOPIC, "daily_includes", drafted=fmt_mg(decision.drafted_today),
                                 test_dose=fmt_mg(decision.test_dose_reserved)))
    if decision.within:
        return _unweighed_card(facts, notes, cite) if decision.per_kg_skipped else None
    if decision.rounded <= 0:
        return _none_left_card(facts, decision, notes, cite)
    return _reduce_card(facts, decision, notes, cite)


def _ceiling_line(knowledge, ceiling: Ceiling) -> str:
    if ceiling.kind in ("per_kg", "paediatric_per_kg"):
        return text.phrase(knowledge, TOPIC, "limits", ceiling.kind, per_kg=ceiling.per_kg, weight=ceiling.weight,
                           weight_date=text.display_date(ceiling.weight_date) or "date unknown",
                           limit=fmt_mg(ceiling.limit))
    if ceiling.planned:
        return text.phrase(knowledge, TOPIC, "limits", "daily_planned", limit=fmt_mg(ceiling.limit),
                           given=fmt_mg(ceiling.given), planned=fmt_mg(ceiling.planned), allowed=fmt_mg(ceiling.mg))
    if ceiling.kind in ("daily", "weekly", "course"):
        return text.phrase(knowledge, TOPIC, "limits", ceiling.kind, limit=fmt_mg(ceiling.limit),
                           days=f"{ceiling.days:g}", given=fmt_mg(ceiling.given), allowed=fmt_mg(ceiling.mg))
    return text.phrase(knowledge, TOPIC, "limits", ceiling.kind, limit=fmt_mg(ceiling.limit))


def _why(knowledge, decision: DoseDecision) -> str:
    lines = (_ceiling_line(knowledge, c) for c in decision.ceilings)
    return text.phrase(knowledge, TOPIC, "why_heading") + "\n" + text.bullet_list(lines)


def _no_weight(facts: OrderFacts, form: str) -> str:
    """Why the per-kg limit was not checked: no recent weight, or a recorded one that could not be right."""
    implausible = facts.patient.weight_implausible
    if implausible:
        return text.phrase(facts.knowledge, TOPIC, "weight_implausible" + form, weight=implausible)
    return text.phrase(facts.knowledge, TOPIC, "weight_unknown" + form)


def _unweighed_card(facts: OrderFacts, notes: list[str], cite: text.Citations) -> Finding:
    """Within the limits we could check, but the per-kg limit could not be: say so, quietly."""
    knowledge = facts.knowledge
    return Finding(topic=TOPIC, indicator="info", order=facts.order,
                   summary=text.summary(text.common(knowledge, "not_checked_summary", drug=facts.drug,
                                                    topic=text.topic_wording(knowledge, TOPIC)["display"],
                                                    reason=_no_weight(facts, "_short"))),
                   detail=text.compose(text.bullet_list(notes), cite.block()), sources=tuple(cite.ids))


def _none_left_card(facts: OrderFacts, decision: DoseDecision, notes: list[str], cite: text.Citations) -> Finding:
    knowledge, ordered = facts.knowledge, fmt_mg(decision.dose)
    evidence = list(decision.evidence)
    return Finding(
        topic=TOPIC, indicator="warning", order=facts.order,
        summary=text.summary(text.phrase(knowledge, TOPIC, "summary_none_left", drug=facts.drug, ordered=ordered)),
        detail=text.compose(text.phrase(knowledge, TOPIC, "detail_none_left", drug=facts.drug, ordered=ordered),
                            _why(knowledge, decision), text.bullet_list(notes),
                            text.evidence_block(knowledge, evidence), cite.block()),
        evidence=tuple(evidence), sources=tuple(cite.ids))


def reduced_order(facts: OrderFacts, dose_mg: float) -> tuple[dict, float | None]:
    """(the draft at ``dose_mg``, minutes set) : the lower dose, and, when the ordered time is too short for
    it (or missing), the time the infusion-rate rule asks for that dose, so that accepting the dose change
    gives an order this service accepts (500 mg iron sucrose over 30 min lowered to 400 mg must also run
    over 150 min). ``minutes set`` is None when the time is kept."""
    resource = with_dose(facts.order, dose_mg)
    if facts.order.labelled_non_iv and rate.TOPIC.iv_only:
        return resource, None   # INFeD IM: an injection has no infusion time to set
    lower = dataclasses.replace(facts.order, resource=resource, dose_mg=dose_mg)
    finding = rate.check(dataclasses.replace(facts, order=lower))
    update = next((s for s in finding.suggestions if s.action == "update"), None) if finding else None
    if update is None:
        return resource, None
    timing = update.resource["dosageInstruction"][0]["timing"]["repeat"]
    return update.resource, float(timing["duration"])


def _reduce_card(facts: OrderFacts, decision: DoseDecision, notes: list[str], cite: text.Citations) -> Finding:
    knowledge, label = facts.knowledge, facts.label
    rounded, remaining = decision.rounded, decision.dose - decision.rounded
    resource, minutes = reduced_order(facts, rounded)
    if decision.interval == 1:
        split = text.phrase(knowledge, TOPIC, "split_next_day", allowed=fmt_mg(rounded), remaining=fmt_mg(remaining))
    elif decision.interval:
        split = text.phrase(knowledge, TOPIC, "split_with_interval", allowed=fmt_mg(rounded),
                            remaining=fmt_mg(remaining), days=decision.interval)
    else:
        split = text.phrase(knowledge, TOPIC, "split_no_interval", allowed=fmt_mg(rounded), remaining=fmt_mg(remaining))
    if label.max_daily_mg or label.max_weekly_mg:
        notes = notes + [text.phrase(knowledge, TOPIC, "weekly_counts_all")]
    evidence = list(decision.evidence)
    measure = measure_words(facts, cite)
    time = time_words(facts, rounded, minutes)
    if decision.paediatric_over:   # one dose, one update: the patient-suitability card's, the same dose
        notes = notes + [text.phrase(knowledge, TOPIC, "update_on_suitability", allowed=fmt_mg(rounded))]
    detail = text.compose(
        text.phrase(knowledge, TOPIC, "detail", drug=facts.drug, ordered=fmt_mg(decision.dose),
                    allowed=fmt_mg(rounded), measure=measure, time=time),
        _why(knowledge, decision),
        text.phrase(knowledge, TOPIC, "split_heading") + "\n" + split,
        text.bullet_list(notes),
        text.evidence_block(knowledge, evidence),
        cite.block(),
    )
    return Finding(
        topic=TOPIC, indicator="warning", order=facts.order,
        summary=text.summary(text.phrase(knowledge, TOPIC, "summary", drug=facts.drug, ordered=fmt_mg(decision.dose),
                                         allowed=fmt_mg(rounded))),
        detail=detail, evidence=tuple(evidence), sources=tuple(cite.ids),
        suggestions=() if decision.paediatric_over else (
            SuggestionSpec(label=text.phrase(knowledge, TOPIC, "suggestion_label", allowed=fmt_mg(rounded)),
                           action="update", description=split, resource=resource, is_recommended=True),),
    )


def measure_words(facts: OrderFacts, cite: text.Citations) -> str:
    """What a lowered dose was rounded down to: the label's step, a child's measurable volume, or whole mL."""
    knowledge, label = facts.knowledge, facts.label
    if label.dose_step_ml is not None:
        cite.add("Dose measured in", label.dose_step_ml, value=f"{float(label.dose_step_ml.value):g} mL")
        return text.phrase(knowledge, TOPIC, "measure_step", ml=f"{float(label.dose_step_ml.value):g}")
    measure = (knowledge.suitability or {}).get("paediatric_measure")
    if measure and paediatric.is_child(facts) and facts.product.concentration_mg_per_ml:
        step, small, volume = (measure[k] for k in ("step_ml", "small_step_ml", "small_volume_ml"))
        cite.add("A child's dose measured in", value=f"{step['value']:g} mL ({small['value']:g} mL under "
                 f"{volume['value']:g} mL)", source=step["source"], status=step["status"], note=step.get("note"))
        return text.phrase(knowledge, TOPIC, "measure_child", ml=f"{step['value']:g}", small_ml=f"{small['value']:g}",
                           volume=f"{volume['value']:g}")
    return text.phrase(knowledge, TOPIC, "measure_whole_ml")


def time_words(facts: OrderFacts, rounded: float, minutes: float | None) -> str:
    """Whether the lowered dose keeps the ordered time or gets the time the infusion-rate check asks for."""
    if minutes is None:
        return text.phrase(facts.knowledge, TOPIC, "time_kept")
    return text.phrase(facts.knowledge, TOPIC, "time_set", minutes=fmt_minutes(minutes), allowed=fmt_mg(rounded))


def _concern_text(facts: OrderFacts, concern: courses.Concern) -> tuple[str, str]:
    """(summary, paragraph) of an interval or duplicate concern."""
    knowledge = facts.knowledge
    summary = text.phrase(knowledge, TOPIC, "course", f"summary_{concern.key}", drug=facts.drug, **concern.fields)
    paragraph = text.phrase(knowledge, TOPIC, "course", concern.key, drug=facts.drug, **concern.fields)
    return summary, paragraph


def check(facts: OrderFacts) -> Finding | None:
    """The label limits, then the interval since the last dose and duplicate orders, merged into one card.

    A dose too soon (or a course already given) must not be given now: the card then offers no
    lower-dose update. Two IV-iron orders in one set of drafts: one warning, on the first of them."""
    limits = _limits(facts)
    concerns = []
    if facts.identified:
        concerns.append(courses.interval_concern(facts))
    concerns.append(courses.duplicate_concern(facts, lambda o: order_name(o, facts.iron_orders, facts.knowledge)))
    concerns = [c for c in concerns if c is not None]
    if not concerns:
        return limits
    knowledge = facts.knowledge
    texts = [_concern_text(facts, c) for c in concerns]
    blocking = any(c.indicator == "warning" and c.key != "duplicate" for c in concerns)
    evidence = tuple(e for c in concerns for e in c.evidence) + (limits.evidence if limits else ())
    cite = text.Citations(knowledge)
    spec = courses.label_spec(facts) if facts.identified else None
    if any(c.key == "duplicate" for c in concerns):
        rule = courses.duplicate_rule(knowledge)
        cite.add("One IV-iron order at a time (protocol)", value=rule["value"], source=rule["source"],
                 status=rule["status"], note=rule.get("note"))
    if spec and any(c.key != "duplicate" for c in concerns):
        cite.add(f"Interval between doses (label section {spec['section']})", value=_interval_value(spec),
                 source=spec["source"], status=spec["status"], note=spec.get("note"))
    worst = "warning" if any(c.indicator == "warning" for c in concerns) or (limits and limits.indicator == "warning") \
        else "info"
    lead = next((t for c, t in zip(concerns, texts, strict=True) if c.indicator == "warning"), texts[0])
    summary = limits.summary if limits and limits.indicator == "warning" and not blocking else lead[0]
    detail = text.compose(*(p for _, p in texts), limits.detail if limits else "",
                          text.evidence_block(knowledge, tuple(e for c in concerns for e in c.evidence)), cite.block())
    suggestions = () if blocking or limits is None else limits.suggestions
    return Finding(topic=TOPIC, indicator=worst, order=facts.order, summary=text.summary(summary), detail=detail,
                   evidence=evidence, sources=tuple(dict.fromkeys(cite.ids + list(limits.sources if limits else ()))),
                   suggestions=suggestions)


def _interval_value(spec: dict) -> str:
    low, high = spec.get("min_interval_days"), spec.get("max_interval_days")
    if low and high:
        return f"{low} to {high} days apart"
    return f"at least {low} days apart" if low else "no interval given"


@functools.lru_cache(maxsize=256)   # a label's band reads the same on every order: worded once
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
