"""Property-based fuzzing of hook calls: mutated requests never get a 5xx or a non-JSON answer.

Strategies start from valid order-select / order-sign requests for IV iron and
mutate them: wrong types, missing fields, huge strings, deep nesting, odd
unicode, and wrong FHIR shapes inside draftOrders and prefetch.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import traceback

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from cds_service.app import create_app
from cds_service.config import Config
from support.fuzz import count, degraded, fuzz_report  # noqa: F401  (registers the request-count summary)
from support.hook_requests import HOOK_URL, hook_request, medication_request

# CI runs the same examples every time (a red build must be reproducible); local runs explore new ones.
FUZZ = settings(max_examples=120, deadline=None, database=None, derandomize=bool(os.environ.get("CI")),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# RxNorm codes and names of the IV-iron products, so valid requests are ones that get cards
ORDERS = [
    dict(code="1435169", display="15 ML ferric carboxymaltose 50 MG/ML Injection"),
    dict(code="999999999", display="iron sucrose 20 mg/mL injection"),
    dict(code="999999998", display="ferumoxytol 510 MG in 17 ML Injection"),
]
PREFETCH = {
    "patient": {"resourceType": "Patient", "id": "pat-1", "birthDate": "1960-02-01", "gender": "female"},
    "weight": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": {
        "resourceType": "Observation", "id": "w1", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
        "effectiveDateTime": "2026-01-01T10:00:00Z",
        "valueQuantity": {"value": 70, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}}}]},
    "allergies": {"resourceType": "Bundle", "type": "searchset", "entry": []},
    "conditions": None,
}


class _Unexpected(logging.Handler):
    """Collects the catch-all error handler's records: it turns a crash into a 400, but a crash is a bug."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        if getattr(record, "event", None) == "unexpected-error":
            self.records.append(record)
        elif getattr(record, "event", None) == "engine-check-failed":
            degraded(getattr(record, "check", "?"), getattr(record, "where", None))


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    database = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    client = create_app(Config(auth="off", database_url=f"sqlite:///{database}")).test_client()
    handler = _Unexpected()
    logging.getLogger("iron_cds").addHandler(handler)
    client.unexpected = handler.records
    yield client
    logging.getLogger("iron_cds").removeHandler(handler)


def post(client, body=None, *, data=None, content_type="application/json"):
    count("hook-mutations")
    if body is not None:
        data = to_json(body)
    client.unexpected.clear()
    response = client.post(HOOK_URL, data=data, content_type=content_type)
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    crashes = ["".join(traceback.format_exception(*r.exc_info)[-3:]) for r in client.unexpected if r.exc_info]
    assert not client.unexpected, "the request crashed the service (answered 400 by the catch-all):\n" + "\n".join(
        crashes)
    assert response.mimetype == "application/json"
    payload = json.loads(response.get_data())   # always parseable JSON, whatever went in
    assert isinstance(payload, dict)
    if response.status_code == 200:
        assert isinstance(payload.get("cards"), list)
    else:
        assert isinstance(payload.get("error"), str)
    return response, payload


# --- generators --------------------------------------------------------------------------------

odd_text = st.one_of(
    st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=40),   # incl. lone surrogates
    st.sampled_from(["", "\u0000", "\u202e\u2066evil", "\ufeff", "😀" * 50, "Ⅻ", "ı", "ß", "\r\n", "../../etc"]),
)
huge_text = st.sampled_from([10_000, 200_000]).map(lambda n: "x" * n)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), odd_text)
json_values = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(odd_text, inner, max_size=4)),
    max_leaves=12,
)


DEEP_MARK = "\u0000deep:"


def nested_json(depth: int) -> str:
    """JSON text nested ``depth`` levels; built as text because json.dumps itself recurses."""
    opening = "".join("[" if level % 2 else '{"a":' for level in range(depth))
    closing = "".join("]" if level % 2 else "}" for level in reversed(range(depth)))
    return f'{opening}"bottom"{closing}'


def not_interoperable_json(text: str) -> bool:
    """NaN / Infinity (not JSON at all) or a lone surrogate escape (not Unicode text, RFC 8259 s8.2):
    a strict parser may refuse these with 400."""
    if any(word in text for word in ("NaN", "Infinity")):
        return True
    try:
        json.dumps(json.loads(text), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    except RecursionError:   # deeper than json.loads goes: refused for its depth, not for this
        return False
    return False


def to_json(body) -> str:
    """Serialise a request, expanding deep-nesting markers (a short placeholder string while generated)."""
    text = json.dumps(body)
    while (start := text.find(json.dumps(DEEP_MARK)[:-1])) != -1:
        end = text.index('"', start + 1)
        depth = int(text[start + len(json.dumps(DEEP_MARK)) - 1:end])
        text = text[:start] + nested_json(depth) + text[end + 1:]
    return text


deep = st.sampled_from([10, 63, 200, 5000]).map(lambda depth: f"{DEEP_MARK}{depth}")
replacement = st.one_of(scalars, json_values, huge_text, deep)


def valid_requests(with_prefetch=None):
    with_prefetch = st.booleans() if with_prefetch is None else with_prefetch
    return st.builds(
        lambda order, hook, prefetch, minutes: hook_request(
            medication_request(code=order["code"], display=order["display"], minutes=minutes),
            hook=hook, prefetch=copy.deepcopy(PREFETCH) if prefetch else None,
        ),
        st.sampled_from(ORDERS), st.sampled_from(["order-select", "order-sign"]), with_prefetch,
        st.sampled_from([None, 5, 15, 120]),
    )


def paths(value, prefix=()):
    """Every path (tuple of keys / indexes) into a JSON value."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, prefix + (key,))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, prefix + (index,))


def mutate(body, path, action, new_value):
    """Replace or delete what ``path`` points to (a copy; the root itself is never deleted)."""
    body = copy.deepcopy(body)
    if not path:
        return new_value
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    if action == "delete":
        del parent[path[-1]]
    else:
        parent[path[-1]] = new_value
    return body


@st.composite
def mutated(draw, within=()):
    """A valid request with one node at or below ``within`` replaced or deleted."""
    body = draw(valid_requests(st.just(True)) if within[:1] == ("prefetch",) else valid_requests())
    node = body
    for key in within:
        node = node[key]
    candidates = [within + p for p in paths(node) if within + p != ()]
    path = draw(st.sampled_from(candidates))
    action = draw(st.sampled_from(["replace", "replace", "delete"]))
    value = draw(replacement)
    note(f"mutation: {action} {'.'.join(map(str, path))}" + ("" if action == "delete" else f" = {value!r:.200}"))
    return mutate(body, path, action, value)


# --- properties --------------------------------------------------------------------------------


@FUZZ
@given(body=valid_requests())
def test_valid_requests_get_cards(client, body):
    response, payload = post(client, body)
    assert response.status_code == 200
    # every product here is IV iron: at least the observation-period card comes back
    assert payload["cards"], "a valid IV-iron order got no card"


@FUZZ
@given(body=mutated())
def test_any_mutation_gets_a_json_answer_and_never_5xx(client, body):
    response, _ = post(client, body)
    assert response.status_code in (200, 400, 413)


REQUIRED = [("hook",), ("hookInstance",), ("context",), ("context", "patientId"), ("context", "draftOrders"),
            ("context", "userId"), ("context", "draftOrders", "resourceType")]


@FUZZ
@given(body=valid_requests(), path=st.sampled_from(REQUIRED), action=st.sampled_from(["delete", "replace"]),
       wrong=st.one_of(st.none(), st.booleans(), st.integers(), st.lists(st.integers(), max_size=2),
                       st.just({"unexpected": "object"})))
def test_missing_or_ill_typed_required_fields_are_400(client, body, path, action, wrong):
    response, payload = post(client, mutate(body, path, action, wrong))
    assert response.status_code == 400
    assert payload["error"]


@FUZZ
@given(body=valid_requests(), value=st.one_of(odd_text, huge_text, st.integers(), st.sampled_from(
    ["ftp://fhir.example.org", "javascript:alert(1)", "http://", "fhir.example.org", "https://a b"]))
)
def test_bad_fhir_server_values_are_400(client, body, value):
    body["fhirServer"] = value
    body["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer", "expires_in": 60,
                                 "scope": "patient/*.read", "subject": "iron-cds"}
    response, payload = post(client, body)
    assert response.status_code == 400
    # a lone surrogate, like NaN, may be refused as not valid JSON before the field is looked at
    assert payload.get("field") == "fhirServer" or (
        payload["error"] == "the request body is not valid JSON" and not_interoperable_json(to_json(body)))


@FUZZ
@given(body=st.one_of(mutated(within=("prefetch",)), mutated(within=("context", "draftOrders", "entry", 0, "resource",
                                                                     "dosageInstruction"))))
def test_wrong_fhir_shapes_inside_orders_and_prefetch_never_break_the_call(client, body):
    response, payload = post(client, body)
    # a prefetch value must be an object or null, and the body must stay within the size/depth limits;
    # anything else inside FHIR data we only read is tolerated
    assert response.status_code in (200, 400, 413)
    if response.status_code == 400:
        assert (payload.get("field", "").startswith("prefetch") or "nested deeper" in payload["error"]
                or (payload["error"] == "the request body is not valid JSON" and not_interoperable_json(to_json(body))))


@FUZZ
@given(data=st.one_of(st.binary(max_size=200), odd_text.map(lambda t: t.encode("utf-8", "surrogatepass"))),
       content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""]))
def test_raw_bytes_and_content_types(client, data, content_type):
    response, _ = post(client, data=data, content_type=content_type)
    assert response.status_code in (400, 413, 415)


WRONG_TYPES = [None, True, 0, -1.5, "", "x", [], [1], {}, {"unexpected": "object"}]


def _full_request():
    """One valid request with every section filled, so the sweep below reaches every field."""
    body = hook_request(medication_request(), hook="order-select", prefetch=copy.deepcopy(PREFETCH))
    body["fhirServer"] = "https://fhir.example.org/r4"
    body["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer", "expires_in": 60,
                                 "scope": "patient/*.read", "subject": "iron-cds"}
    return body


def test_every_field_replaced_by_every_wrong_type_is_handled(client, monkeypatch):
    """Deterministic sweep: each node of a full request, in turn, deleted or replaced by each wrong-typed value."""
    import requests

    def offline(*_args, **_kwargs):   # fallback reads fail fast instead of going to the network
        raise requests.ConnectionError("offline")

    monkeypatch.setattr(requests.Session, "request", offline)
    body = _full_request()
    problems: dict[str, list[str]] = {}
    for path in [p for p in paths(body) if p]:
        for action, value in [("delete", None)] + [("replace", v) for v in WRONG_TYPES]:
            count("hook-mutations")
            client.unexpected.clear()
            response = client.post(HOOK_URL, data=to_json(mutate(body, path, action, value)),
                                   content_type="application/json")
            if client.unexpected and client.unexpected[0].exc_info:
                frame = traceback.extract_tb(client.unexpected[0].exc_info[2])[-1]
                error = client.unexpected[0].exc_info[1]
                problem = f"crash: {type(error).__name__} at {frame.filename}:{frame.lineno} ({error})"
            elif response.status_code >= 500 or response.mimetype != "application/json":
                problem = f"answered {response.status_code} {response.mimetype}"
            elif response.status_code not in (200, 400, 413):
                problem = f"unexpected status {response.status_code}"
            else:
                continue
            case = f"{action} {'.'.join(map(str, path))}" + ("" if action == "delete" else f" = {value!r}")
            problems.setdefault(problem, []).append(case)
    report = "\n".join(f"{problem}\n    e.g. {'; '.join(cases[:3])} ({len(cases)} cases)"
                       for problem, cases in problems.items())
    assert not problems, "requests the service did not handle:\n" + report
