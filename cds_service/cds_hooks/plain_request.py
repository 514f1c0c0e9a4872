"""The plainly valid hook request, recognised without marshmallow.

marshmallow (schemas.py) defines what a valid hook request is and words every error, but running it
costs a noticeable share of a hook call, and almost every call is plainly valid. ``is_plain_hook_request``
checks the same rules with the same validators (validators.py) in plain Python and answers True only
when marshmallow would accept the body; for anything unusual (a type JSON parsing does not give for
that field, a missing field, a hook without a context schema) it answers False, and the caller runs
marshmallow, which accepts or words the error. True must imply that marshmallow accepts (the property
test in tests/unit/cds_hooks/test_plain_request.py); the reverse is not needed, so when in doubt: False.
"""

from __future__ import annotations

from functools import lru_cache

from marshmallow import ValidationError, validate

from cds_service.cds_hooks.validators import (
    HOOK_INSTANCE_CHARS,
    bearer,
    fhir_id,
    fhir_server,
    reference,
    seconds,
)
from cds_service.fhir.ids import other_patient_test

# The hooks with a context schema in schemas.CONTEXT_SCHEMAS (order-select: OrderSelectContextSchema).
HOOKS = ("order-sign", "order-select")

# What fields.Url(schemes={"http", "https"}, require_tld=False) puts first among fhirServer's validators.
URL = validate.URL(relative=False, absolute=True, schemes={"http", "https"}, require_tld=False)


def _passes(validator, value) -> bool:
    try:
        validator(value)
    except ValidationError:
        return False
    return True


def _is_id(value) -> bool:
    return type(value) is str and _passes(fhir_id, value)


def _is_reference(value) -> bool:
    return type(value) is str and _passes(reference, value)


def is_plain_hook_request(body) -> bool:
    """True only when HookRequestSchema and the hook's context schema would both accept ``body``."""
    if type(body) is not dict:
        return False
    hook, instance, context = body.get("hook"), body.get("hookInstance"), body.get("context")
    return (type(hook) is str and hook in HOOKS
            and type(instance) is str and 0 < len(instance) <= HOOK_INSTANCE_CHARS
            and _plain_server_and_token(body.get("fhirServer"), body.get("fhirAuthorization"))
            and _plain_prefetch(body.get("prefetch"))
            and type(context) is dict and _plain_context(context, hook == "order-select"))


def _plain_server_and_token(server, token) -> bool:
    if server is None:
        return token is None   # a token needs a server (CDS Hooks cds-r-1)
    return (type(server) is str and _plain_server(server)
            and (token is None or type(token) is dict and _plain_token(token)))


@lru_cache(maxsize=64)
def _plain_server(server: str) -> bool:
    # Both checks are pure functions of the string, and fhir_server prepares the URL as requests will
    # (the dearest rule of all): judged once per fhirServer, of which a deployment sees a few.
    return server != "" and _passes(URL, server) and _passes(fhir_server, server)


def _plain_token(token: dict) -> bool:
    expires, patient = token.get("expires_in"), token.get("patient")
    kind, access = token.get("token_type"), token.get("access_token")
    return (type(access) is str and access != ""
            and type(kind) is str and _passes(bearer, kind)
            and ("expires_in" not in token or expires is not None and _passes(seconds, expires))
            and type(token.get("scope")) is str and type(token.get("subject")) is str
            and (patient is None or _is_id(patient)))


def _plain_prefetch(prefetch) -> bool:
    if prefetch is None:
        return True
    return type(prefetch) is dict and all(
        type(key) is str and (value is None or type(value) is dict)
        for key, value in prefetch.items())


def _plain_context(context: dict, select: bool) -> bool:
    patient_id, encounter, drafts = context.get("patientId"), context.get("encounterId"), context.get("draftOrders")
    if not (_is_reference(context.get("userId")) and _is_id(patient_id) and (encounter is None or _is_id(encounter))
            and type(drafts) is dict and type(drafts.get("resourceType")) is str
            and drafts["resourceType"] == "Bundle"):
        return False
    entries = drafts["entry"] if "entry" in drafts else []
    drafted = _plain_entries(entries, patient_id) if type(entries) is list else None
    if drafted is None:
        return False
    if not select:
        return True
    selections = context.get("selections")
    return (type(selections) is list and len(selections) > 0
            and all(_is_reference(selection) and selection in drafted for selection in selections))


def _plain_entries(entries: list, patient_id: str) -> set[str] | None:
    """``Type/id`` of every draft order (the targets selections may name), or None unless every entry is
    plainly valid and names no patient but ``patient_id``."""
    drafted = set()
    names_other = other_patient_test(patient_id)
    for entry in entries:
        resource = entry.get("resource") if type(entry) is dict else None
        if type(resource) is not dict:
            return None
        kind, rid = resource.get("resourceType"), resource.get("id")
        if not (type(kind) is str and kind != "" and (rid is None or _is_id(rid))
                and names_other(resource) is None):
            return None
        if rid is not None:   # marshmallow would also match "Type/None" for an order without id: we say False
            drafted.add(f"{kind}/{rid}")
    return drafted
