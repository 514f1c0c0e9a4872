"""The OpenAPI document: valid, served without auth, and in step with the routes the app really has."""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from cds_service import LEGACY_SERVICE_ID
from support.hook_requests import HOOK_URL, hook_request

IGNORED_METHODS = {"HEAD", "OPTIONS"}   # added by Flask / answered by CORS for every route
CDS_API = re.compile(r"^/cds-services(/|$)|^/openapi\.json$")


def _flask_operations(app) -> set[tuple[str, str]]:
    operations = set()
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        if CDS_API.search(path):
            operations |= {(path, method.lower()) for method in rule.methods - IGNORED_METHODS}
    return operations


def _documented_operations(document) -> set[tuple[str, str]]:
    return {(path, method) for path, item in document["paths"].items() for method in item if method != "parameters"}


@pytest.fixture
def document(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def test_document_is_valid_openapi(document):
    validate(document)   # raises on any violation of the OpenAPI 3.1 schema
    assert document["openapi"].startswith("3.1")


def test_document_matches_the_routes(app, document):
    assert _documented_operations(document) == _flask_operations(app)


def test_served_without_a_token_even_when_auth_is_on(make_app):
    client = make_app(auth="jwt", protect_discovery=True).test_client()
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_service_id_and_hooks_match_discovery(client, document):
    services = client.get("/cds-services").get_json()["services"]
    parameter = document["paths"]["/cds-services/{service_id}"]["post"]["parameters"][0]
    # the listed ids, plus the unlisted legacy alias that still answers
    assert sorted(parameter["schema"]["enum"]) == sorted({s["id"] for s in services} | {LEGACY_SERVICE_ID})
    hooks = document["components"]["schemas"]["HookRequest"]["properties"]["hook"]["enum"]
    assert sorted(hooks) == sorted(s["hook"] for s in services)


def test_public_base_url_is_the_server(make_app):
    client = make_app(public_base_url="https://cds.example.org/iron").test_client()
    assert client.get("/openapi.json").get_json()["servers"] == [{"url": "https://cds.example.org/iron"}]


def _schema_validator(document, name):
    """A JSON Schema 2020-12 validator for one component, resolving the document's $refs."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    resource = Resource.from_contents(document, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:iron-cds:openapi", resource)
    return Draft202012Validator({"$ref": f"urn:iron-cds:openapi#/components/schemas/{name}"}, registry=registry)


def test_documented_request_schema_accepts_what_the_service_accepts(client, document):
    body = hook_request()
    assert client.post(HOOK_URL, json=body).status_code == 200
    assert list(_schema_validator(document, "HookRequest").iter_errors(body)) == []


def test_documented_response_schema_holds_for_real_answers(client, document):
    from support.hook_requests import medication_request

    response = client.post(HOOK_URL, json=hook_request(medication_request()))
    assert response.status_code == 200
    errors = list(_schema_validator(document, "HookResponse").iter_errors(response.get_json()))
    assert errors == []
    discovery = client.get("/cds-services").get_json()
    assert list(_schema_validator(document, "Discovery").iter_errors(discovery)) == []
