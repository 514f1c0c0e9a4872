"""Hook requests and draft orders as an EHR sends them, for tests to build on."""

from __future__ import annotations

import json
import uuid

from cds_service import LEGACY_SERVICE_ID, SERVICE_IDS
from support.paths import FIXTURES

# The unlisted legacy id answers both hooks, so tests that vary the hook post here; hook_url() gives the
# id discovery lists for one hook.
HOOK_URL = f"/cds-services/{LEGACY_SERVICE_ID}"


def hook_url(hook: str) -> str:
    return f"/cds-services/{SERVICE_IDS[hook]}"


def medication_request(rid="mr-1", *, code="1435169", display="15 ML ferric carboxymaltose 50 MG/ML Injection",
                       dose_mg=750, minutes=15, route="IV", patient="pat-1", rate=None):
    """A draft MedicationRequest as an EHR sends it (R4): the one draft-order builder of the tests.

    ``route``: the route's text beside its SNOMED code (None: the code alone); ``rate``: (value, UCUM unit).
    """
    resource = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient}"},
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": code, "display": display}],
            "text": display,
        },
        "dosageInstruction": [{
            "route": {"coding": [{"system": "http://snomed.info/sct", "code": "47625008",
                                  "display": "Intravenous route"}]},
            "doseAndRate": [{"doseQuantity": {"value": dose_mg, "unit": "mg", "system": "http://unitsofmeasure.org",
                                              "code": "mg"}}],
        }],
    }
    if route is not None:
        resource["dosageInstruction"][0]["route"]["text"] = route
    if minutes is not None:
        resource[
            "dosageInstruction"][0]["timing"] = {"repeat": {"count": 1, "duration": minutes, "durationUnit": "min"}}
    if rate is not None:
        value, unit = rate
        resource["dosageInstruction"][0]["doseAndRate"][0]["rateQuantity"] = {
            "value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit}
    return resource


def hook_request(*resources, hook="order-sign", prefetch=None, patient="pat-1", **extra):
    """A CDS Hooks 2.0 request carrying ``resources`` as the draft orders."""
    context = {
        "userId": "Practitioner/prac-1",
        "patientId": patient,
        "encounterId": "enc-1",
        "draftOrders": {"resourceType": "Bundle", "type": "collection",
                        "entry": [{"resource": r} for r in resources]},
    }
    if hook == "order-select":
        context["selections"] = [f"{r['resourceType']}/{r['id']}" for r in resources]
    body = {"hook": hook, "hookInstance": str(uuid.uuid4()), "context": context}
    if prefetch is not None:
        body["prefetch"] = prefetch
    body.update(extra)
    return body


def load_fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())
