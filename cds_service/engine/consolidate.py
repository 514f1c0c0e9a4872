"""Fewer, clearer cards for one IV-iron order: at most one interrupts, advice rides on a card that acts.

Noise is harm: a prescriber shown five cards for one order learns to skip them all.
After the rules have run for one order:

1. Advice with no action of its own is folded into the card of that order that
   already exists for the same administration (``FOLD_INTO``, first host present):
   a non-critical earlier-hypersensitivity warning into the slower-rate card whose
   update is the precaution it asks for; the formulation card's pure advice (a boxed
   warning, "another product may be better tolerated", a label warning) into the
   history, rate, premedication, dose or observation card; a rate card that could
   not check anything because the dose is unreadable into the dose card that says
   so (one card when the dose or time cannot be read). The host keeps its topic,
   summary and suggestions; its detail gains the advice, its data points and sources.
   A critical (stop) card never takes advice in: it must stay about stopping.
2. At most one interruptive card: the first warning or critical card in rule rank
   order stays so, any other becomes info (its suggestions stay one click away).

Before folding, a slower-rate card whose one-click update would compete with the dose card's
(or the patient-suitability card's lower paediatric dose) is dropped: that update already sets the
time the rate rule asks for the *lower* dose (``dose.reduced_order``), while the rate card's update
keeps the dose above the label, so accepting both would put the dose back (and accepting only the
rate card leaves the dose wrong).
"""

from __future__ import annotations

import dataclasses

from cds_service.engine import text
from cds_service.engine.model import Finding

# advice topic -> the topics of the cards it may fold into, by preference
FOLD_INTO: dict[str, tuple[str, ...]] = {
    "hypersensitivity-history": ("infusion-rate",),
    "formulation": ("hypersensitivity-history", "infusion-rate", "premedication", "dose-limit", "observation-period"),
    "infusion-rate": ("dose-limit",),
}
INTERRUPTIVE = ("warning", "critical")
_LEVELS = ("info", "warning", "critical")


def _is_advice(finding: Finding) -> bool:
    """A card with nothing to click that only adds to another card of the same order."""
    if finding.suggestions or finding.indicator == "critical":
        return False
    if finding.topic == "formulation":
        return finding.indicator == "info"        # a warning of its own (low phosphate, not marketed) stays
    if finding.topic == "infusion-rate":
        return finding.order is not None and finding.order.dose_mg is None   # nothing checked without a dose
    return True


def _updates(finding: Finding | None) -> bool:
    return finding is not None and any(s.action == "update" for s in finding.suggestions)


def _parts(detail: str, knowledge) -> tuple[list[str], list[str], list[str]]:
    """(body paragraphs, data-point lines, source lines) of a composed detail."""
    data_heading = text.common(knowledge, "data_points_heading")
    sources_heading = text.common(knowledge, "sources_heading")
    body, data, sources = [], [], []
    for paragraph in detail.split("\n\n"):
        if paragraph.startswith(data_heading):
            data.extend(line for line in paragraph.splitlines()[1:] if line.strip())
        elif paragraph.startswith(sources_heading):
            sources.extend(line for line in paragraph.splitlines()[1:] if line.strip())
        elif paragraph.strip():
            body.append(paragraph)
    return body, data, sources


def merge(host: Finding, advice: Finding, knowledge) -> Finding:
    """``host`` with ``advice`` folded in: one detail, data points and sources each listed once."""
    host_body, host_data, host_sources = _parts(host.detail, knowledge)
    body, data, sources = _parts(advice.detail, knowledge)
    data_lines = list(dict.fromkeys(host_data + data))
    detail = text.compose(
        *list(dict.fromkeys(host_body + body)),
        text.common(knowledge, "data_points_heading") + "\n" + "\n".join(data_lines) if data_lines else "",
        text.sources_block(knowledge, host_sources + sources),
    )
    level = max(_LEVELS.index(host.indicator), _LEVELS.index(advice.indicator))
    return dataclasses.replace(
        host, indicator=_LEVELS[level], detail=detail,
        evidence=tuple(dict.fromkeys(host.evidence + advice.evidence)),
        sources=tuple(dict.fromkeys(host.sources + advice.sources)),
    )


def consolidate(findings: list[Finding], knowledge) -> list[Finding]:
    """The findings of ONE order, folded and with at most one interruptive card (pure)."""
    cards = {f.topic: f for f in findings}
    dose_update = _updates(cards.get("dose-limit")) or _updates(cards.get("patient-suitability"))
    if dose_update and _updates(cards.get("infusion-rate")):
        del cards["infusion-rate"]
    for topic, hosts in FOLD_INTO.items():
        advice = cards.get(topic)
        if advice is None or not _is_advice(advice):
            continue
        host = next((cards[h] for h in hosts if h in cards and cards[h].indicator != "critical"), None)
        if host is not None:
            cards[host.topic] = merge(host, advice, knowledge)
            del cards[topic]
    kept = [cards[f.topic] for f in findings if f.topic in cards]
    loud = next((f for f in kept if f.indicator in INTERRUPTIVE), None)
    return [f if f is loud or f.indicator not in INTERRUPTIVE else dataclasses.replace(f, indicator="info")
            for f in kept]
