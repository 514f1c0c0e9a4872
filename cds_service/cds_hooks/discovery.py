"""The service we advertise at ``GET /cds-services``, with its prefetch templates.

One service id serves both order-select and order-sign, so an EHR replaces the
cards it showed at selection with the ones we return at signing (CDS Hooks 2.0
"stale guidance"). Templates use only 2.0 tokens (``{{context.patientId}}``)
and are narrow (code filters, ``_sort``, ``_count``) so EHRs send little.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, current_app, jsonify

from cds_service import HOOKS, SERVICE_IDS
from cds_service.engine.observations import READ_STATUS
from cds_service.fhir.templates import PREFETCH_KEYS
from cds_service.trust import auth

LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


@dataclass(frozen=True)
class PrefetchKey:
    key: str
    template: str
    # What the checks lose when this key's data is missing is wording: history-unavailable's
    # ``missing_data`` in cards/wording.yaml (check-knowledge asks for one line per key).


def _codes(system: str, codes: list[str]) -> str:
    return ",".join(f"{system}|{code}" for code in codes)


def prefetch_keys(knowledge) -> tuple[PrefetchKey, ...]:
    """Build the templates from the reviewed code sets, so they never drift apart."""
    labs = knowledge.codes["labs"]
    weight_code = labs["body_weight"]["loinc"]
    lab_codes = [labs[name]["loinc"] for name in ("hemoglobin", "ferritin", "tsat", "phosphate", "pregnancy_status")]
    # Pregnancy dating (gestational age, last menstrual period, due date) for the patient-suitability card.
    timing = knowledge.codes.get("pregnancy_timing") or {}
    lab_codes += [str(c) for key in ("gestational_age", "lmp", "edd") for c in timing.get(key) or ()]
    pain_codes = list(knowledge.codes["pain_score_loinc"])
    vital_codes = [knowledge.codes["vitals"][name] for name in ("bp_panel", "systolic")]
    iron_codes = sorted(
        code
        for product in knowledge.products.values()
        for code, tty in product.rxnorm.items()
        if tty in ("IN", "SCD", "SBD")
    )
    pid = "{{context.patientId}}"
    templates = {
        "patient": f"Patient/{pid}",
        # The newest few weights of a status the reader uses: with the newest alone, a newer entered-in-error
        # (or cancelled) weight, or a server that ignores the status filter, would hide the valid one.
        "weight": (f"Observation?patient={pid}&code={_codes(LOINC, [weight_code])}&status={','.join(READ_STATUS)}"
                   "&_sort=-date&_count=3"),
        "labs": f"Observation?patient={pid}&code={_codes(LOINC, lab_codes)}&_sort=-date&_count=50",
        "allergies": f"AllergyIntolerance?patient={pid}",
        "conditions": f"Condition?patient={pid}&clinical-status=active",
        "ironAdministrations": (f"MedicationAdministration?patient={pid}&code={_codes(RXNORM, iron_codes)}"
                                "&_sort=-effective-time&_count=50"),
        "painScores": f"Observation?patient={pid}&code={_codes(LOINC, pain_codes)}&_sort=-date&_count=100",
        "vitalSigns": f"Observation?patient={pid}&code={_codes(LOINC, vital_codes)}&_sort=-date&_count=100",
        # subject may name a Patient, Group, Practitioner..: a bare id is ambiguous and some servers
        # (Medplum, our test server) then match nothing, so say which type we mean.
        "adverseEvents": f"AdverseEvent?subject=Patient/{pid}",
    }
    return tuple(PrefetchKey(key, templates[key]) for key in PREFETCH_KEYS)


def service_definitions(knowledge) -> list[dict]:
    prefetch = {p.key: p.template for p in prefetch_keys(knowledge)}
    return [
        {
            "hook": hook,
            "id": SERVICE_IDS[hook],
            "title": "IV iron order check",
            "description": (
                "Checks intravenous iron orders (iron sucrose, ferric carboxymaltose, ferric derisomaltose, "
                "ferumoxytol, sodium ferric gluconate, iron dextran) against the product label and the "
                "patient's history: dose, infusion rate, test dose, earlier infusion pain or hypersensitivity, "
                "risk factors and the post-infusion observation period."
            ),
            "prefetch": prefetch,
            "usageRequirements": (
                "Send draft MedicationRequests in context.draftOrders; a fhirServer with fhirAuthorization "
                "lets the service read what the EHR did not prefetch."
            ),
        }
        for hook in HOOKS
    ]


bp = Blueprint("discovery", __name__)


@bp.get("/cds-services")
def discovery():
    auth.authenticate("discovery")
    return jsonify({"services": current_app.extensions["iron_cds"].discovery})
