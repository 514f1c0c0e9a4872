"""premedication: per protocol after infusion pain / a reaction or with several risk factors.

Never an H1 antihistamine: a first-generation one already among the draft
orders gets a warning and a suggestion to remove it (it mimics anaphylaxis).
For an order with a critical hypersensitivity finding no premedication is
suggested (see ``hypersensitivity``): premedication does not prevent
anaphylaxis and must not look like a way to proceed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cds_service.engine import text
from cds_service.engine.facts import (
    OrderFacts,
    codings,
    concept_text,
    draft_resources_of_type,
)
from cds_service.engine.model import Evidence, Finding, SuggestionSpec
from cds_service.engine.rules import hypersensitivity
from cds_service.engine.suggest import RXNORM, has_marker, premedication_request
from cds_service.engine.topics import Topic
from cds_service.knowledge.model import MedicationSpec

TOPIC = Topic("premedication", rank=50, display="Premedication", premedications=True,
              protocol_keys=("infusion_pain", "premedication_regimens", "corticosteroid_min_risk_factors",
                             "multiple_drug_allergies_min", "older_age_years"), iv_only=True)


def _medication_words(request: dict) -> tuple[set[str], str]:
    """(RxNorm codes, lower-case names) of a draft MedicationRequest's medication."""
    concepts = [request.get("medicationCodeableConcept")]
    reference = request.get("medicationReference")
    names = []
    if isinstance(reference, dict):
        names.append(str(reference.get("display") or "").lower())
        ref = str(reference.get("reference") or "")
        for contained in request.get("contained") or ():
            if isinstance(contained, dict) and f"#{contained.get('id')}" == ref:
                concepts.append(contained.get("code"))
    codes = {str(c.get("code")) for concept in concepts for c in codings(concept) if c.get("system") == RXNORM}
    names.extend(concept_text(concept) for concept in concepts)
    return codes, " ".join(names)


def _matches(names: str, words) -> str | None:
    for word in words:
        if re.search(rf"\b{re.escape(str(word).lower())}\b", names):
            return str(word)
    return None


def drafted_antihistamines(facts: OrderFacts) -> list[tuple[dict, str]]:
    avoid = text.topic_wording(facts.knowledge, TOPIC)["avoid_h1"]
    found = []
    for request in draft_resources_of_type(facts, "MedicationRequest"):
        if request.get("status") in ("cancelled", "entered-in-error", "stopped", "completed"):
            continue
        codes, names = _medication_words(request)
        hit = next((avoid["rxnorm"][c] for c in codes if c in avoid["rxnorm"]), None) or _matches(names, avoid["names"])
        if hit:
            found.append((request, hit))
    return found


def _already_drafted(facts: OrderFacts, spec: MedicationSpec) -> bool:
    ingredient = spec.rxnorm_display.split()[0] if spec.rxnorm_display else spec.display.split()[0]
    for request in draft_resources_of_type(facts, "MedicationRequest"):
        if has_marker(request,
                      TOPIC) and any(spec.key in str(i.get("value", "")) for i in request.get("identifier") or ()
                                              if isinstance(i, dict)):
            return True
        codes, names = _medication_words(request)
        if str(spec.rxnorm) in codes or _matches(names, [ingredient]):
            return True
    return False


def needed(facts: OrderFacts) -> tuple[list[tuple[str, str]], list[Evidence]]:
    """([(premedication key, reason)], evidence) the protocol asks for."""
    knowledge, patient = facts.knowledge, facts.patient
    regimens = knowledge.protocol.premedication_regimens
    wanted: list[tuple[str, str]] = []
    evidence: list[Evidence] = []
    pain = [r for r in patient.reactions
            if r.kind == "infusion-pain" or (r.kind == "hypersensitivity" and r.severity == "mild")]
    moderate = [r for r in patient.reactions if r.kind == "hypersensitivity" and r.severity == "moderate"]
    if pain:
        reason = text.phrase(knowledge, TOPIC, "reasons", "infusion_pain")
        wanted += [(key, reason) for key in regimens.infusion_pain]
        evidence += [e for r in pain for e in r.evidence]
    if moderate:
        reason = text.phrase(knowledge, TOPIC, "reasons", "moderate_reaction")
        wanted += [(key, reason) for key in regimens.moderate_reaction]
        evidence += [e for r in moderate for e in r.evidence]
    minimum = knowledge.protocol.corticosteroid_min_risk_factors.value
    factors = list(dict.fromkeys(r.code for r in patient.risk_factors))
    if len(factors) >= minimum:
        names = ", ".join(dict.fromkeys(r.label for r in patient.risk_factors))
        reason = text.phrase(knowledge, TOPIC, "reasons", "multiple_risk_factors", count=len(factors), minimum=minimum,
                             factors=names)
        wanted += [(key, reason) for key in regimens.multiple_risk_factors]
        evidence += [e for r in patient.risk_factors for e in r.evidence]
    merged: dict[str, list[str]] = {}
    for key, reason in wanted:
        merged.setdefault(key, [])
        if reason not in merged[key]:
            merged[key].append(reason)
    return [(key, " ".join(reasons)) for key, reasons in merged.items()], evidence


@dataclass(frozen=True)
class PremedicationDecision:
    """What to suggest for this order: no wording, ``check`` builds the card."""

    wanted: tuple[tuple[MedicationSpec, str, bool], ...]   # (premedication, why, already drafted)
    antihistamines: tuple[tuple[dict, str], ...]           # drafted H1 antihistamines to remove (request, name)
    critical: bool                                         # a critical hypersensitivity card speaks: suggest none
    evidence: tuple[Evidence, ...]

    @property
    def to_order(self) -> list[tuple[MedicationSpec, str]]:
        return [(spec, reason) for spec, reason, drafted in self.wanted if not drafted]


def decide(facts: OrderFacts) -> PremedicationDecision:
    assessment = hypersensitivity.assess(facts)
    critical = assessment is not None and assessment.critical
    wanted, evidence = ([], []) if critical else needed(facts)
    premedications = []
    for key, reason in wanted:
        spec = facts.knowledge.premedications.get(key)
        if spec is None:
            raise LookupError(f"premedication {key!r} named by the protocol is not defined")
        premedications.append((spec, reason, _already_drafted(facts, spec)))
    return PremedicationDecision(tuple(premedications), tuple(drafted_antihistamines(facts)), critical,
                                 tuple(evidence))


def check(facts: OrderFacts) -> Finding | None:
    decision = decide(facts)
    if not decision.to_order and not decision.antihistamines:
        return None
    knowledge, order = facts.knowledge, facts.order
    cite = text.Citations(knowledge)
    for spec, _, _ in decision.wanted:
        cite.add(f"Premedication {spec.display}", value=spec.timing_text, source=spec.source, status=spec.status,
                 section=spec.section)
    suggestions, parts = _premedication_suggestions(facts, decision)
    names = [spec.display for spec, _ in decision.to_order]
    antihistamines = decision.antihistamines
    for request, name in antihistamines:
        parts.append(text.phrase(knowledge, TOPIC, "h1_warning", antihistamine=name))
        label = text.phrase(knowledge, TOPIC, "suggestion_label_h1", antihistamine=name)
        suggestions.append(SuggestionSpec(label=label, action="delete", description=label,
                                          resource_id=f"MedicationRequest/{request.get('id')}"))
    if antihistamines:
        avoid = text.topic_wording(knowledge, TOPIC)["avoid_h1"]
        cite.add("No first-generation H1 antihistamine", value=", ".join(sorted({n for _, n in antihistamines})),
                 source=avoid.get("source"), status=avoid.get("status"))
        if decision.critical:
            parts.append(text.phrase(knowledge, TOPIC, "critical_note"))

    if antihistamines and names:
        summary = text.phrase(knowledge, TOPIC, "summary_h1_and_suggest", drug=facts.drug,
                              antihistamine=antihistamines[0][1], medications=" and ".join(names))
    elif antihistamines:
        summary = text.phrase(knowledge, TOPIC, "summary_h1", drug=facts.drug, antihistamine=antihistamines[0][1])
    else:
        summary = text.phrase(knowledge, TOPIC, "summary", drug=facts.drug, medications=" and ".join(names))
    evidence = list(decision.evidence)
    detail = text.compose(*parts, text.evidence_block(knowledge, evidence), cite.block())
    # Reasons to override fit what the card asks: a premedication, removing an antihistamine, or both.
    reason_sets = (("override_reasons",) if names else ()) + (("override_reasons_h1",) if antihistamines else ())
    return Finding(topic=TOPIC, indicator="warning" if antihistamines else "info", order=order,
                   override_reason_sets=reason_sets,
                   summary=text.summary(summary), detail=detail, evidence=tuple(evidence), sources=tuple(cite.ids),
                   suggestions=tuple(suggestions))


def _premedication_suggestions(facts: OrderFacts,
                               decision: PremedicationDecision) -> tuple[list[SuggestionSpec], list[str]]:
    """One create suggestion per premedication not yet drafted, and the card's paragraph listing them."""
    knowledge = facts.knowledge
    suggestions: list[SuggestionSpec] = []
    reasons: list[str] = []
    for spec, reason in decision.to_order:
        note = text.phrase(knowledge, TOPIC, "order_note", drug=facts.drug, reason=reason)
        label = text.phrase(knowledge, TOPIC, "suggestion_label", medication=spec.display, timing=spec.timing_text)
        suggestions.append(SuggestionSpec(label=label, action="create", description=reason,
                                          resource=premedication_request(facts.ctx, facts.order, spec, note),
                                          is_recommended=True))
        reasons.append(f"{spec.display}: {reason}")
    if not reasons:
        return suggestions, []
    return suggestions, [text.phrase(knowledge, TOPIC, "intro", drug=facts.drug), text.bullet_list(reasons)]
