"""CDS Hooks 2.0 request validation (marshmallow): hook calls and feedback.

We check strictly what we rely on (identifiers that go into FHIR URLs, the
draft-order Bundle's shape, the token bundle) and let everything else through:
the spec allows extensions, and EHR data we only read is parsed leniently later.
Error messages name the field but never echo the value (it may be a token or an
identifier). Loaders return the caller's own data, not a re-serialised copy.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from cds_service.cds_hooks.errors import ApiError
from cds_service.cds_hooks.plain_request import is_plain_hook_request
from cds_service.cds_hooks.request_body import read_json_body  # noqa: F401  (hooks.py and feedback.py import it from here)
from cds_service.cds_hooks.validators import (
    HOOK_INSTANCE_CHARS,
    bearer,
    fhir_id,
    fhir_server,
    object_or_null,
    reference,
    seconds,
)
from cds_service.fhir.ids import other_patient_test

_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})")

MAX_FEEDBACK_ITEMS = 1000


def _rfc3339(value: str) -> None:
    if not _RFC3339.fullmatch(value):
        raise ValidationError("must be an RFC 3339 date-time with a time zone, e.g. 2021-12-11T10:05:31Z")
    try:
        normalise_timestamp(value)
    except (ValueError, OverflowError):   # e.g. 30 February, or year 1 moved back across midnight to UTC
        raise ValidationError("is not a valid date-time") from None


class _Lenient(Schema):
    class Meta:
        unknown = EXCLUDE   # extensions and FHIR elements we do not read are fine


# --- hook requests ------------------------------------------------------------------------------
class FhirAuthorizationSchema(_Lenient):
    access_token = fields.String(required=True, validate=validate.Length(min=1))
    token_type = fields.String(required=True, validate=bearer)
    # Never used by us: lenient (EHRs send "600"); only a value that is not a number of seconds at all is refused.
    # REQUIRED in CDS Hooks 2.0, but the CDS Hooks sandbox copies it from its OAuth token response, where it is
    # only RECOMMENDED (RFC 6749), and so leaves it out when its server gave none: refusing the call for a field
    # we never read would lose every check. Absent is fine; present, it must still be a number of seconds.
    expires_in = fields.Raw(validate=seconds)
    scope = fields.String(required=True)
    subject = fields.String(required=True)
    patient = fields.String(allow_none=True, validate=fhir_id)


class ResourceSchema(_Lenient):
    resourceType = fields.String(required=True, validate=validate.Length(min=1))
    id = fields.String(allow_none=True, validate=fhir_id)


class BundleEntrySchema(_Lenient):
    resource = fields.Nested(ResourceSchema, required=True)


class DraftOrdersSchema(_Lenient):
    resourceType = fields.String(required=True, validate=validate.Equal("Bundle", error="must be 'Bundle'"))
    entry = fields.List(fields.Nested(BundleEntrySchema))


class OrderSignContextSchema(_Lenient):
    userId = fields.String(required=True, validate=reference)
    patientId = fields.String(required=True, validate=fhir_id)
    encounterId = fields.String(allow_none=True, validate=fhir_id)
    draftOrders = fields.Nested(DraftOrdersSchema, required=True)

    @validates_schema(pass_original=True)
    def _orders_are_for_this_patient(self, data, original, **kwargs):
        # An order for another patient, checked against this patient's history, is checked against
        # the wrong history: a severe reaction on record would go unseen.
        entries = original["draftOrders"].get("entry") or []
        names_other = other_patient_test(data["patientId"])
        for index, entry in enumerate(entries):
            field = names_other(entry["resource"])
            if field is not None:
                raise ValidationError({"draftOrders": {"entry": {index: {"resource": {
                    field: ["names another patient than context.patientId"]}}}}})


class OrderSelectContextSchema(OrderSignContextSchema):
    selections = fields.List(fields.String(validate=reference), required=True,
                             validate=validate.Length(min=1, error="must name at least one draft order"))

    @validates_schema
    def _selections_point_into_draft_orders(self, data, **kwargs):
        drafted = {
            f"{entry['resource']['resourceType']}/{entry['resource'].get('id')}"
            for entry in data["draftOrders"].get("entry") or []
        }
        for index, selection in enumerate(data["selections"]):
            if selection not in drafted:
                raise ValidationError({"selections": {index: ["does not point to a resource in draftOrders"]}})


class HookRequestSchema(_Lenient):
    hook = fields.String(required=True, validate=validate.Length(min=1, max=100))
    hookInstance = fields.String(required=True, validate=validate.Length(min=1, max=HOOK_INSTANCE_CHARS))
    fhirServer = fields.Url(allow_none=True, schemes={"http", "https"}, require_tld=False, validate=fhir_server)
    fhirAuthorization = fields.Nested(FhirAuthorizationSchema, allow_none=True)
    context = fields.Dict(required=True)
    prefetch = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True, validate=object_or_null),
                           allow_none=True)

    @validates_schema
    def _token_needs_a_server(self, data, **kwargs):
        # CDS Hooks invariant cds-r-1: fhirAuthorization only together with fhirServer
        if data.get("fhirAuthorization") is not None and not data.get("fhirServer"):
            raise ValidationError({"fhirServer": ["is required when fhirAuthorization is present"]})


CONTEXT_SCHEMAS = {
    "order-select": OrderSelectContextSchema(),
    "order-sign": OrderSignContextSchema(),
}
_HOOK_REQUEST = HookRequestSchema()


def load_hook_request(body: dict, config) -> dict:
    """Validate a hook call; returns ``body`` itself. Unknown hooks pass (the caller refuses them)."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    check_hook_request_limits(body, config)
    refuse_cds_hooks_1(body)
    if is_plain_hook_request(body):   # the same rules, checked without marshmallow's cost: True only if it accepts
        return body
    _load(_HOOK_REQUEST, body)
    context_schema = CONTEXT_SCHEMAS.get(body["hook"])
    if context_schema is not None:
        _load(context_schema, body["context"], prefix="context")
    return body


CDS_HOOKS_1 = ("this is a CDS Hooks 1.0 request ({found}); this service speaks CDS Hooks 2.0, which expects hook "
               "'order-select' or 'order-sign' with context.userId, context.patientId and context.draftOrders "
               "(a Bundle of the draft orders; order-select also context.selections)")


def refuse_cds_hooks_1(body: dict) -> None:
    """One 400 that says what a CDS Hooks 1.0 request is and what 2.0 expects, instead of a field-by-field error."""
    context = body.get("context") if isinstance(body.get("context"), dict) else {}
    # A 2.0 request that also carries a stray 1.0 field is still read as 2.0: only the 1.0 shape is refused.
    found = [name for name, present in (
        ("hook 'medication-prescribe'", body.get("hook") == "medication-prescribe"),
        ("top-level 'user' instead of context.userId", "user" in body and "userId" not in context),
        ("context.medications instead of context.draftOrders",
         "medications" in context and "draftOrders" not in context),
    ) if present]
    if found:
        raise ApiError(400, CDS_HOOKS_1.format(found=", ".join(found)))


def check_hook_request_limits(body: dict, config) -> None:
    """Refuse oversized order sets and prefetch before any further work is spent on them."""
    context = body.get("context")
    draft_orders = context.get("draftOrders") if isinstance(context, dict) else None
    entries = draft_orders.get("entry") if isinstance(draft_orders, dict) else None
    if isinstance(entries, list) and len(entries) > config.max_draft_orders:
        raise ApiError(413, f"too many draft orders: at most {config.max_draft_orders} are accepted",
                       field="context.draftOrders.entry")
    prefetch = body.get("prefetch")
    if isinstance(prefetch, dict):
        total = sum(
            len(value["entry"])
            for value in prefetch.values()
            if isinstance(value, dict) and isinstance(value.get("entry"), list)
        )
        if total > config.max_prefetch_entries:
            raise ApiError(413, f"too many prefetch entries: at most {config.max_prefetch_entries} in all",
                           field="prefetch")


# --- feedback -----------------------------------------------------------------------------------
class CodingSchema(_Lenient):
    code = fields.String(required=True, validate=validate.Length(min=1, max=100))
    system = fields.String(required=True, validate=validate.Length(min=1, max=200))
    display = fields.String(allow_none=True)


MAX_USER_COMMENT = 2000   # characters; longer is refused (400), never cut: what the clinician wrote is kept whole


class OverrideReasonSchema(_Lenient):
    reason = fields.Nested(CodingSchema, allow_none=True)
    userComment = fields.String(allow_none=True, validate=validate.Length(
        max=MAX_USER_COMMENT, error=f"must be at most {MAX_USER_COMMENT} characters"))


class AcceptedSuggestionSchema(_Lenient):
    id = fields.String(required=True, validate=validate.Length(min=1, max=200))


class FeedbackItemSchema(_Lenient):
    card = fields.String(required=True, validate=validate.Length(min=1, max=64))
    outcome = fields.String(required=True, validate=validate.OneOf(["accepted", "overridden"],
                                                                   error="must be 'accepted' or 'overridden'"))
    acceptedSuggestions = fields.List(fields.Nested(AcceptedSuggestionSchema), allow_none=True)
    overrideReason = fields.Nested(OverrideReasonSchema, allow_none=True)
    outcomeTimestamp = fields.String(required=True, validate=_rfc3339)

    @validates_schema
    def _accepted_names_suggestions(self, data, **kwargs):
        if data["outcome"] == "accepted" and data.get("acceptedSuggestions") is None:
            raise ValidationError({"acceptedSuggestions": ["is required when the outcome is 'accepted'"]})


class FeedbackRequestSchema(_Lenient):
    feedback = fields.List(fields.Nested(FeedbackItemSchema), required=True,
                           validate=validate.Length(min=1, max=MAX_FEEDBACK_ITEMS,
                                                    error=f"must hold 1 to {MAX_FEEDBACK_ITEMS} items"))


_FEEDBACK_REQUEST = FeedbackRequestSchema()


def load_feedback(body: dict) -> list[dict]:
    """Validated feedback items, each with ``outcomeTimestamp`` normalised to UTC (``...Z``)."""
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    _load(_FEEDBACK_REQUEST, body)
    items = []
    for item in body["feedback"]:
        normalised = dict(item)
        normalised["outcomeTimestamp"] = normalise_timestamp(item["outcomeTimestamp"])
        items.append(normalised)
    return items


def normalise_timestamp(value: str) -> str:
    """One spelling per instant, so a resent item with another offset is still the same item."""
    instant = _parse_timestamp(value).astimezone(timezone.utc)
    spec = "microseconds" if instant.microsecond else "seconds"
    return instant.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _parse_timestamp(value: str) -> datetime:
    text = value.upper().replace("Z", "+00:00")
    match = re.fullmatch(r"(.*?\.\d{1,6})\d*([+-]\d{2}:\d{2})", text)
    if match:  # RFC 3339 allows nanoseconds; Python keeps microseconds
        text = match.group(1) + match.group(2)
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError("no time zone")
    return parsed


# --- errors -------------------------------------------------------------------------------------
_PLAIN = {
    "Missing data for required field.": "is required",
    "Not a valid string.": "must be a string",
    "Not a valid integer.": "must be an integer",
    "Invalid input type.": "must be an object",
    "Not a valid mapping type.": "must be an object",
    "Not a valid list.": "must be a list",
    "Not a valid URL.": "must be an absolute http(s) URL",
    "Field may not be null.": "may not be null",
}


def _load(schema: Schema, data, prefix: str = "") -> None:
    try:
        schema.load(data)
    except ValidationError as exc:
        path, message = first_error(exc.messages, prefix)
        raise ApiError(400, f"{path or 'request body'} {message}", field=path or None) from None


def first_error(messages, prefix: str = "") -> tuple[str, str]:
    """The first error marshmallow reports, as a dotted path (``a.b[0].c``) and a plain message.

    marshmallow reports fields in declaration order, so "first" is stable for a given input.
    """
    while isinstance(messages, dict) and messages:
        key, messages = next(iter(messages.items()))
        if key == "_schema":
            continue
        if isinstance(key, int):
            prefix = f"{prefix}[{key}]"
        elif key in ("key", "value"):
            continue  # a Dict field's key/value layer (no schema of ours has fields by these names)
        else:
            prefix = f"{prefix}.{key}" if prefix else str(key)
    if isinstance(messages, list) and messages:
        message = messages[0]
        if isinstance(message, (dict, list)):
            return first_error(message, prefix)
        text = str(message)
        if text.startswith("Length must be") or text.startswith("Shorter than") or text.startswith("Longer than"):
            text = "has the wrong length: " + text[0].lower() + text[1:].rstrip(".")
        return prefix, _PLAIN.get(text, text.rstrip("."))
    return prefix, "is invalid"
