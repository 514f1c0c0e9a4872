"""iron-status: recent labs that argue against giving iron now (no suggestion, a prompt to re-check).

Ferritin at or above the protocol's high threshold *together with* TSAT at or
above its high threshold (iron replete or overloaded), or haemoglobin at or
above the protocol's high threshold. Only results within the protocol's lab
recency window count.
"""

from __future__ import annotations

from cds_service.engine import text
from cds_service.engine.facts import OrderFacts, within_days
from cds_service.engine.model import Evidence, Finding
from cds_service.engine.topics import Topic

TOPIC = Topic("iron-status", rank=70, display="Iron status", protocol_keys=("lab_thresholds",))


def _recent(facts: OrderFacts, name: str, recency: float):
    loinc = facts.knowledge.codes["labs"][name]["loinc"]
    value = facts.patient.labs.get(loinc)
    if value is None or not within_days(value.date, facts.ctx, recency):
        return None
    return value


def check(facts: OrderFacts) -> Finding | None:
    knowledge = facts.knowledge
    recency = float(knowledge.protocol.data_recency_days.labs.value)
    ferritin, tsat, hb = (_recent(facts, n, recency) for n in ("ferritin", "tsat", "hemoglobin"))
    cite = text.Citations(knowledge)
    findings: list[str] = []
    evidence: list[Evidence] = []

    thresholds = knowledge.protocol.lab_thresholds
    ferritin_high, tsat_high = thresholds.ferritin_high_ng_ml, thresholds.tsat_high_percent
    if ferritin and tsat and ferritin.value >= float(ferritin_high.value) and tsat.value >= float(tsat_high.value):
        findings.append(text.phrase(knowledge, TOPIC, "findings", "overload", ferritin=ferritin.value, tsat=tsat.value))
        evidence += [Evidence(text=f"Ferritin {ferritin.value:g} ng/mL", date=ferritin.date,
                              reference=ferritin.reference),
                     Evidence(text=f"TSAT {tsat.value:g}%", date=tsat.date, reference=tsat.reference)]
        cite.add("High ferritin (protocol)", ferritin_high).add("High TSAT (protocol)", tsat_high)
    hb_high = thresholds.hemoglobin_high_g_dl
    if hb and hb.value >= float(hb_high.value):
        findings.append(text.phrase(knowledge, TOPIC, "findings", "hemoglobin", hemoglobin=hb.value))
        evidence.append(Evidence(text=f"Hemoglobin {hb.value:g} g/dL", date=hb.date, reference=hb.reference))
        cite.add("High hemoglobin (protocol)", hb_high)
    if not findings:
        return None
    summary = text.phrase(knowledge, TOPIC, "summary", drug=facts.drug, findings="; ".join(findings))
    detail = text.compose(text.phrase(knowledge, TOPIC, "detail", drug=facts.drug),
                          text.evidence_block(knowledge, evidence), cite.block())
    return Finding(topic=TOPIC, indicator="warning", order=facts.order, summary=text.summary(summary), detail=detail,
                   evidence=tuple(evidence), sources=tuple(cite.ids))
