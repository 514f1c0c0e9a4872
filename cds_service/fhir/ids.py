"""The one home of the FHIR id and reference rules for ids the EHR sends us.

Ids end up in FHIR URLs with the EHR's access token, so only FHIR id characters
(letters, digits, ``-``, ``.``) get in, and never ``.`` or ``..``, which a server
(or an HTTP client) reads as "this folder" or "the folder above": patientId
``..`` would otherwise read fhirServer's base with the token. The length cap is
generous on purpose: FHIR R4 says 64, but EHRs send longer ids (the CDS Hooks
specification's own order-select example uses 200-character Epic ids), and
refusing them loses every call from such an EHR.
"""

from __future__ import annotations

import re

MAX_ID_CHARS = 256
MAX_TYPE_CHARS = 64

_ID_CHARS = re.compile(r"[A-Za-z0-9\-.]+")
_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")

# The same rules for JSON Schema (openapi.json), without look-ahead so that schema-driven fuzzers can
# generate matching strings: at least one character that is not a dot, or three dots and more.
_ID_BODY = r"(?:[A-Za-z0-9\-.]*[A-Za-z0-9\-][A-Za-z0-9\-.]*|\.{3,})"
ID_JSON_SCHEMA = {"pattern": f"^{_ID_BODY}$", "minLength": 1, "maxLength": MAX_ID_CHARS}
REFERENCE_JSON_SCHEMA = {"pattern": f"^[A-Z][A-Za-z]{{1,63}}/{_ID_BODY}$",
                         "maxLength": MAX_TYPE_CHARS + 1 + MAX_ID_CHARS}

ID_RULE = f"letters, digits, '-' and '.', at most {MAX_ID_CHARS}, not '.' or '..'"


def is_fhir_id(value: object) -> bool:
    # Length first: the pattern then never runs on more than MAX_ID_CHARS characters.
    return (isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS and value not in (".", "..")
            and _ID_CHARS.fullmatch(value) is not None)


def split_reference(value: object) -> tuple[str, str] | None:
    """``Type/id`` -> (type, id) when both follow the rules, else None."""
    if not isinstance(value, str):
        return None
    resource_type, slash, rid = value.partition("/")
    if not slash or not _TYPE.fullmatch(resource_type) or not is_fhir_id(rid):
        return None
    return resource_type, rid


def referenced_patient(reference: object) -> str | None:
    """The id of the Patient a FHIR Reference names (``Patient/1``, an absolute URL, ``.../_history/2``),
    else None (no reference, a contained ``#id``, another resource type, or an unreadable one)."""
    ref = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(ref, str) or len(ref) > 4096:
        return None
    parts = ref.strip().split("?", 1)[0].rstrip("/").split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1]:
        return parts[-1]
    return None


# Where resources name their patient: ``subject`` (R4 orders, observations, conditions, events),
# ``patient`` (AllergyIntolerance; DSTU2 MedicationOrder).
PATIENT_FIELDS = ("subject", "patient")


def other_patient_test(patient_id: str):
    """A test for resources of one patient: it gives the field of a resource that names a patient other than
    ``patient_id`` (a Patient resource: its ``id``), else None; a resource that names no patient is not
    "another patient's". Made once per call or record, so the usual ``{"reference": "Patient/<id>"}`` is
    decided by one comparison, without parsing it."""
    own = f"Patient/{patient_id}" if is_fhir_id(patient_id) else None   # ids without / ? or spaces only

    def names_other(resource: object) -> str | None:
        if not isinstance(resource, dict):
            return None
        if resource.get("resourceType") == "Patient":
            rid = resource.get("id")
            return "id" if isinstance(rid, str) and rid != patient_id else None
        for field in PATIENT_FIELDS:
            value = resource.get(field)
            if value is None or (own is not None and type(value) is dict and value.get("reference") == own):
                continue
            named = referenced_patient(value)
            if named is not None and named != patient_id:
                return field
        return None

    return names_other
