"""Sort reaction manifestations into infusion pain, moderate and severe, and grade a reaction.

Codes and keywords come from ``codes.manifestations`` (infusion_pain, moderate,
severe). Grading follows ASH 2023 / Rampton and respects the clinician's record: any
severe feature (anaphylaxis, hypotension, bronchospasm, stridor, throat
tightness, angioedema, loss of consciousness) or a reaction recorded as severe
or high-criticality is severe; moderate features (wheeze among them) or a
reaction recorded as moderate are moderate; pain, flushing or myalgia alone is
benign infusion pain; anything else is a mild hypersensitivity reaction. A
record is never graded below what the clinician wrote.

Free-text keywords go through the negation rule (``negation.py``): "no
anaphylaxis" or "denies flushing" is not a manifestation; codes are never negated.
"""

from __future__ import annotations

from cds_service.engine.compiled import per_knowledge
from cds_service.engine.fhir_values import codings, concept_label, concept_texts, system_kind
from cds_service.engine.negation import KeywordFinder, negation_rules_for

GROUPS = {"infusion_pain": "pain", "moderate": "moderate", "severe": "severe"}
# Words saying "a reaction happened" without saying which; used for stop reasons and records
# that name an iron product without coded manifestations. Knowledge may extend them with
# codes.manifestations.mild.keywords.
REACTION_WORDS = ("reaction", "allergic", "allergy", "hypersensitivity", "adverse", "intolerance", "sensitivity")

CLASS_RANK = {"pain": 0, "moderate": 1, "severe": 2}
RANK = {("infusion-pain", "mild"): 0, ("hypersensitivity", "mild"): 1,
        ("hypersensitivity", "moderate"): 2, ("hypersensitivity", "severe"): 3}


class Classifier:
    def __init__(self, knowledge) -> None:
        manifestations = knowledge.codes.get("manifestations") if isinstance(knowledge.codes, dict) else None
        manifestations = manifestations if isinstance(manifestations, dict) else {}
        self.codes: dict[str, str] = {}
        keys: list[tuple[str, tuple[str, str]]] = []   # (keyword, (class, keyword))
        for group, cls in GROUPS.items():
            spec = manifestations.get(group) or {}
            for code in spec.get("snomed") or {}:
                previous = self.codes.get(str(code))   # a code listed in two groups takes the graver class
                if previous is None or CLASS_RANK[cls] > CLASS_RANK[previous]:
                    self.codes[str(code)] = cls
            for word in spec.get("keywords") or ():
                if isinstance(word, str):
                    keys.append((word, (cls, word)))
        rules = negation_rules_for(knowledge)
        self.finder: KeywordFinder[tuple[str, str]] = KeywordFinder(keys, rules)
        mild = manifestations.get("mild") or {}
        reaction_words = (*REACTION_WORDS, *(mild.get("keywords") or ()))
        self.reaction_finder: KeywordFinder[
            str] = KeywordFinder(((w, w) for w in reaction_words if isinstance(w, str)), rules)

    def _scan(self, texts: list[str]) -> tuple[dict[str, list[str]], bool]:
        """(classes of the affirmed keywords, whether some keyword was mentioned only negated)."""
        found: dict[str, list[str]] = {}
        negated = False
        for text in texts:
            affirmed, denied = self.finder.find(text)
            negated = negated or bool(denied)
            for cls, word in affirmed:
                if word not in found.get(cls, ()):
                    found.setdefault(cls, []).append(word)
        return found, negated

    def classify_texts(self, texts: list[str]) -> dict[str, list[str]]:
        return self._scan(texts)[0]

    def classify_concepts(self, concepts: list[object]) -> dict[str, list[str]]:
        """Classes of each manifestation concept; a concept nothing recognises counts as "other"."""
        found: dict[str, list[str]] = {}
        for concept in concepts:
            hits: dict[str, list[str]] = {}
            for coding in codings(concept):
                code = coding.get("code")
                if isinstance(code,
                              str) and system_kind(coding.get("system")) in ("snomed", None) and code in self.codes:
                    label = coding.get("display") if isinstance(coding.get("display"), str) else code
                    hits.setdefault(self.codes[code], []).append(label.lower())
            from_text, negated = self._scan(concept_texts(concept))
            for cls, words in from_text.items():
                hits.setdefault(cls, []).extend(w for w in words if w not in hits.get(cls, ()))
            if not hits and not negated:   # "no anaphylaxis" says what did not happen: not an unknown feature
                label = concept_label(concept)
                if label:
                    hits["other"] = [label.lower()]
            for cls, words in hits.items():
                found.setdefault(cls, []).extend(w for w in words if w not in found.get(cls, ()))
        return found

    def says_reaction(self, texts: list[str]) -> bool:
        """Whether the text says a reaction happened ("allergic reaction"; not "no reaction")."""
        return any(self.reaction_finder.affirmed(t) for t in texts)


def merge(*found: dict[str, list[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for item in found:
        for cls, words in item.items():
            out.setdefault(cls, []).extend(w for w in words if w not in out.get(cls, ()))
    return out


def grade(found: dict[str, list[str]], severity: str | None = None,
          criticality: str | None = None) -> tuple[str, str, tuple[str, ...]]:
    """(kind, severity, features) of one reaction.

    The record is respected and never read down: a reaction is severe when it shows airway,
    breathing or circulation involvement (the ``severe`` manifestations), or when the clinician
    recorded it as severe (``reaction.severity``, an AdverseEvent severity or seriousness) or
    high-criticality, whatever else it says. Recorded "moderate" or a moderate feature (wheeze,
    urticaria, dyspnoea...) is at least moderate; pain, flushing or myalgia alone is infusion pain.
    """
    severity = severity.lower() if isinstance(severity, str) else None
    high = isinstance(criticality, str) and criticality.lower() == "high"
    others = tuple(found.get("moderate", []) + found.get("other", []) + found.get("pain", []))
    if found.get("severe"):
        return "hypersensitivity", "severe", tuple(found["severe"])
    if severity == "severe":
        return "hypersensitivity", "severe", ("recorded as severe", *others)
    if high:
        return "hypersensitivity", "severe", ("criticality high", *others)
    if found.get("moderate"):
        return "hypersensitivity", "moderate", others
    if severity == "moderate":
        return "hypersensitivity", "moderate", ("recorded as moderate", *others)
    if found.get("pain") and not found.get("other"):
        return "infusion-pain", "mild", tuple(found["pain"])
    return "hypersensitivity", "mild", others


def worse(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """Whether (kind, severity) ``a`` is graver than ``b``."""
    return RANK.get(a, 1) > RANK.get(b, 1)




classifier_for = per_knowledge(Classifier)
