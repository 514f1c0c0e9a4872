"""Small builders of FHIR R4 resources for the synthetic fixtures (plain dicts)."""

from __future__ import annotations

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
FIXTURE_IDENTIFIER = "urn:iron-cds:fixture"

# One vial / product concept per IV iron (RxNorm SCD codes, see shared/reference/iv-iron-knowledge.md Part 0).
PRODUCTS = {
    "iron_sucrose": ("1741261", "10 ML iron sucrose 20 MG/ML Injection"),
    "ferric_carboxymaltose": ("1435169", "15 ML ferric carboxymaltose 50 MG/ML Injection"),
    "ferric_derisomaltose": ("2274408", "10 ML ferric derisomaltose 100 MG/ML Injection"),
    "ferumoxytol": ("860605", "17 ML ferumoxytol 30 MG/ML Injection"),
    "sodium_ferric_gluconate": ("242761", "5 ML sodium ferric gluconate complex 12.5 MG/ML Injection"),
    "iron_dextran": ("311144", "2 ML iron-dextran complex 50 MG/ML Injection"),
}
# Ingredient (IN) codes, used where a record names the substance rather than a product.
INGREDIENTS = {
    "iron_sucrose": ("24909", "iron sucrose"),
    "ferric_carboxymaltose": ("1433693", "ferric carboxymaltose"),
    "ferumoxytol": ("473387", "ferumoxytol"),
    "iron_dextran": ("5992", "iron-dextran complex"),
}
IV_ROUTE = {"coding": [{"system": SNOMED, "code": "47625008", "display": "Intravenous route"}], "text": "Intravenous"}
ORAL_ROUTE = {"coding": [{"system": SNOMED, "code": "26643006", "display": "Oral route"}], "text": "Oral"}


def ref(resource_type: str, rid: str) -> dict:
    return {"reference": f"{resource_type}/{rid}"}


def concept(system: str, code: str, display: str, text: str | None = None) -> dict:
    out = {"coding": [{"system": system, "code": code, "display": display}]}
    if text:
        out["text"] = text
    return out


def patient(pid: str, scenario: str, birth_date: str, gender: str) -> dict:
    return {
        "resourceType": "Patient",
        "id": pid,
        "meta": {"tag": [{"system": FIXTURE_IDENTIFIER, "code": "synthetic", "display": "Synthetic test data"}]},
        "identifier": [{"system": FIXTURE_IDENTIFIER, "value": pid}],
        "active": True,
        "name": [{"use": "official", "family": "Fixture", "given": [scenario.replace("-", " ").title()],
                  "text": f"Fixture {scenario} (synthetic)"}],
        "gender": gender,
        "birthDate": birth_date,
    }


def observation(oid: str, pid: str, loinc: str, display: str, value: float, unit: str, when: str,
                category: str = "laboratory", part_of: str | None = None) -> dict:
    obs = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [concept(OBS_CATEGORY, category, {"laboratory": "Laboratory", "vital-signs": "Vital Signs",
                                                       "survey": "Survey"}[category])],
        "code": concept(LOINC, loinc, display),
        "subject": ref("Patient", pid),
        "effectiveDateTime": when,
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
    }
    if part_of:
        obs["partOf"] = [{"reference": part_of}]
    return obs


def weight(oid, pid, kg, when):
    return observation(oid, pid, "29463-7", "Body weight", kg, "kg", when, "vital-signs")


def hemoglobin(oid, pid, value, when):
    return observation(oid, pid, "718-7", "Hemoglobin [Mass/volume] in Blood", value, "g/dL", when)


def ferritin(oid, pid, value, when):
    return observation(oid, pid, "2276-4", "Ferritin [Mass/volume] in Serum or Plasma", value, "ng/mL", when)


def tsat(oid, pid, value, when):
    return observation(oid, pid, "2502-3", "Iron saturation [Mass Fraction] in Serum or Plasma", value, "%", when)


def phosphate(oid, pid, value, when):
    return observation(oid, pid, "2777-1", "Phosphate [Mass/volume] in Serum or Plasma", value, "mg/dL", when)


def gestational_age(oid, pid, weeks, when):
    return observation(oid, pid, "49051-6", "Gestational age in weeks", weeks, "wk", when, "survey")


def dated_observation(oid: str, pid: str, loinc: str, display: str, value: str, when: str) -> dict:
    """An Observation whose value is a date (last menstrual period 8665-2, estimated delivery date 11778-8)."""
    obs = observation(oid, pid, loinc, display, 0, "1", when, "survey")
    del obs["valueQuantity"]
    obs["valueDateTime"] = value
    return obs


def text_observation(oid: str, pid: str, loinc: str, display: str, words: str, when: str) -> dict:
    """An Observation whose value is written in words (valueString): a gestational age or a pregnancy status."""
    obs = observation(oid, pid, loinc, display, 0, "1", when, "survey")
    del obs["valueQuantity"]
    obs["valueString"] = words
    return obs


def pain_score(oid, pid, score, when, part_of=None):
    obs = observation(oid, pid, "72514-3", "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
                      score, "{score}", when, "survey", part_of)
    obs["valueQuantity"] = {"value": score, "unit": "{score}", "system": UCUM, "code": "{score}"}
    return obs


def blood_pressure(oid: str, pid: str, systolic: int, diastolic: int, when: str, part_of: str | None = None) -> dict:
    obs = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [concept(OBS_CATEGORY, "vital-signs", "Vital Signs")],
        "code": concept(LOINC, "85354-9", "Blood pressure panel with all children optional"),
        "subject": ref("Patient", pid),
        "effectiveDateTime": when,
        "component": [
            {"code": concept(LOINC, "8480-6", "Systolic blood pressure"),
             "valueQuantity": {"value": systolic, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}},
            {"code": concept(LOINC, "8462-4", "Diastolic blood pressure"),
             "valueQuantity": {"value": diastolic, "unit": "mmHg", "system": UCUM, "code": "mm[Hg]"}},
        ],
    }
    if part_of:
        obs["partOf"] = [{"reference": part_of}]
    return obs


def administration(aid: str, pid: str, product: str, dose_mg: float, start: str, end: str,
                   status: str = "completed", stop_reason: str | None = None, note: str | None = None) -> dict:
    code, display = PRODUCTS[product]
    admin = {
        "resourceType": "MedicationAdministration",
        "id": aid,
        "status": status,
        "medicationCodeableConcept": concept(RXNORM, code, display, display),
        "subject": ref("Patient", pid),
        "effectivePeriod": {"start": start, "end": end},
        "dosage": {"route": IV_ROUTE, "dose": {"value": dose_mg, "unit": "mg", "system": UCUM, "code": "mg"}},
    }
    if stop_reason:
        admin["statusReason"] = [{"text": stop_reason}]
    if note:
        admin["note"] = [{"text": note}]
    return admin


def allergy(aid: str, pid: str, substance: tuple[str, str, str], *, kind: str, criticality: str,
            severity: str, manifestations: list[tuple[str | None, str]], onset: str,
            verification: str = "confirmed", clinical: str = "active", description: str | None = None) -> dict:
    """``substance`` = (system, code, display); a manifestation = (SNOMED code or None, text)."""
    system, code, display = substance
    reaction = {
        "substance": concept(system, code, display),
        "manifestation": [
            concept(SNOMED, c, text) if c else {"text": text} for c, text in manifestations
        ],
        "severity": severity,
        "onset": onset,
        "exposureRoute": IV_ROUTE if system == RXNORM else None,
        "description": description,
    }
    allergy_resource = {
        "resourceType": "AllergyIntolerance",
        "id": aid,
        "clinicalStatus": concept("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                  clinical, clinical.title()),
        "verificationStatus": concept("http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                                      verification, verification.title()),
        "type": kind,
        "category": ["medication"],
        "criticality": criticality,
        "code": concept(system, code, display, display),
        "patient": ref("Patient", pid),
        "recordedDate": onset,
        "reaction": [{k: v for k, v in reaction.items() if v is not None}],
    }
    return allergy_resource


def drug_allergy(aid: str, pid: str, code: str, display: str, manifestation: tuple[str, str], onset: str) -> dict:
    """A non-iron drug allergy (counts towards 'multiple drug allergies')."""
    return allergy(aid, pid, (RXNORM, code, display), kind="allergy", criticality="low", severity="mild",
                   manifestations=[manifestation], onset=onset)


def condition(cid: str, pid: str, snomed: str, display: str, icd10: str, onset: str) -> dict:
    return {
        "resourceType": "Condition",
        "id": cid,
        "clinicalStatus": concept("http://terminology.hl7.org/CodeSystem/condition-clinical", "active", "Active"),
        "verificationStatus": concept("http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                      "confirmed", "Confirmed"),
        "category": [concept("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item",
                             "Problem List Item")],
        "code": {"coding": [{"system": SNOMED, "code": snomed, "display": display},
                            {"system": ICD10, "code": icd10, "display": display}], "text": display},
        "subject": ref("Patient", pid),
        "onsetDateTime": onset,
    }


def adverse_event(eid: str, pid: str, snomed: str, display: str, when: str, suspect: str,
                  severity: str, serious: bool) -> dict:
    return {
        "resourceType": "AdverseEvent",
        "id": eid,
        "actuality": "actual",
        "event": concept(SNOMED, snomed, display, display),
        "subject": ref("Patient", pid),
        "date": when,
        "seriousness": concept("http://terminology.hl7.org/CodeSystem/adverse-event-seriousness",
                               "serious" if serious else "non-serious", "Serious" if serious else "Non-serious"),
        "severity": concept("http://terminology.hl7.org/CodeSystem/adverse-event-severity", severity,
                            severity.title()),
        "suspectEntity": [{"instance": {"reference": suspect}}],
    }


def iron_order(rid: str, pid: str, product: str, dose_mg: float, minutes: float | None, *,
               encounter: str = "icds-encounter", by_name: str | None = None, text: str | None = None,
               method: dict | None = None) -> dict:
    """A draft IV-iron MedicationRequest; ``by_name`` sends only free text (no code); ``text`` replaces the
    dosage text ("100 mg into the venous line over 2 min, undiluted"); ``method`` is Dosage.method."""
    code, display = PRODUCTS[product]
    medication = {"text": by_name} if by_name else concept(RXNORM, code, display, display)
    dosage = {
        "text": text or (f"{dose_mg:g} mg IV" + (f" over {minutes:g} minutes" if minutes else "")),
        "route": IV_ROUTE,
        "doseAndRate": [{"doseQuantity": {"value": dose_mg, "unit": "mg", "system": UCUM, "code": "mg"}}],
    }
    if method is not None:
        dosage["method"] = method
    if minutes is not None:
        dosage["timing"] = {"repeat": {"count": 1, "duration": minutes, "durationUnit": "min"}}
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": medication,
        "subject": ref("Patient", pid),
        "encounter": ref("Encounter", encounter),
        "authoredOn": "2026-11-25",
        "dosageInstruction": [dosage],
    }


def drug_order(rid: str, pid: str, code: str, display: str, dose: float, unit: str, route: dict,
               text: str, *, encounter: str = "icds-encounter") -> dict:
    """A draft order for something that is not IV iron (oral iron, antibiotics, premedication)."""
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": concept(RXNORM, code, display, display),
        "subject": ref("Patient", pid),
        "encounter": ref("Encounter", encounter),
        "authoredOn": "2026-11-25",
        "dosageInstruction": [{
            "text": text,
            "route": route,
            "doseAndRate": [{"doseQuantity": {"value": dose, "unit": unit, "system": UCUM, "code": unit}}],
        }],
    }


def observation_order(rid: str, pid: str, iron_order_id: str, minutes: int, *,
                      encounter: str = "icds-encounter") -> dict:
    """The post-infusion observation ServiceRequest, as if accepted from our card at order-select."""
    return {
        "resourceType": "ServiceRequest",
        "id": rid,
        "identifier": [{"system": "urn:iron-cds:suggested-order", "value": f"observation-period/{iron_order_id}"}],
        "status": "draft",
        "intent": "order",
        "code": concept(SNOMED, "61746007", "Taking patient vital signs (procedure)",
                        f"Observe for {minutes} minutes after the iron infusion: blood pressure and pulse"),
        "subject": ref("Patient", pid),
        "encounter": ref("Encounter", encounter),
        "authoredOn": "2026-11-25",
        "basedOn": [{"reference": f"MedicationRequest/{iron_order_id}"}],
    }
