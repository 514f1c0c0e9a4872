"""The field rules of a hook request, shared by the marshmallow schemas (schemas.py, which word every
error) and the plain-request check (plain_request.py, which only says yes or "ask marshmallow").

One home, so that the two can never disagree on what a valid id, reference, fhirServer or token is.
Each raises marshmallow's ValidationError; messages name the rule, never echo the value.
"""

from __future__ import annotations

import re

from marshmallow import ValidationError

from cds_service.fhir.ids import ID_RULE, is_fhir_id, split_reference
from cds_service.fhir.urls import parse_base

HOOK_INSTANCE_CHARS = 200


# Ids end up in FHIR URLs with the EHR's token: their rules live in fhir/ids.py (one home).
def fhir_id(value: str) -> None:
    if not is_fhir_id(value):
        raise ValidationError(f"must be a FHIR id ({ID_RULE})")


def reference(value: str) -> None:
    if split_reference(value) is None:
        raise ValidationError(f"must be a reference of the form Type/id (id: {ID_RULE})")


def fhir_server(value: str) -> None:
    # The reads parse it the same way: what passes here is what the token will be sent to.
    if parse_base(value) is None:
        raise ValidationError("must be a plain http(s) URL (no user info, query, fragment, backslash or dot segment)")


_SECONDS = re.compile(r"\s*\d{1,12}(\.\d{1,6})?\s*")


def seconds(value) -> None:
    if isinstance(value, bool) or not (isinstance(value, (int, float)) and value == value and abs(value) != float("inf")
                                       or isinstance(value, str) and _SECONDS.fullmatch(value)):
        raise ValidationError("must be a number of seconds")


def bearer(value: str) -> None:
    if value.lower() != "bearer":
        raise ValidationError("must be 'Bearer'")


def object_or_null(value) -> None:
    if value is not None and not isinstance(value, dict):
        raise ValidationError("must be an object or null")
