"""The route of a dosage: intravenous, plainly not intravenous, or not stated.

SNOMED codes and keywords come from ``codes.routes`` (group ``iv``; every other
group, e.g. ``oral``, ``intramuscular``, ``subcutaneous``, is non-IV). A code
wins over free text. A route that is stated but recognised by nothing stays
"unknown": the order keeps its card (with the problem said) rather than losing
it on a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.engine.compiled import per_knowledge
from cds_service.engine.fhir_values import codings, concept_texts, normalize_text, phrase_key, system_kind


@dataclass(frozen=True)
class RouteReading:
    route: str           # "iv", "non-iv" or "unknown"
    text: str | None     # the route as the order states it
    stated: bool         # whether any route was given at all


class RouteMatcher:
    def __init__(self, knowledge) -> None:
        routes = knowledge.codes.get("routes") if isinstance(knowledge.codes, dict) else None
        routes = routes if isinstance(routes, dict) else {}
        self.iv_codes: set[str] = set()
        self.non_iv_codes: set[str] = set()
        self.iv_keys: list[str] = []
        self.non_iv_keys: list[str] = []
        self.groups: dict[str, tuple[set[str], list[str]]] = {}   # group -> its codes and keywords
        for group, spec in routes.items():
            if not isinstance(spec, dict):
                continue
            codes = {str(c) for c in (spec.get("snomed") or {})}
            keys = [phrase_key(k) for k in spec.get("keywords") or () if isinstance(k, str)]
            self.groups[group] = (codes, keys)
            if group == "iv":
                self.iv_codes |= codes
                self.iv_keys += keys
            else:
                self.non_iv_codes |= codes
                self.non_iv_keys += keys

    def classify(self, concept: object) -> RouteReading:
        texts = concept_texts(concept)
        label = texts[0] if texts else None
        stated = bool(texts) or bool(codings(concept))
        for coding in codings(concept):
            code = coding.get("code")
            if isinstance(code, str) and system_kind(coding.get("system")) in ("snomed", None):
                if code in self.iv_codes:
                    return RouteReading("iv", label or code, True)
                if code in self.non_iv_codes:
                    return RouteReading("non-iv", label or code, True)
        padded = [normalize_text(t) for t in texts]
        iv = any(k in t for t in padded for k in self.iv_keys)
        non_iv = any(k in t for t in padded for k in self.non_iv_keys)
        if iv != non_iv:  # both ("subcutaneous infusion") is a contradiction: left unknown
            return RouteReading("iv" if iv else "non-iv", label, True)
        if not label:
            label = next((c["code"] for c in codings(concept) if isinstance(c.get("code"), str)), None)
        return RouteReading("unknown", label, stated)

    def in_group(self, concept: object, group: str) -> bool:
        """The route is in the route group ``group`` by a code (of any system) or a keyword."""
        codes, keys = self.groups.get(group, (set(), []))
        if any(c.get("code") in codes for c in codings(concept)):
            return True
        return any(k in normalize_text(t) for t in concept_texts(concept) for k in keys)




route_matcher_for = per_knowledge(RouteMatcher)
