"""The plain-request check (plain_request.py) lets a hook call skip marshmallow only when marshmallow would
accept it: whatever it says yes to, the schemas load without error (property test on bodies near the
valid shape); and it says yes to the shapes EHRs send, or it would save nothing."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError, fields

from cds_service.cds_hooks import plain_request, schemas
from cds_service.cds_hooks.plain_request import is_plain_hook_request
from cds_service.cds_hooks.schemas import CONTEXT_SCHEMAS, HookRequestSchema, load_hook_request
from cds_service.config import Config
from support.e2e import SCENARIOS, request_for_fhir_reads
from support.hook_requests import hook_request, medication_request

ROOT = Path(__file__).resolve().parents[3]
TOKEN = {"access_token": "t", "token_type": "Bearer", "expires_in": 60, "scope": "patient/*.read",
         "subject": "iron-cds", "patient": "pat-1"}
PREFETCH = {"patient": {"resourceType": "Patient", "id": "pat-1"}, "weight": None,
            "labs": {"resourceType": "Bundle", "type": "searchset", "entry": [
                {"resource": {"resourceType": "Observation", "id": "o-1", "subject": {"reference": "Patient/pat-1"}}}]}}
ORDERS = (medication_request("mr-1"), medication_request("mr-2"))
BASES = [
    hook_request(*ORDERS),
    hook_request(*ORDERS, hook="order-select", prefetch=PREFETCH),
    hook_request(*ORDERS, hook="order-select", fhirServer="https://ehr.example.org/fhir", fhirAuthorization=TOKEN),
    hook_request(medication_request("mr-1"), {"resourceType": "ServiceRequest", "id": "sr-1",
                                              "subject": {"reference": "https://ehr.example.org/fhir/Patient/pat-1"}},
                 fhirServer="http://localhost:8080/r4", fhirAuthorization=None, prefetch=PREFETCH, extension={"x": 1}),
]

# Values chosen near the rules' edges, beside arbitrary JSON.
IDS = ["pat-1", "pat-2", "mr-1", "A.b-c", "x" * 256, "x" * 257, "...", "", ".", "..", "a b", "a/b", "é", "pat-1\n"]
REFERENCES = ["Practitioner/prac-1", "MedicationRequest/mr-1", "MedicationRequest/mr-2", "MedicationRequest/mr-3",
              "ServiceRequest/mr-1", "Patient/pat-1", "Patient/pat-2", "Practitioner", "practitioner/1", "P/1",
              "Patient/..", "Patient/", "/mr-1", "MedicationRequest/mr-1/_history/1", "MedicationRequest/None"]
PATIENTS = [{"reference": "Patient/pat-1"}, {"reference": "Patient/pat-2"}, {"reference": " Patient/pat-2 "},
            {"reference": "https://ehr.example.org/fhir/Patient/pat-2/_history/3"}, {"reference": "#contained"},
            {"display": "someone"}, {"reference": None}, "Patient/pat-2", {"resourceType": "Patient", "id": "pat-2"}]
URLS = ["https://ehr.example.org/fhir", "http://localhost:8080/fhir", "http://ehr", "https://ehr.example.org/fhir/",
        "ftp://ehr/fhir", "https://user@ehr/fhir", "https://u:p@ehr/fhir", "https://ehr/a/../b", "https://ehr/%2e%2e/b",
        "https://ehr/fhir?x=1", "https://ehr/fhir#f", "https://ehr\\@evil/", "HTTPS://EHR.EXAMPLE.ORG/FHIR",
        " https://ehr/fhir ", "https://ehr/fh ir", "https://[::1]:8443/fhir", "https://ehr:99999/", "http:///fhir",
        "https://", "ehr.example.org/fhir", "/fhir", "https://ehré.org/", "http://1.2.3.4/", "http://ehr..org/",
        "http://-ehr/", "https://ehr/\x00", "https://a:1\\@b:2/", "javascript://ehr/%0a"]
TOKEN_TYPES = ["Bearer", "bearer", "BEARER", "Basic", " Bearer"]
SECONDS = [60, 0, -1, 1.5, "600", " 600 ", "1e3", True, float("nan"), float("inf"), 10 ** 20]
NAMES = ["order-sign", "order-select", "medication-prescribe", "h" * 100, "h" * 101, "h" * 200, "h" * 201]
OTHERS = ["Bundle", "bundle", [], {}, [None], copy.deepcopy(TOKEN), copy.deepcopy(ORDERS[0]),
          {"resource": copy.deepcopy(ORDERS[1])}, {"resourceType": "Bundle"}]
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
EDGES = IDS + REFERENCES + PATIENTS + URLS + TOKEN_TYPES + SECONDS + NAMES + OTHERS
# Where a rule reads a value, the edge values of that rule come first.
POOLS = {"fhirServer": URLS, "id": IDS + PATIENTS, "patientId": IDS, "encounterId": IDS, "patient": IDS + PATIENTS,
         "userId": REFERENCES, "selections": REFERENCES, "reference": REFERENCES, "subject": PATIENTS,
         "token_type": TOKEN_TYPES, "expires_in": SECONDS, "hook": NAMES, "hookInstance": NAMES}
# Keys whose addition anywhere can matter to some rule (and a few that should not).
KEYS = ["fhirServer", "fhirAuthorization", "prefetch", "selections", "entry", "resource", "id", "resourceType",
        "patient", "subject", "patientId", "encounterId", "extension", "x"]
# The nodes some rule reads: mutations go there (an order's dosage, or a prefetch Bundle's inside, is no rule's).
RULED = {"hook", "hookInstance", "fhirServer", "fhirAuthorization", "access_token", "token_type", "expires_in",
         "scope", "subject", "patient", "context", "userId", "patientId", "encounterId", "draftOrders",
         "resourceType", "entry", "resource", "id", "selections", "reference", "prefetch"}


def nodes(value, path=()):
    """(path, node) for every node of a JSON value that some rule reads, the root included."""
    yield path, value
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        if key in RULED or isinstance(key, int) or path == ("prefetch",):
            yield from nodes(child, path + (key,))


def field_name(path) -> str:
    """The name of the field a node is (a list item: the list's)."""
    return next((key for key in reversed(path) if isinstance(key, str)), "")


def at(body, path):
    for key in path:
        body = body[key]
    return body


@st.composite
def near_valid_bodies(draw):
    """A valid body with up to three changes: a field removed, replaced (None, another type, an edge
    value, arbitrary JSON) or added."""
    body = copy.deepcopy(draw(st.sampled_from(BASES)))
    for _ in range(draw(st.integers(0, 3))):
        # A field name first, then one of its places: every rule gets its share, however many places it has.
        by_name = {}
        for path, node in nodes(body):
            by_name.setdefault(field_name(path), []).append((path, node))
        named = draw(st.sampled_from(sorted(by_name)))
        path, node = draw(st.sampled_from(by_name[named]))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        pool = st.sampled_from(POOLS.get(named, EDGES))
        value = copy.deepcopy(draw(st.one_of(pool, pool, st.sampled_from(EDGES), JSON)))
        if action == "add" and isinstance(node, dict):
            node[draw(st.sampled_from(KEYS))] = value
        elif action == "add" and isinstance(node, list):
            node.append(value)
        elif path and action == "delete":
            del at(body, path[:-1])[path[-1]]
        elif path:
            at(body, path[:-1])[path[-1]] = value
        else:
            body = value
    return body


def marshmallow_accepts(body) -> bool:
    try:
        HookRequestSchema().load(body)
        context_schema = CONTEXT_SCHEMAS.get(body["hook"])
        if context_schema is not None:
            context_schema.load(body["context"])
    except ValidationError:
        return False
    return True


@settings(max_examples=1000, deadline=None)
@given(body=near_valid_bodies())
def test_whatever_the_plain_check_accepts_marshmallow_accepts(body):
    plain = is_plain_hook_request(body)
    event(f"plain check: {plain}")   # --hypothesis-show-statistics: how many took each way
    if plain:
        assert marshmallow_accepts(body), body


TYPE_CHANGES = [None, 1, 1.5, True, "", "x", [], {}, [None], copy.deepcopy(TOKEN)]
DELETE = object()


def single_changes():
    """Every base with one change: each field a rule reads removed or set to each edge value of its rule
    or of another type, and each key a rule reads added to each object."""
    for base in BASES:
        for path, node in nodes(base):
            for value in [*POOLS.get(field_name(path), []), *TYPE_CHANGES, DELETE] if path else []:
                body = copy.deepcopy(base)
                if value is DELETE:
                    del at(body, path[:-1])[path[-1]]
                else:
                    at(body, path[:-1])[path[-1]] = copy.deepcopy(value)
                yield body
            for key in KEYS if isinstance(node, dict) else []:
                for value in [*POOLS.get(key, []), *TYPE_CHANGES]:
                    body = copy.deepcopy(base)
                    at(body, path)[key] = copy.deepcopy(value)
                    yield body


def test_whatever_the_plain_check_accepts_after_one_change_marshmallow_accepts():
    plain = [body for body in single_changes() if is_plain_hook_request(body)]
    assert len(plain) > 100   # many changes keep a request valid (another valid id, an added extension)
    assert [body for body in plain if not marshmallow_accepts(body)] == []


def test_the_bases_of_the_property_test_are_plain():
    assert all(is_plain_hook_request(body) and marshmallow_accepts(body) for body in BASES)


def _payloads():
    spec = importlib.util.spec_from_file_location("bench_payloads", ROOT / "benchmarks" / "payloads.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def ehr_shapes() -> dict[str, dict]:
    """What EHRs send: the benchmark's requests, every fixture scenario (with fhirServer and token), and the
    request corpus (spec, sandbox, Epic, CRD shapes) but its one CDS Hooks 1.0 call."""
    payloads = _payloads()
    shapes = {
        "benchmark long": payloads.hook_body(with_prefetch=True),
        "benchmark small": payloads.hook_body(with_prefetch=True, small=True),
        "benchmark small with token": payloads.hook_body(with_prefetch=True, small=True,
                                                         fhir_server="https://ehr.example.org/fhir/r4"),
        "benchmark without prefetch": payloads.hook_body(with_prefetch=False, fhir_server="http://localhost:8080"),
    }
    shapes.update({f"scenario {name}": request_for_fhir_reads(name) for name in SCENARIOS})
    for path in sorted((ROOT / "tests" / "requests").glob("*.json")):
        if path.name != "cds-hooks-1.0-medication-prescribe.json":
            shapes[f"corpus {path.name}"] = json.loads(path.read_text().replace("{{recent}}", "2026-01-01"))["request"]
    return shapes


def test_the_shapes_ehrs_send_are_plain():
    shapes = ehr_shapes()
    assert len(shapes) > 60
    assert all(marshmallow_accepts(body) for body in shapes.values())
    assert [name for name, body in shapes.items() if not is_plain_hook_request(body)] == []


@pytest.mark.parametrize("body", [
    {**BASES[0], "hookInstance": ""},
    {**BASES[2], "fhirServer": None},
    {**BASES[0], "hook": "patient-view"},
    hook_request(medication_request("mr-1", patient="pat-2")),
])
def test_unusual_requests_go_to_marshmallow_which_words_the_error(body):
    assert not is_plain_hook_request(body)
    if body["hook"] in CONTEXT_SCHEMAS:
        with pytest.raises(schemas.ApiError):
            load_hook_request(body, Config())


def test_the_plain_check_reads_fhir_server_with_the_validators_of_the_schema():
    field = HookRequestSchema().fields["fhirServer"]
    assert isinstance(field, fields.Url) and field.allow_none
    url = field.validators[0]
    mine = plain_request.URL
    assert (mine.relative, mine.absolute, mine.schemes, mine.require_tld) == \
        (url.relative, url.absolute, url.schemes, url.require_tld)
    assert field.validators[1:] == [schemas.fhir_server]


def rules(schema, prefix: str) -> dict[str, str]:
    """Every field of ``schema`` and of the schemas it nests, as ``path: "Type required/optional [null] validators"``,
    and its ``validates_schema`` methods."""
    out = {f"{prefix} checks": " ".join([f"unknown={schema.unknown}", *sorted(
        name for name in dir(type(schema)) if hasattr(getattr(type(schema), name), "__marshmallow_hook__"))])}
    for name, field in schema.fields.items():
        path = f"{prefix}.{name}"
        for inner_path, inner in [(path, field), (f"{path}[]", getattr(field, "inner", None)),
                                  (f"{path}{{key}}", getattr(field, "key_field", None)),
                                  (f"{path}{{}}", getattr(field, "value_field", None))]:
            if inner is not None:
                validators = " ".join(getattr(v, "__name__", repr(v)) for v in inner.validators)
                out[inner_path] = (f"{type(inner).__name__} {'required' if inner.required else 'optional'}"
                                   f"{' null' if inner.allow_none else ''} {validators}").strip()
                if isinstance(getattr(inner, "nested", None), type):
                    out.update(rules(inner.nested(), inner_path))
    return out


def test_the_schemas_still_hold_the_rules_the_plain_check_knows():
    """A rule changed in a hook-request schema must be changed in plain_request.py too: this fails until then."""
    actual = rules(HookRequestSchema(), "request")
    for hook, schema in CONTEXT_SCHEMAS.items():
        actual.update(rules(schema, hook))
    assert actual == RULES_THE_PLAIN_CHECK_KNOWS


# What plain_request.py checks, as the schemas declared it when it was written.
RULES_THE_PLAIN_CHECK_KNOWS = {
    'request checks': 'unknown=exclude _token_needs_a_server',
    'request.hook': 'String required <Length(min=1, max=100, equal=None, error=None)>',
    'request.hookInstance': 'String required <Length(min=1, max=200, equal=None, error=None)>',
    'request.fhirServer': ('Url optional null '
                           "<URL(relative=False, absolute=True, error='Not a valid URL.')> fhir_server"),
    'request.fhirAuthorization': 'Nested optional null',
    'request.fhirAuthorization checks': 'unknown=exclude',
    'request.fhirAuthorization.access_token': 'String required <Length(min=1, max=None, equal=None, error=None)>',
    'request.fhirAuthorization.token_type': 'String required bearer',
    'request.fhirAuthorization.expires_in': 'Raw optional seconds',
    'request.fhirAuthorization.scope': 'String required',
    'request.fhirAuthorization.subject': 'String required',
    'request.fhirAuthorization.patient': 'String optional null fhir_id',
    'request.context': 'Dict required',
    'request.prefetch': 'Dict optional null',
    'request.prefetch{key}': 'String optional',
    'request.prefetch{}': 'Raw optional null object_or_null',
    'order-select checks': 'unknown=exclude _orders_are_for_this_patient _selections_point_into_draft_orders',
    'order-select.userId': 'String required reference',
    'order-select.patientId': 'String required fhir_id',
    'order-select.encounterId': 'String optional null fhir_id',
    'order-select.draftOrders': 'Nested required',
    'order-select.draftOrders checks': 'unknown=exclude',
    'order-select.draftOrders.resourceType': ('String required '
                                              '<Equal(comparable=\'Bundle\', error="must be \'Bundle\'")>'),
    'order-select.draftOrders.entry': 'List optional',
    'order-select.draftOrders.entry[]': 'Nested optional',
    'order-select.draftOrders.entry[] checks': 'unknown=exclude',
    'order-select.draftOrders.entry[].resource': 'Nested required',
    'order-select.draftOrders.entry[].resource checks': 'unknown=exclude',
    'order-select.draftOrders.entry[].resource.resourceType': ('String required '
                                                               '<Length(min=1, max=None, equal=None, error=None)>'),
    'order-select.draftOrders.entry[].resource.id': 'String optional null fhir_id',
    'order-select.selections': ('List required '
                                "<Length(min=1, max=None, equal=None, error='must name at least one draft order')>"),
    'order-select.selections[]': 'String optional reference',
    'order-sign checks': 'unknown=exclude _orders_are_for_this_patient',
    'order-sign.userId': 'String required reference',
    'order-sign.patientId': 'String required fhir_id',
    'order-sign.encounterId': 'String optional null fhir_id',
    'order-sign.draftOrders': 'Nested required',
    'order-sign.draftOrders checks': 'unknown=exclude',
    'order-sign.draftOrders.resourceType': 'String required <Equal(comparable=\'Bundle\', error="must be \'Bundle\'")>',
    'order-sign.draftOrders.entry': 'List optional',
    'order-sign.draftOrders.entry[]': 'Nested optional',
    'order-sign.draftOrders.entry[] checks': 'unknown=exclude',
    'order-sign.draftOrders.entry[].resource': 'Nested required',
    'order-sign.draftOrders.entry[].resource checks': 'unknown=exclude',
    'order-sign.draftOrders.entry[].resource.resourceType': ('String required '
                                                             '<Length(min=1, max=None, equal=None, error=None)>'),
    'order-sign.draftOrders.entry[].resource.id': 'String optional null fhir_id',
}
