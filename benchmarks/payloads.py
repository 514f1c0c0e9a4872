"""Synthetic, realistic hook payloads for the benchmark (no real patient data).

A patient with a few hundred Observations (weights, labs, pain scores, blood
pressure), several earlier IV-iron infusions (one with infusion pain), drug
allergies and conditions, and a draft ferric carboxymaltose order.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
PATIENT = "bench-patient-1"


def _obs(oid: str, code: str, value: float, unit: str, when: datetime) -> dict:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": f"Patient/{PATIENT}"},
        "effectiveDateTime": when.isoformat(),
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }


def patient_resources(now: datetime, observations: int = 300) -> dict[str, list[dict]]:
    """Resources by prefetch key."""
    start = now - timedelta(days=400)
    step = timedelta(days=400) / observations
    labs, pains, vitals = [], [], []
    for i in range(observations):
        when = start + step * i
        kind = i % 6
        if kind == 0:
            labs.append(_obs(f"hb-{i}", "718-7", 9.5 + (i % 7) * 0.2, "g/dL", when))
        elif kind == 1:
            labs.append(_obs(f"fer-{i}", "2276-4", 20 + i % 40, "ng/mL", when))
        elif kind == 2:
            labs.append(_obs(f"tsat-{i}", "2502-3", 12 + i % 8, "%", when))
        elif kind == 3:
            pains.append(_obs(f"pain-{i}", "72514-3", i % 3, "{score}", when))
        else:
            vitals.append(_obs(f"sbp-{i}", "8480-6", 118 + i % 15, "mm[Hg]", when))
    labs.append(_obs("phos-last", "2777-1", 3.4, "mg/dL", now - timedelta(days=3)))
    weight = [_obs("wt-last", "29463-7", 72.0, "kg", now - timedelta(days=2))]

    administrations = []
    for n in range(6):
        begin = now - timedelta(days=30 * (n + 4))
        administrations.append({
            "resourceType": "MedicationAdministration",
            "id": f"ma-{n}",
            "status": "completed",
            "subject": {"reference": f"Patient/{PATIENT}"},
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "1741267",
                                                      "display": "5 ML iron sucrose 20 MG/ML Injection"}]},
            "effectivePeriod": {"start": begin.isoformat(), "end": (begin + timedelta(minutes=15)).isoformat()},
            "dosage": {"route": {"coding": [{"system": SNOMED, "code": "47625008"}]},
                       "dose": {"value": 100, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}},
        })
    # infusion pain during the most recent infusion
    last = administrations[0]["effectivePeriod"]["start"]
    pains.append(_obs("pain-during", "72514-3", 6, "{score}", datetime.fromisoformat(last) + timedelta(minutes=10)))

    allergies = [
        {"resourceType": "AllergyIntolerance", "id": f"al-{name}", "clinicalStatus": {"coding": [{"code": "active"}]},
         "verificationStatus": {"coding": [{"code": "confirmed"}]}, "category": ["medication"],
         "code": {"text": name}, "patient": {"reference": f"Patient/{PATIENT}"}}
        for name in ("penicillin", "sulfamethoxazole", "codeine")
    ]
    conditions = [
        {"resourceType": "Condition", "id": "cond-ckd", "clinicalStatus": {"coding": [{"code": "active"}]},
         "code": {"coding": [{"system": SNOMED, "code": "709044004", "display": "Chronic kidney disease"}]},
         "subject": {"reference": f"Patient/{PATIENT}"}},
        {"resourceType": "Condition", "id": "cond-asthma", "clinicalStatus": {"coding": [{"code": "active"}]},
         "code": {"coding": [{"system": SNOMED, "code": "195967001", "display": "Asthma"}]},
         "subject": {"reference": f"Patient/{PATIENT}"}},
    ]
    patient = {"resourceType": "Patient", "id": PATIENT, "birthDate": "1958-04-02", "gender": "female"}
    return {
        "patient": [patient],
        "weight": weight,
        "labs": labs,
        "allergies": allergies,
        "conditions": conditions,
        "ironAdministrations": administrations,
        "painScores": pains,
        "vitalSigns": vitals,
        "adverseEvents": [],
    }


def searchset(resources: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources),
            "entry": [{"fullUrl": f"urn:uuid:{uuid.uuid4()}", "resource": r,
                       "search": {"mode": "match"}} for r in resources]}


def draft_order(iv_iron: bool = True) -> dict:
    """The draft: 750 mg ferric carboxymaltose IV, or (``iv_iron=False``) an oral antibiotic, which the
    service answers without reading the history or running a rule."""
    if not iv_iron:
        return {"resourceType": "MedicationRequest", "id": "bench-order-1", "status": "draft", "intent": "order",
                "subject": {"reference": f"Patient/{PATIENT}"},
                "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "308191",
                                                          "display": "amoxicillin 500 MG Oral Capsule"}]}}
    return {
        "resourceType": "MedicationRequest",
        "id": "bench-order-1",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{PATIENT}"},
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": "1435169",
                                                  "display": "15 ML ferric carboxymaltose 50 MG/ML Injection"}]},
        "dosageInstruction": [{
            "route": {"coding": [{"system": SNOMED, "code": "47625008", "display": "Intravenous route"}]},
            "timing": {"repeat": {"count": 1, "duration": 10, "durationUnit": "min"}},
            "doseAndRate": [{"doseQuantity": {"value": 750, "unit": "mg", "system": "http://unitsofmeasure.org",
                                              "code": "mg"}}],
        }],
    }


def small_resources(now: datetime) -> dict[str, list[dict]]:
    """The small request: a weight, one haemoglobin, one ferritin, one allergy, no earlier infusions."""
    return {
        "patient": [{"resourceType": "Patient", "id": PATIENT, "birthDate": "1971-09-12", "gender": "male"}],
        "weight": [_obs("wt-last", "29463-7", 81.0, "kg", now - timedelta(days=5))],
        "labs": [_obs("hb-last", "718-7", 10.1, "g/dL", now - timedelta(days=6)),
                 _obs("fer-last", "2276-4", 35, "ng/mL", now - timedelta(days=6))],
        "allergies": [{"resourceType": "AllergyIntolerance", "id": "al-penicillin",
                       "clinicalStatus": {"coding": [{"code": "active"}]}, "category": ["medication"],
                       "code": {"text": "penicillin"}, "patient": {"reference": f"Patient/{PATIENT}"}}],
        "conditions": [], "ironAdministrations": [], "painScores": [], "vitalSigns": [], "adverseEvents": [],
    }


def hook_body(with_prefetch: bool, fhir_server: str | None = None, now: datetime | None = None,
              observations: int = 300, small: bool = False, iv_iron: bool = True) -> dict:
    """A hook call: ``small`` is one order and a few resources; otherwise the long history with
    ``observations`` Observations (300: about 147 kB; 3,000: about 1.3 MB). ``iv_iron=False`` drafts
    an oral antibiotic instead: what every call costs before any clinical work."""
    now = now or datetime.now(timezone.utc)
    body = {
        "hook": "order-sign",
        "hookInstance": str(uuid.uuid4()),
        "context": {
            "userId": "Practitioner/bench-prac",
            "patientId": PATIENT,
            "encounterId": "bench-enc",
            "draftOrders": {"resourceType": "Bundle", "type": "collection",
                            "entry": [{"resource": draft_order(iv_iron)}]},
        },
    }
    if with_prefetch:
        resources = small_resources(now) if small else patient_resources(now, observations)
        body["prefetch"] = {key: (res[0] if key == "patient" else searchset(res)) for key, res in resources.items()}
    if fhir_server:
        body["fhirServer"] = fhir_server
        body["fhirAuthorization"] = {"access_token": "bench-token", "token_type": "Bearer", "expires_in": 300,
                                     "scope": "patient/*.read", "subject": "iron-cds"}
    return body
