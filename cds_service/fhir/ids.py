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
