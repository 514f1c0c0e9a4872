"""How an IV order says the dose is given: "push" (slow injection), "infusion", or None (not said).

The words and SNOMED method codes come from ``codes.administration_methods``
(groups ``push`` and ``infusion``). Read from the first dosage: its method, route
and free text (text, additional instructions, patient instruction). A bag named in
the text ("in 100 mL", "in 250 mL NaCl") is an infusion. A coded method wins over
words. When the order says both (e.g. "slow IV push in 100 mL"), it says neither
for certain: None, and the rate check then accepts any method the label allows.
"""

from __future__ import annotations

import re

from cds_service.engine.compiled import per_knowledge
from cds_service.engine.fhir_values import codings, concept_texts, items, normalize_text, phrase_key, system_kind

# "in 100 mL", "in 250 ml of sodium chloride": a diluent volume, so the dose is infused.
_BAG = re.compile(r" in (?:a )?\d+(?: \d+)? ?ml ")
METHODS = ("push", "infusion")
# The bag in the prescriber's own words: "in 250 mL", "in 100 ml NaCl 0.9%".
_BAG_VOLUME = re.compile(r"\bin\s+(?:a\s+)?(\d{1,4}(?:\.\d+)?)\s*ml\b", re.IGNORECASE)


def dosage_words(dosage: dict) -> list[str]:
    """Every free text of a Dosage that may say how it is given."""
    texts = list(concept_texts(dosage.get("method"))) + list(concept_texts(dosage.get("route")))
    for key in ("text", "patientInstruction"):
        if isinstance(dosage.get(key), str):
            texts.append(dosage[key])
    for instruction in items(dosage.get("additionalInstruction")):
        texts.extend(concept_texts(instruction))
    return texts


class MethodMatcher:
    def __init__(self, knowledge) -> None:
        groups = knowledge.codes.get("administration_methods") if isinstance(knowledge.codes, dict) else None
        groups = groups if isinstance(groups, dict) else {}
        self.codes: dict[str, set[str]] = {}
        self.keys: dict[str, list[str]] = {}
        for method in METHODS:
            spec = groups.get(method) if isinstance(groups.get(method), dict) else {}
            self.codes[method] = {str(c) for c in (spec.get("snomed") or {})}
            self.keys[method] = [phrase_key(k) for k in spec.get("keywords") or () if isinstance(k, str)]

    def classify(self, dosage: object) -> str | None:
        if not isinstance(dosage, dict):
            return None
        coded = {m for m in METHODS for c in codings(dosage.get("method"))
                 if system_kind(c.get("system")) in ("snomed", None) and str(c.get("code")) in self.codes[m]}
        if len(coded) == 1:
            return coded.pop()
        text = " ".join(normalize_text(t) for t in dosage_words(dosage))
        said = {m for m in METHODS if any(k in text for k in self.keys[m])}
        if _BAG.search(text):
            said.add("infusion")
        return said.pop() if len(said) == 1 else None


method_matcher_for = per_knowledge(MethodMatcher)


def bag_volume_ml(dosage: object) -> float | None:
    """The diluent bag the dosage text names ("in 250 mL"), in mL; None when it names none or several."""
    text = dosage.get("text") if isinstance(dosage, dict) else None
    if not isinstance(text, str):
        return None
    volumes = {float(m.group(1)) for m in _BAG_VOLUME.finditer(text[:2000])}
    return volumes.pop() if len(volumes) == 1 else None


def first_dosage(resource: object) -> dict:
    dosages = resource.get("dosageInstruction") if isinstance(resource, dict) else None
    return dosages[0] if isinstance(dosages, list) and dosages and isinstance(dosages[0], dict) else {}


def order_method(order, knowledge) -> str | None:
    """"push", "infusion" or None (not stated, or stated both ways) for an IronOrder."""
    return method_matcher_for(knowledge).classify(first_dosage(order.resource))
