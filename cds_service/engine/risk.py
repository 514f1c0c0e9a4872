"""Risk factors for a reaction to IV iron (Rampton 2014; EMA 2013), from ``codes.risk_factors``.

Conditions and allergy records match by SNOMED code, ICD-10 prefix or keyword;
the pregnancy-status Observation by its answer, coded or in words, as ``pregnancy_text.py``
reads it. Multiple drug allergies (>= ``protocol.multiple_drug_allergies_min`` current
allergy-type records to
distinct drugs other than IV iron; intolerances and records showing only
non-immune side effects such as nausea or constipation are not allergies) and
older age (>= ``protocol.older_age_years``) *with* cardiac or
respiratory disease are risk factors; cardiac or respiratory disease alone is
not. Refuted, entered-in-error, inactive or resolved records do not count.
Keywords in free text go through the negation rule (``negation.py``): "no
asthma" or "not pregnant" is not a risk factor; codes are never negated.
"""

from __future__ import annotations

from datetime import timedelta

from cds_service.engine.compiled import per_knowledge
from cds_service.engine.fhir_values import (
    as_aware,
    coded,
    codings,
    concept_label,
    concept_texts,
    counts_as_current,
    day,
    icd10_bare,
    normalize_text,
    parse_when,
    reference_of,
    system_kind,
)
from cds_service.engine.identify import matcher_for
from cds_service.engine.model import EvaluationContext, Evidence, RiskFactor
from cds_service.engine.negation import KeywordFinder, negation_rules_for
from cds_service.engine.observations import ObservationIndex
from cds_service.engine.pregnancy_text import PREGNANT
from cds_service.engine.pregnancy_text import reader_for as pregnancy_reader_for

# Only with older age (not a risk factor alone).
WITH_AGE_ONLY = ("cardiac_disease", "respiratory_disease")


class RiskMatcher:
    def __init__(self, knowledge) -> None:
        raw = knowledge.codes.get("risk_factors") if isinstance(knowledge.codes, dict) else None
        self.specs: dict[str, dict] = raw if isinstance(raw, dict) else {}
        self.snomed: dict[str, str] = {}
        self.icd10: list[tuple[str, str]] = []
        keys: list[tuple[str, str]] = []
        for key, spec in self.specs.items():
            if not isinstance(spec, dict):
                continue
            for code in spec.get("snomed") or {}:
                self.snomed[str(code)] = key
            for prefix in spec.get("icd10_prefixes") or ():
                self.icd10.append((icd10_bare(str(prefix)), key))
            for word in spec.get("keywords") or ():
                if isinstance(word, str):
                    keys.append((word, key))
        self.finder: KeywordFinder[str] = KeywordFinder(keys, negation_rules_for(knowledge))
        side = knowledge.codes.get("non_immune_reactions") if isinstance(knowledge.codes, dict) else None
        side = side if isinstance(side, dict) else {}
        self.side_effect_codes = {str(c) for c in side.get("snomed") or {}}
        words = ((w, w) for w in side.get("keywords") or () if isinstance(w, str))
        self.side_effects: KeywordFinder[str] = KeywordFinder(words,
                                                              negation_rules_for(knowledge))

    def non_immune(self, concept: object) -> bool:
        """Whether a manifestation is a known non-immune side effect (nausea, constipation)."""
        if any(isinstance(c.get("code"), str) and c["code"] in self.side_effect_codes
               and system_kind(c.get("system")) in ("snomed", None) for c in codings(concept)):
            return True
        return any(self.side_effects.affirmed(t) for t in concept_texts(concept))

    def label(self, key: str) -> str:
        spec = self.specs.get(key) or {}
        return spec.get("label") or key.replace("_", " ")

    def match(self, concept: object) -> set[str]:
        keys: set[str] = set()
        for kind, code in coded(concept):
            if kind == "snomed" and code in self.snomed:
                keys.add(self.snomed[code])
            elif kind == "icd10":
                keys.update(key for prefix, key in self.icd10 if code.startswith(prefix))
        for text in concept_texts(concept):
            keys.update(self.finder.affirmed(text))
        return keys


def _record_hits(record, matcher: RiskMatcher) -> dict[str, list[Evidence]]:
    hits: dict[str, list[Evidence]] = {}
    for rtype, what in (("Condition", "Problem"), ("AllergyIntolerance", "Allergy record")):
        for resource in record.of_type(rtype):
            if not isinstance(resource, dict) or not counts_as_current(resource):
                continue
            keys = matcher.match(resource.get("code"))
            if not keys:
                continue
            date = next((resource[k] for k in ("onsetDateTime", "recordedDate") if isinstance(resource.get(k), str)),
                        None)
            label = concept_label(resource.get("code")) or "record"
            evidence = Evidence(f"{what}: {label}" + (f" (since {day(date)})" if date else ""), date,
                                reference_of(resource))
            for key in keys:
                hits.setdefault(key, []).append(evidence)
    return hits


def _pregnancy_status(index: ObservationIndex, knowledge, matcher: RiskMatcher,
                      ctx: EvaluationContext) -> Evidence | None:
    code = ((knowledge.codes.get("labs") or {}).get("pregnancy_status") or {}).get("loinc")
    if not code:
        return None
    latest = None
    for obs in index.resources(code):
        when = obs.get("effectiveDateTime") or obs.get("issued")
        moment = parse_when(when)
        if moment is not None and (latest is None or moment > latest[0]):
            latest = (moment, when, obs)
    if latest is None:
        return None
    moment, when, obs = latest
    max_days = float(knowledge.protocol.data_recency_days.pregnancy.value)
    if as_aware(ctx.now) - moment > timedelta(days=max_days):
        return None
    reading, label = pregnancy_reader_for(knowledge).value(obs)   # coded or in words, as pregnancy.py reads it
    if reading != PREGNANT:
        return None
    return Evidence(f"Pregnancy status: {label} ({day(when)})", when, reference_of(obs))


def _manifestation_concepts(allergy: dict) -> list[object]:
    reactions = allergy.get("reaction") if isinstance(allergy.get("reaction"), list) else []
    out: list[object] = []
    for reaction in reactions:
        if isinstance(reaction, dict) and isinstance(reaction.get("manifestation"), list):
            out.extend(reaction["manifestation"])
    return out


def _is_allergy(allergy: dict, matcher: "RiskMatcher") -> bool:
    """An allergy-type record: not ``type: intolerance``, and not a record whose every manifestation
    is a non-immune side effect (codeine nausea, ferrous sulfate constipation). A record that names
    no manifestation counts (the cautious reading)."""
    if str(allergy.get("type") or "").lower() == "intolerance":
        return False
    manifestations = _manifestation_concepts(allergy)
    return not manifestations or not all(matcher.non_immune(m) for m in manifestations)


def _names_iv_iron(iron, code: object) -> bool:
    identity = iron.identify([code]) if isinstance(code, dict) else None
    if identity is not None:
        return not (identity.oral and not identity.injectable_code)
    return any(iron.names_in(t) or iron.class_in(t) for t in concept_texts(code))


def _drug_allergies(record, knowledge, matcher: "RiskMatcher") -> list[Evidence]:
    """Current allergy-type medication records, one per distinct substance (distinct drugs).

    Records to IV iron are left out: an earlier reaction to IV iron is graded and carded on its own
    (hypersensitivity-history), and counting it again here would double it."""
    categories = set(knowledge.codes.get("drug_allergy_categories") or ("medication",))
    iron = matcher_for(knowledge)
    seen: dict[str, Evidence] = {}
    for allergy in record.of_type("AllergyIntolerance"):
        if not isinstance(allergy, dict) or not counts_as_current(allergy) or not _is_allergy(allergy, matcher):
            continue
        category = allergy.get("category") if isinstance(allergy.get("category"), list) else []
        code = allergy.get("code")
        is_drug = (bool(categories & set(category))
                   or any(system_kind(c.get("system")) == "rxnorm" for c in codings(code)))
        if not is_drug or _names_iv_iron(iron, code):
            continue
        coded = sorted(f"{c.get('system')}|{c.get('code')}" for c in codings(code) if isinstance(c.get("code"), str))
        label = concept_label(code)
        substance = coded[
            0] if coded else (normalize_text(label) if label else reference_of(allergy) or str(id(allergy)))
        if substance not in seen:
            seen[substance] = Evidence(f"Drug allergy: {label or 'unnamed substance'}", allergy.get("recordedDate")
                                       if isinstance(allergy.get("recordedDate"), str) else None, reference_of(allergy))
    return list(seen.values())


def read_risk_factors(record, knowledge, index: ObservationIndex, age: int | None,
                      ctx: EvaluationContext) -> list[RiskFactor]:
    matcher = risk_matcher_for(knowledge)
    hits = _record_hits(record, matcher)
    pregnant = _pregnancy_status(index, knowledge, matcher, ctx)
    if pregnant is not None:
        hits.setdefault("pregnancy", []).append(pregnant)
    factors = [RiskFactor(key, matcher.label(key), tuple(evidence))
               for key, evidence in hits.items() if key not in WITH_AGE_ONLY]
    minimum = int(knowledge.protocol.multiple_drug_allergies_min.value)
    allergies = _drug_allergies(record, knowledge, matcher)
    if len(allergies) >= minimum:
        factors.append(RiskFactor("multiple_drug_allergies", f"multiple drug allergies ({len(allergies)})",
                                  tuple(allergies)))
    older = int(knowledge.protocol.older_age_years.value)
    comorbid = [key for key in WITH_AGE_ONLY if key in hits]
    if age is not None and age >= older and comorbid:
        diseases = " and ".join(matcher.label(k) for k in comorbid)
        evidence = (Evidence(f"Age {age} years (>= {older})", None, reference_of(record.patient or {})),
                    *(e for k in comorbid for e in hits[k]))
        factors.append(RiskFactor("older_age_cardiorespiratory", f"age {age} with {diseases}", evidence))
    order = list(matcher.specs)
    factors.sort(key=lambda f: order.index(f.code) if f.code in order else len(order))
    return factors




risk_matcher_for = per_knowledge(RiskMatcher)


def pregnant_answer_for(knowledge):
    """A predicate: whether a concept (a status answer, a problem) means "pregnant" (risk_factors.pregnancy)."""
    matcher = risk_matcher_for(knowledge)
    return lambda concept: "pregnancy" in matcher.match(concept)
