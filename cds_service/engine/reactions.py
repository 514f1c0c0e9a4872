"""Earlier reactions to IV iron: from allergy, adverse-event and problem records, stopped
administrations, and observations around earlier infusions (``infusion_window.py``).

Free text is read as well as codes: an allergy recorded only as text ("anaphylaxis to Venofer
2019" in ``code.text``, or in a note) is graded from that text, and a completed administration
whose note records a hypersensitivity reaction (moderate or severe features: "anaphylaxis,
adrenaline given", "hives and wheeze") counts although the infusion was not stopped; a note of
mild pain or flushing on a completed infusion does not (pain scores say that, with their threshold).

A record counts only when it is linked to an iron product (by code or name) or
to IV iron as a class ("IV iron"), and only while it is current: refuted,
entered-in-error, inactive or resolved records do not count.
"""

from __future__ import annotations

from cds_service.engine.fhir_values import (
    codings,
    concept_label,
    concept_texts,
    counts_as_current,
    day,
    normalize_text,
    notes_text,
    reference_of,
    reference_target,
)
from cds_service.engine.identify import matcher_for
from cds_service.engine.infusion_window import hypotension_reactions, pain_reactions
from cds_service.engine.manifestations import classifier_for, grade, merge
from cds_service.engine.model import Administration, Evidence, Reaction
from cds_service.engine.observations import ObservationIndex
from cds_service.engine.order import identify_medication, medication_index


def _first_date(resource: dict, *keys: str) -> str | None:
    for key in keys:
        value = resource.get(key)
        if isinstance(value, str):
            return value
        if isinstance(value, dict) and isinstance(value.get("start"), str):
            return value["start"]
    return None


def _link(concepts: list[object], texts: list[str], knowledge) -> tuple[bool, str | None]:
    """(linked to IV iron, product key) from concepts (codes and names) and free text (names)."""
    matcher = matcher_for(knowledge)
    for concept in concepts:
        if isinstance(concept, dict):
            identity = matcher.identify([concept])
            if identity is not None and not (identity.oral and not identity.injectable_code):
                return True, identity.product_key
    for text in texts:
        names = matcher.names_in(text)
        if len(names) == 1:
            return True, next(iter(names))
        if names or matcher.class_in(text):
            return True, None
    return False, None


def _severity_word(texts: list[str]) -> str | None:
    """"severe" / "moderate" / "mild" named in a severity concept ("Severe (severity modifier)")."""
    padded = " ".join(normalize_text(t) for t in texts)
    return next((w for w in ("severe", "moderate", "mild") if f" {w} " in padded), None)


def _serious(concept: object, knowledge) -> bool:
    """Whether an AdverseEvent.seriousness names a serious event (codes.adverse_event_serious)."""
    spec = knowledge.codes.get("adverse_event_serious") if isinstance(knowledge.codes, dict) else None
    serious = {str(c).lower() for c in (spec or {}).get("codes") or ()}
    return any(isinstance(c.get("code"), str) and c["code"].lower() in serious for c in codings(concept))


def _reaction(found, severity, criticality, product_key, text, date, reference) -> Reaction:
    kind, grade_severity, features = grade(found, severity, criticality)
    shown = f": {', '.join(features)}" if features else ""
    return Reaction(kind=kind, severity=grade_severity, product_key=product_key,
                    evidence=(Evidence(f"{text}{shown}", date, reference),), date=date, features=features)


def _name(knowledge, product_key: str | None, fallback: str | None) -> str:
    product = knowledge.products.get(product_key) if product_key else None
    return product.display if product else (fallback or "IV iron")


def allergy_reactions(record, knowledge) -> list[Reaction]:
    classifier = classifier_for(knowledge)
    out = []
    for allergy in record.of_type("AllergyIntolerance"):
        if not isinstance(allergy, dict) or not counts_as_current(allergy):
            continue
        reactions = [r for r in allergy.get("reaction") or () if isinstance(r, dict)] \
            if isinstance(allergy.get("reaction"), list) else []
        linked, product_key = _link([allergy.get("code"), *(r.get("substance") for r in reactions)],
                                    concept_texts(allergy.get("code")), knowledge)
        if not linked:
            continue
        # the record's own words: "anaphylaxis to Venofer 2019" as the code's text, or a note
        found: dict[str, list[str]] = classifier.classify_texts(concept_texts(allergy.get("code"))
                                                                + notes_text(allergy))
        severities = []
        for reaction in reactions:
            manifestations = reaction.get("manifestation") if isinstance(reaction.get("manifestation"), list) else []
            texts = [reaction["description"]] if isinstance(reaction.get("description"), str) else []
            found = merge(found, classifier.classify_concepts(manifestations), classifier.classify_texts(texts))
            if isinstance(reaction.get("severity"), str):
                severities.append(reaction["severity"].lower())
        severity = next((s for s in ("severe", "moderate", "mild") if s in severities), None)
        date = _first_date(allergy, "onsetDateTime", "onsetPeriod", "lastOccurrence", "recordedDate") \
            or next((r["onset"] for r in reactions if isinstance(r.get("onset"), str)), None)
        label = _name(knowledge, product_key, concept_label(allergy.get("code")))
        text = f"Allergy/intolerance record to {label}" + (f" ({day(date)})" if date else "")
        out.append(_reaction(found, severity, allergy.get("criticality"), product_key, text, date,
                             reference_of(allergy)))
    return out


def adverse_event_reactions(record, knowledge, admins_by_ref: dict[str, Administration]) -> list[Reaction]:
    classifier = classifier_for(knowledge)
    medications = medication_index(record, [])
    out = []
    for event in record.of_type("AdverseEvent"):
        if not isinstance(event, dict) or event.get("actuality") == "potential":
            continue
        linked, product_key = False, None
        for suspect in event.get("suspectEntity") or () if isinstance(event.get("suspectEntity"), list) else ():
            instance = suspect.get("instance") if isinstance(suspect, dict) else None
            rtype, rid = reference_target(instance)
            if rtype == "MedicationAdministration" and f"{rtype}/{rid}" in admins_by_ref:
                linked, product_key = True, admins_by_ref[f"{rtype}/{rid}"].product_key
            elif rtype == "Medication" or rtype == "#":
                found = identify_medication({"medicationReference": instance, "contained": event.get("contained")},
                                            medications, knowledge)
                if found is not None:
                    linked, product_key = True, found[0].product_key
            elif isinstance(instance, dict) and isinstance(instance.get("display"), str):
                linked, product_key = _link([], [instance["display"]], knowledge)
            if linked:
                break
        if not linked:
            linked, product_key = _link([], concept_texts(event.get("event")), knowledge)
        if not linked:
            continue
        found = classifier.classify_concepts([event.get("event")] if isinstance(event.get("event"), dict) else [])
        severity_codes = [c["code"].lower() for c in codings(event.get("severity")) if isinstance(c.get("code"), str)]
        severity = next((c for c in severity_codes if c in ("mild", "moderate", "severe")), None) \
            or _severity_word(concept_texts(event.get("severity")))
        if _serious(event.get("seriousness"), knowledge):
            severity = "severe"   # the reporter called the event serious: never read it down
        date = _first_date(event, "date", "detected", "recordedDate")
        text = f"Adverse event after {_name(knowledge, product_key, None)}" + (f" ({day(date)})" if date else "")
        out.append(_reaction(found, severity, None, product_key, text, date, reference_of(event)))
    return out


def condition_reactions(record, knowledge, admins_by_ref: dict[str, Administration]) -> list[Reaction]:
    classifier = classifier_for(knowledge)
    out = []
    for condition in record.of_type("Condition"):
        if not isinstance(condition, dict) or not counts_as_current(condition):
            continue
        concepts = [condition.get("code")]
        linked_admin = None
        for evidence in condition.get("evidence") or () if isinstance(condition.get("evidence"), list) else ():
            if not isinstance(evidence, dict):
                continue
            if isinstance(evidence.get("code"), list):
                concepts += [c for c in evidence["code"] if isinstance(c, dict)]
            for detail in evidence.get("detail") or () if isinstance(evidence.get("detail"), list) else ():
                rtype, rid = reference_target(detail)
                linked_admin = linked_admin or admins_by_ref.get(f"{rtype}/{rid}")
        texts = [t for c in concepts for t in concept_texts(c)]
        if linked_admin is not None:
            linked, product_key = True, linked_admin.product_key
        else:
            linked, product_key = _link([], texts, knowledge)
        if not linked:
            continue
        found = classifier.classify_texts(texts)
        if not found and not classifier.says_reaction(texts):
            continue   # a problem that names iron but no reaction (e.g. "iron deficiency treated with Venofer")
        severity = _severity_word(concept_texts(condition.get("severity")))
        date = _first_date(condition, "onsetDateTime", "onsetPeriod", "recordedDate")
        text = f"Problem-list entry '{concept_label(condition.get('code')) or 'reaction'}'"
        if date:
            text += f" ({day(date)})"
        out.append(_reaction(found, severity, None, product_key, text, date, reference_of(condition)))
    return out


def stopped_administration_reactions(knowledge, admins: list[Administration]) -> list[Reaction]:
    classifier = classifier_for(knowledge)
    out = []
    for admin in admins:
        if not admin.stop_reason:
            continue
        texts = [admin.stop_reason]
        found = classifier.classify_texts(texts)
        interrupted = admin.stopped or admin.status == "on-hold"
        if not interrupted:
            if not (found.get("moderate") or found.get("severe")):
                continue   # given in full: only a note of a true hypersensitivity reaction counts
        elif not found and not classifier.says_reaction(texts):
            continue   # stopped for another reason (line lost, patient left)
        verb = {"not-done": "not given", "on-hold": "paused"}.get(admin.status or "", "stopped") \
            if interrupted else "given"
        name = _name(knowledge, admin.product_key, None)
        given = "infusion" if admin.route == "iv" else f"{admin.route} injection"
        text = f"{name} {given} on {day(admin.date)} {verb} ('{admin.stop_reason}')"
        out.append(_reaction(found, None, None, admin.product_key, text, admin.date, admin.reference))
    return out


def read_reactions(record, knowledge, index: ObservationIndex, admins: list[Administration]) -> list[Reaction]:
    admins_by_ref = {a.reference: a for a in admins if a.reference}
    return [
        *pain_reactions(index, knowledge, admins),
        *hypotension_reactions(index, knowledge, admins),
        *stopped_administration_reactions(knowledge, admins),
        *allergy_reactions(record, knowledge),
        *adverse_event_reactions(record, knowledge, admins_by_ref),
        *condition_reactions(record, knowledge, admins_by_ref),
    ]
