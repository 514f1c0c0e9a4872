"""``GET /openapi.json``: the CDS Hooks API of this service as an OpenAPI 3.1 document.

Integration teams load it into their tools; ``tests/test_openapi.py`` keeps it in
step with the routes and validates it, and the fuzz suite drives the service from
it. The schemas say what the service *accepts* (mirroring ``schemas.py``) and what
it *returns*; extension fields are allowed everywhere, as CDS Hooks allows them.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from cds_service import HOOKS, LEGACY_SERVICE_ID, SERVICE_IDS
from cds_service.fhir.ids import ID_JSON_SCHEMA, REFERENCE_JSON_SCHEMA

bp = Blueprint("openapi", __name__)

_REF = "#/components/schemas/"
_JSON = "application/json"


def _ref(name: str) -> dict:
    return {"$ref": _REF + name}


def _json(schema: dict, description: str) -> dict:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _coding(display_required: bool = False) -> dict:
    schema = {
        "type": "object",
        "required": ["system", "code"] + (["display"] if display_required else []),
        "properties": {"system": {"type": "string"}, "code": {"type": "string"}, "display": {"type": "string"}},
    }
    return schema


SCHEMAS: dict[str, dict] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string", "description": "one line saying what is wrong (never echoes values)"},
            "field": {"type": "string", "description": "dotted path of the offending field, when there is one"},
        },
    },
    "Unauthorized": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"const": "unauthorized"}},
        "description": "A refused JWT. No detail is given; the reason is in the service's log.",
    },
    "Coding": _coding(),
    "Resource": {
        "type": "object",
        "required": ["resourceType"],
        "properties": {"resourceType": {"type": "string", "minLength": 1}, "id": {"type": "string", **ID_JSON_SCHEMA}},
        "description": "A FHIR R4 resource (only its type and id are checked on input).",
    },
    "DraftOrders": {
        "type": "object",
        "required": ["resourceType"],
        "properties": {
            "resourceType": {"const": "Bundle"},
            "type": {"type": "string"},
            "entry": {
                "type": "array",
                "maxItems": 50,
                "items": {"type": "object", "required": ["resource"], "properties": {"resource": _ref("Resource")}},
            },
        },
        "description": "Bundle of the unsigned orders (R4 MedicationRequest / ServiceRequest); at most 50 entries.",
    },
    "OrderContext": {
        "type": "object",
        "required": ["userId", "patientId", "draftOrders"],
        "properties": {
            "userId": {"type": "string", **REFERENCE_JSON_SCHEMA, "examples": ["Practitioner/123"]},
            "patientId": {"type": "string", **ID_JSON_SCHEMA},
            "encounterId": {"type": ["string", "null"], **ID_JSON_SCHEMA},
            "selections": {
                "type": "array",
                "minItems": 1,
                "items": {"type": "string", **REFERENCE_JSON_SCHEMA},
                "description": "order-select only (required there): Type/id of draft orders in draftOrders.",
            },
            "draftOrders": _ref("DraftOrders"),
        },
    },
    "FhirAuthorization": {
        "type": "object",
        "required": ["access_token", "token_type", "scope", "subject"],
        "properties": {
            "access_token": {"type": "string", "minLength": 1},
            "token_type": {"type": "string", "pattern": "^[Bb][Ee][Aa][Rr][Ee][Rr]$"},
            "expires_in": {"oneOf": [{"type": "number"},
                                     {"type": "string", "pattern": "^\\s*[0-9]{1,12}(\\.[0-9]{1,6})?\\s*$"}],
                           "description": ("Not used by the service; a number of seconds, also as a numeric string. "
                                           "Required by CDS Hooks 2.0, but may be left out: the sandbox omits it "
                                           "when its OAuth server gave none.")},
            "scope": {"type": "string"},
            "subject": {"type": "string"},
            "patient": {"type": ["string", "null"], **ID_JSON_SCHEMA},
        },
    },
    "HookRequest": {
        "type": "object",
        "required": ["hook", "hookInstance", "context"],
        "properties": {
            "hook": {"enum": list(HOOKS)},
            "hookInstance": {"type": "string", "minLength": 1, "maxLength": 200},
            "fhirServer": {
                "type": ["string", "null"],
                "format": "uri",
                "pattern": "^https?://",
                "description": "Required with fhirAuthorization. Must be one of the calling issuer's "
                "fhir_servers when the operator lists them (400 otherwise, before any read).",
            },
            "fhirAuthorization": {"oneOf": [_ref("FhirAuthorization"), {"type": "null"}]},
            "context": _ref("OrderContext"),
            "prefetch": {
                "type": ["object", "null"],
                "additionalProperties": {"type": ["object", "null"]},
                "description": "Prefetch key -> FHIR resource or Bundle, or null for 'no data'. "
                "At most 5000 Bundle entries in all.",
            },
        },
    },
    "Action": {
        "type": "object",
        "required": ["type", "description"],
        "properties": {
            "type": {"enum": ["create", "update", "delete"]},
            "description": {"type": "string"},
            "resource": {"type": "object"},
            "resourceId": {"type": "string"},
        },
    },
    "Suggestion": {
        "type": "object",
        "required": ["label"],
        "properties": {
            "label": {"type": "string"},
            "uuid": {"type": "string"},
            "isRecommended": {"type": "boolean"},
            "actions": {"type": "array", "items": _ref("Action")},
        },
    },
    "Link": {
        "type": "object",
        "required": ["label", "url", "type"],
        "properties": {
            "label": {"type": "string"},
            "url": {"type": "string"},
            "type": {"enum": ["absolute", "smart"]},
            "appContext": {"type": "string"},
            "autolaunchable": {"type": "boolean"},
        },
    },
    "Card": {
        "type": "object",
        "required": ["summary", "indicator", "source"],
        "properties": {
            "uuid": {"type": "string"},
            "summary": {"type": "string", "maxLength": 139},
            "detail": {"type": "string", "description": "GitHub-flavoured markdown"},
            "indicator": {"enum": ["info", "warning", "critical"]},
            "source": {
                "type": "object",
                "required": ["label"],
                "properties": {
                    "label": {"type": "string"},
                    "url": {"type": "string"},
                    "icon": {"type": "string"},
                    "topic": _ref("Coding"),
                },
            },
            "suggestions": {"type": "array", "items": _ref("Suggestion")},
            "selectionBehavior": {"enum": ["at-most-one", "any"]},
            "overrideReasons": {"type": "array", "items": _coding(display_required=True)},
            "links": {"type": "array", "items": _ref("Link")},
        },
    },
    "HookResponse": {
        "type": "object",
        "required": ["cards"],
        "properties": {
            "cards": {"type": "array", "items": _ref("Card")},
            "systemActions": {"type": "array", "items": _ref("Action")},
        },
    },
    "FeedbackItem": {
        "type": "object",
        "required": ["card", "outcome", "outcomeTimestamp"],
        "properties": {
            "card": {"type": "string", "minLength": 1, "maxLength": 64,
                     "description": "The uuid of a card this service issued; any other is refused (400)."},
            "outcome": {"enum": ["accepted", "overridden"]},
            "acceptedSuggestions": {
                "type": ["array", "null"],
                "items": {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
                "description": "Required when the outcome is 'accepted'.",
            },
            "overrideReason": {
                "type": ["object", "null"],
                "properties": {"reason": _ref("Coding"),
                               "userComment": {"type": ["string", "null"], "maxLength": 2000,
                                               "description": "Longer is refused (400), never cut."}},
            },
            "outcomeTimestamp": {"type": "string", "format": "date-time"},
        },
    },
    "FeedbackRequest": {
        "type": "object",
        "required": ["feedback"],
        "properties": {"feedback": {"type": "array", "minItems": 1, "maxItems": 1000, "items": _ref("FeedbackItem")}},
    },
    "FeedbackResponse": {
        "type": "object",
        "required": ["received", "stored"],
        "properties": {"received": {"type": "integer"}, "stored": {"type": "integer"}},
    },
    "Discovery": {
        "type": "object",
        "required": ["services"],
        "properties": {
            "services": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["hook", "id", "description"],
                    "properties": {
                        "hook": {"type": "string"},
                        "id": {"type": "string"},
                        "title": {"type": "string"},
                        "description": {"type": "string"},
                        "prefetch": {"type": "object", "additionalProperties": {"type": "string"}},
                        "usageRequirements": {"type": "string"},
                    },
                },
            }
        },
    },
}

_ERRORS = {
    "400": _json(_ref("Error"), "Malformed request: not JSON, a missing or ill-typed field, a hook this service "
                 "does not serve, or a fhirServer the calling client may not name"),
    "401": _json(_ref("Unauthorized"), "The JWT is missing or was refused"),
    "404": _json(_ref("Error"), "Unknown service id"),
    "413": _json(_ref("Error"), "Body too large, or too many draft orders or prefetch entries"),
    "415": _json(_ref("Error"), "The body is not JSON (Content-Type)"),
}
_SERVICE_ID = {"name": "service_id", "in": "path", "required": True,
               "schema": {"enum": sorted([*SERVICE_IDS.values(), LEGACY_SERVICE_ID])}}
_JWT = [{"cdsClientJwt": []}]


def build_document(public_base_url: str | None = None) -> dict:
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "iron-cds: CDS Hooks 2.0 service for intravenous iron orders",
            "version": "2.0",
            "description": "Discovery, hook calls (order-select, order-sign) and feedback, as in CDS Hooks 2.0. "
            "Hook and feedback calls carry the CDS client's JWT (aud = the exact URL called).",
        },
        "paths": {
            "/cds-services": {
                "get": {
                    "operationId": "discovery",
                    "summary": "Discovery: the services offered, with their prefetch templates",
                    "security": [{}, *_JWT],
                    "responses": {"200": _json(_ref("Discovery"), "The services"), "401": _ERRORS["401"]},
                }
            },
            "/cds-services/{service_id}": {
                "post": {
                    "operationId": "callHook",
                    "summary": "Hook call: cards for the draft IV-iron orders",
                    "security": _JWT,
                    "parameters": [_SERVICE_ID],
                    "requestBody": {"required": True, "content": {_JSON: {"schema": _ref("HookRequest")}}},
                    "responses": {"200": _json(_ref("HookResponse"), "Cards (possibly none)"), **_ERRORS},
                }
            },
            "/cds-services/{service_id}/feedback": {
                "post": {
                    "operationId": "feedback",
                    "summary": "Feedback: what the clinician did with the cards (idempotent)",
                    "security": _JWT,
                    "parameters": [_SERVICE_ID],
                    "requestBody": {"required": True, "content": {_JSON: {"schema": _ref("FeedbackRequest")}}},
                    "responses": {
                        "200": _json(_ref("FeedbackResponse"), "Stored (items sent before count once)"),
                        **_ERRORS,
                        "429": {
                            **_json(_ref("Error"), "Too many feedback requests from this client: send it again "
                                    "after Retry-After seconds"),
                            "headers": {"Retry-After": {"schema": {"type": "string"}}},
                        },
                        "503": {
                            **_json(_ref("Error"), "The store is unavailable: send the feedback again"),
                            "headers": {"Retry-After": {"schema": {"type": "string"}}},
                        },
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "security": [{}],
                    "responses": {"200": _json({"type": "object"}, "The OpenAPI document")},
                }
            },
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "cdsClientJwt": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "Signed by a trusted CDS client (ES384/RS384 and other asymmetric algorithms); "
                    "iss, aud, exp, iat and jti required; each jti is accepted once.",
                }
            },
        },
    }
    if public_base_url:
        document["servers"] = [{"url": public_base_url}]
    return document


@bp.get("/openapi.json")
def openapi_json():
    state = current_app.extensions["iron_cds"]
    document = state.extras.get("openapi")
    if document is None:
        document = state.extras["openapi"] = build_document(state.config.public_base_url)
    response = jsonify(document)
    response.headers["Access-Control-Allow-Origin"] = "*"   # a public description, for browser-based tools
    return response
