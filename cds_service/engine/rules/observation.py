"""observation-period: every IV-iron dose is followed by an observed period.

The time is the longest of the label's observation time, the protocol default,
and the protocol's longer times for a first iron-dextran dose and after an
earlier reaction. No card when an observation order is already drafted (by the
protocol's service code or by our own marker on an order from an earlier card),
and none for an order that gets the critical stop card (``hypersensitivity.stops``).
"""

from __future__ import annotations

from cds_service.engine import text
from cds_service.engine.compiled import per_knowledge
from cds_service.engine.facts import (
    OrderFacts,
    ceil_minutes,
    codings,
    draft_resources_of_type,
    iron_administrations,
)
from cds_service.engine.model import Evidence, Finding, SuggestionSpec
from cds_service.engine.rules import hypersensitivity
from cds_service.engine.suggest import has_marker, observation_request
from cds_service.engine.topics import Topic
from cds_service.knowledge.model import CodingFact

TOPIC = Topic("observation-period", rank=60, display="Post-infusion observation period",
              label_fields=("observation_minutes",), protocol_keys=("observation",), iv_only=True)


def already_ordered(facts: OrderFacts, service_code: CodingFact) -> bool:
    for request in draft_resources_of_type(facts, "ServiceRequest"):
        if request.get("status") in ("revoked", "entered-in-error", "completed"):
            continue
        if has_marker(request, TOPIC):
            return True
        for coding in codings(request.get("code")):
            if coding.get("code") == service_code.code and coding.get("system") == service_code.system:
                return True
    return False


def required_minutes(facts: OrderFacts, cite: text.Citations) -> tuple[int, list[str], list[Evidence]]:
    """(minutes, reasons, evidence) for this order and patient; sources go to ``cite``."""
    knowledge = facts.knowledge
    observation = knowledge.protocol.observation
    default = observation.default_minutes
    candidates = []
    if facts.identified:  # an order known only as "IV iron" has no label: the protocol still applies
        label = facts.label
        label_fact = label.observation_minutes
        # Only a time the label itself states is credited to the label; a value filled in where the label
        # gives no duration (INFeD: "observe during all administrations") is the protocol's, cited below.
        if label_fact.source == label.source:
            reason = text.phrase(knowledge, TOPIC, "reasons", "label", label=label.label,
                                 minutes=f"{label_fact.value:g}")
            candidates.append((float(label_fact.value), reason))
            cite.add("Observation after the dose (label)", label_fact)
        else:
            candidates.append((float(label_fact.value), text.phrase(knowledge, TOPIC, "reasons", "protocol",
                                                                     minutes=f"{label_fact.value:g}")))
    candidates.append((float(default.value), text.phrase(knowledge, TOPIC, "reasons", "protocol",
                                                         minutes=f"{default.value:g}")))
    cite.add("Observation after every dose (protocol)", default)
    evidence: list[Evidence] = []

    if facts.identified and facts.product.is_dextran:
        earlier = iron_administrations(facts.patient, knowledge, dextran_only=True)
        if not earlier:
            first = observation.first_dextran_dose_minutes
            unknown = "ironAdministrations" in facts.history_missing
            key = "dextran_history_unknown" if unknown else "first_dextran"
            candidates.append((float(first.value), text.phrase(knowledge, TOPIC, "reasons", key,
                                                               minutes=f"{first.value:g}")))
            cite.add("Observation after a first iron-dextran dose (protocol)", first)

    if facts.patient.reactions:
        after = observation.after_reaction_minutes
        candidates.append((float(after.value), text.phrase(knowledge, TOPIC, "reasons", "after_reaction",
                                                           minutes=f"{after.value:g}")))
        cite.add("Observation after an earlier reaction (protocol)", after)
        for reaction in facts.patient.reactions:
            evidence.extend(reaction.evidence)

    minutes = ceil_minutes(max(value for value, _ in candidates))
    # Name only the reasons that set (or equal) the time, so the card says why this number.
    reasons = list(dict.fromkeys(reason for value, reason in candidates if ceil_minutes(value) == minutes))
    return minutes, reasons, evidence


def covered_by_standing_protocol(knowledge, minutes: int) -> bool:
    """True when the unit's standing observation protocol is on and already observes this long."""
    observation = knowledge.protocol.observation
    if observation.standing_protocol is None or observation.standing_protocol.value is not True:
        return False   # None: an override file written before the switch existed, so off
    return minutes <= ceil_minutes(float(observation.default_minutes.value))


def _nurse_note(knowledge) -> str:
    """What the nurse does if pain or a reaction starts, as plain text for the observation order.

    The same advice the rate card gives, so it reaches the infusion nurse with every order,
    not only with an order that was too fast.
    """
    advice = text.phrase(knowledge, "infusion-rate", "nurse_advice")
    return " ".join(advice.replace("**", "").split())


nurse_note = per_knowledge(_nurse_note)   # the same words on every observation order: made once per Knowledge


def check(facts: OrderFacts) -> Finding | None:
    knowledge = facts.knowledge
    if hypersensitivity.stops(facts):
        return None   # the order is to be cancelled: an observation order would read as a way to proceed
    service_code = knowledge.protocol.observation.service_code
    if already_ordered(facts, service_code):
        return None
    cite = text.Citations(knowledge)
    minutes, reasons, evidence = required_minutes(facts, cite)
    if covered_by_standing_protocol(knowledge, minutes):
        return None
    vital_signs = text.natural_list(knowledge.protocol.observation.vital_signs)
    note = text.phrase(knowledge, TOPIC, "order_note", drug=facts.drug, minutes=minutes, vital_signs=vital_signs)
    detail = text.compose(
        text.phrase(knowledge, TOPIC, "detail", drug=facts.drug, minutes=minutes, vital_signs=vital_signs),
        text.phrase(knowledge, TOPIC, "why_heading", minutes=minutes) + "\n" + text.bullet_list(reasons),
        text.evidence_block(knowledge, evidence),
        cite.block(),
    )
    return Finding(
        topic=TOPIC,
        indicator="info",
        order=facts.order,
        summary=text.summary(text.phrase(knowledge, TOPIC, "summary", drug=facts.drug, minutes=minutes)),
        detail=detail,
        evidence=tuple(evidence),
        sources=tuple(cite.ids),
        suggestions=(SuggestionSpec(
            label=text.phrase(knowledge, TOPIC, "suggestion_label", minutes=minutes),
            action="create",
            description=note,
            resource=observation_request(facts.ctx, facts.order, service_code, minutes, note,
                                         nurse_note=nurse_note(knowledge)),
            is_recommended=True,
        ),),
    )
