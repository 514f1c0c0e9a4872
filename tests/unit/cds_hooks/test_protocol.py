"""Hook calls at the protocol level: every class of bad input gets the right 4xx and a JSON reason.

The clinical content of the answer is tested elsewhere; here a 200 only means "accepted as valid".
"""

from __future__ import annotations

import copy
import gzip
import io
import json

import pytest

from cds_service import LEGACY_SERVICE_ID
from cds_service.fhir import access
from support.hook_requests import HOOK_URL, hook_request, medication_request

TOKEN = {"access_token": "opaque-token-123", "token_type": "Bearer", "expires_in": 300,
         "scope": "patient/*.read user/Practitioner.read", "subject": "iron-cds"}


def select_request(*resources, **extra):
    return hook_request(*(resources or (medication_request(),)), hook="order-select", **extra)


def sign_request(*resources, **extra):
    return hook_request(*(resources or (medication_request(),)), hook="order-sign", **extra)


def post(client, body, **kwargs):
    if isinstance(body, (dict, list)):
        return client.post(HOOK_URL, data=json.dumps(body), content_type="application/json", **kwargs)
    return client.post(HOOK_URL, data=body, **kwargs)


def assert_refused(response, status, field=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert isinstance(body.get("error"), str) and body["error"]
    assert "Traceback" not in body["error"]
    if field is not None:
        assert body.get("field") == field, body
    return body


# --- valid requests --------------------------------------------------------------------------------
@pytest.mark.parametrize("build", [select_request, sign_request], ids=["order-select", "order-sign"])
def test_a_valid_request_is_accepted(client, build):
    response = post(client, build())
    assert response.status_code == 200
    assert isinstance(response.get_json()["cards"], list)


def test_extensions_unknown_fields_and_unknown_resources_are_tolerated(client):
    body = sign_request(medication_request(), {"resourceType": "VisionPrescription", "id": "v1", "oddity": [1]},
                        extension={"com.example.flag": True})
    body["context"]["extension"] = {"com.epic.something": "x"}
    body["context"]["draftOrders"]["entry"][0]["fullUrl"] = "urn:uuid:1"
    body["context"]["draftOrders"]["id"] = "bundle-1"
    body["prefetch"] = {"patient": {"resourceType": "Patient", "id": "pat-1"}, "weight": None,
                        "somethingWeNeverAsked": {"resourceType": "Bundle", "entry": []}}
    assert post(client, body).status_code == 200


def test_fhir_json_media_type_and_charset_are_accepted(client):
    body = json.dumps(sign_request())
    for content_type in ("application/fhir+json", "application/json; charset=utf-8", "Application/JSON"):
        assert client.post(HOOK_URL, data=body, content_type=content_type).status_code == 200


def test_null_optional_fields_are_the_same_as_absent(client):
    body = sign_request(fhirServer=None, fhirAuthorization=None, prefetch=None)
    body["context"]["encounterId"] = None
    assert post(client, body).status_code == 200


def test_fhir_authorization_with_fhir_server_is_accepted(client):
    body = sign_request(fhirServer="http://127.0.0.1:9/fhir", fhirAuthorization=dict(TOKEN, patient="pat-1"),
                        prefetch={key: None for key in ("patient", "weight", "labs", "allergies", "conditions",
                                                        "ironAdministrations", "painScores", "vitalSigns",
                                                        "adverseEvents")})
    assert post(client, body).status_code == 200


# --- routing -------------------------------------------------------------------------------------------
def test_unknown_service_id_is_404(client):
    assert_refused(client.post("/cds-services/some-other-service", json=sign_request()), 404)


SLASH_HINT = ("not found: CDS Hooks URLs have no trailing slash and no empty segment "
              "(discovery: /cds-services; a service: /cds-services/{id})")


@pytest.mark.parametrize("method, path", [
    ("GET", "/cds-services/"),                                   # a discovery URL registered with a slash
    ("POST", "/cds-services//iv-iron-order-sign"),               # ... then joined with "/{id}" (the sandbox)
    ("OPTIONS", "/cds-services//iv-iron-order-sign"),            # its CORS preflight
    ("POST", "/cds-services/iv-iron-order-sign/"),
    ("POST", "/cds-services//iv-iron-order-sign//feedback"),
])
def test_a_slash_too_many_is_a_json_404_that_says_so_never_a_redirect(client, method, path):
    response = client.open(path, method=method, json=sign_request() if method == "POST" else None,
                           headers={"Origin": "https://sandbox.cds-hooks.org", "Access-Control-Request-Method": "POST"})
    refused = assert_refused(response, 404)
    assert refused["error"] == SLASH_HINT
    assert "Location" not in response.headers
    assert response.headers["Access-Control-Allow-Origin"] == "https://sandbox.cds-hooks.org"   # readable


def test_the_exact_urls_still_answer(client):
    assert client.get("/cds-services").status_code == 200
    assert post(client, sign_request()).status_code == 200
    assert assert_refused(client.post("/cds-services/no-such-service", json=sign_request()), 404)["error"] != SLASH_HINT


def test_a_hook_the_service_does_not_serve_is_400(client):
    body = sign_request()
    body["hook"] = "patient-view"
    body["context"] = {"userId": "Practitioner/1", "patientId": "pat-1"}
    refused = assert_refused(post(client, body), 400, field="hook")
    assert "does not serve" in refused["error"]


def test_get_on_the_hook_url_is_a_json_405(client):
    assert_refused(client.get(HOOK_URL), 405)


@pytest.mark.parametrize("hook, service, right", [
    # order-select at the order-sign id used to be refused for lacking context.selections
    ("order-select", "iv-iron-order-sign", "iv-iron-order-select"),
    ("order-sign", "iv-iron-order-select", "iv-iron-order-sign"),
])
def test_our_other_hook_at_this_id_is_400_naming_the_hook_and_its_id(client, hook, service, right):
    body = sign_request()
    body["hook"] = hook
    refused = assert_refused(client.post(f"/cds-services/{service}", json=body), 400, field="hook")
    assert refused["error"] == (f"service {service!r} does not serve hook {hook!r}; "
                                f"it is served at /cds-services/{right}")
    if hook == "order-select":
        body["context"]["selections"] = ["MedicationRequest/mr-1"]
    assert client.post(f"/cds-services/{right}", json=body).status_code == 200
    # Any other hook is still judged after the request itself (a 1.0 request is told so first).
    body["hook"] = "medication-prescribe"
    assert "CDS Hooks 1.0" in assert_refused(client.post(f"/cds-services/{service}", json=body), 400)["error"]


# --- not JSON, wrong type, size and shape limits ---------------------------------------------------------
def test_wrong_content_type_is_415(client):
    assert_refused(client.post(HOOK_URL, data=json.dumps(sign_request()), content_type="text/plain"), 415)
    assert_refused(client.post(HOOK_URL, data=json.dumps(sign_request())), 415)   # no Content-Type at all
    assert_refused(client.post(HOOK_URL, data={"hook": "order-sign"}), 415)       # a form post


@pytest.mark.parametrize("raw", [b"", b"{", b"not json", b"{'hook': 1}", b"\xff\xfe\x00garbage", b"[1, 2",
                                 b'{"hook": "order-sign",}', b"NaN-ish {"])
def test_a_body_that_is_not_json_is_400(client, raw):
    assert_refused(client.post(HOOK_URL, data=raw, content_type="application/json"), 400)


def test_a_utf8_byte_order_mark_is_ignored(client):
    # RFC 8259 8.1: a parser may ignore a BOM; some .NET clients send one. Elsewhere in the body it is no JSON.
    raw = json.dumps(sign_request()).encode()
    plain = client.post(HOOK_URL, data=raw, content_type="application/json; charset=utf-8")
    with_bom = client.post(HOOK_URL, data=b"\xef\xbb\xbf" + raw, content_type="application/json; charset=utf-8")
    assert plain.status_code == with_bom.status_code == 200
    assert [c["summary"] for c in with_bom.get_json()["cards"]] == [c["summary"] for c in plain.get_json()["cards"]]
    assert with_bom.get_json()["cards"]
    assert_refused(client.post(HOOK_URL, data=b" \xef\xbb\xbf" + raw, content_type="application/json"), 400)
    assert_refused(client.post(HOOK_URL, data=b"\xef\xbb\xbf\xef\xbb\xbf" + raw, content_type="application/json"),
                   400)


@pytest.mark.parametrize("raw", [b"", b"  \r\n", b"\xef\xbb\xbf"])
def test_an_empty_body_is_400_saying_so(client, raw):
    refused = assert_refused(client.post(HOOK_URL, data=raw, content_type="application/json"), 400)
    assert refused["error"] == "the request body is empty: a JSON object is expected"


@pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "GZIP", "gzip, identity"])
def test_a_compressed_body_is_415_saying_so(client, coding):
    raw = json.dumps(sign_request()).encode()
    body = gzip.compress(raw) if coding.lower().startswith("gzip") else raw
    refused = assert_refused(client.post(HOOK_URL, data=body, content_type="application/json",
                                         headers={"Content-Encoding": coding}), 415)
    assert "Content-Encoding" in refused["error"]


@pytest.mark.parametrize("coding", ["identity", "Identity ", ""])
def test_identity_content_encoding_is_plain_json(client, coding):
    raw = json.dumps(sign_request()).encode()
    response = client.post(HOOK_URL, data=raw, content_type="application/json", headers={"Content-Encoding": coding})
    assert response.status_code == 200


def test_feedback_reads_its_body_by_the_same_rules(client):
    url = HOOK_URL + "/feedback"
    assert_refused(client.post(url, data=b"", content_type="application/json"), 400)
    assert_refused(client.post(url, data=gzip.compress(b'{"feedback": []}'), content_type="application/json",
                               headers={"Content-Encoding": "gzip"}), 415)
    refused = assert_refused(client.post(url, data=b'\xef\xbb\xbf{"feedback": []}', content_type="application/json"),
                             400)
    assert refused["field"] == "feedback"   # the BOM was read past: the object itself was judged


@pytest.mark.parametrize("raw", [b"[]", b"[{}]", b'"order-sign"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object_is_400(client, raw):
    assert_refused(client.post(HOOK_URL, data=raw, content_type="application/json"), 400)


def test_a_body_over_the_size_limit_is_413(make_app):
    client = make_app(max_body_bytes=4096).test_client()
    body = sign_request()
    body["padding"] = "x" * 5000
    refused = assert_refused(post(client, body), 413)
    assert "4096" in refused["error"]
    assert post(client, sign_request()).status_code == 200


def test_a_chunked_body_over_the_size_limit_is_413(make_app):
    # no Content-Length: the limit must hold while reading, not only on the header
    client = make_app(max_body_bytes=4096).test_client()
    payload = json.dumps(dict(sign_request(), padding="x" * 5000)).encode()
    response = client.post(HOOK_URL, input_stream=io.BytesIO(payload), content_type="application/json",
                           headers={"Transfer-Encoding": "chunked"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert_refused(response, 413)


def test_nesting_over_the_depth_limit_is_400(make_app):
    client = make_app(max_json_depth=20).test_client()
    body = sign_request()
    deep = {}
    node = deep
    for _ in range(25):
        node["x"] = {}
        node = node["x"]
    body["context"]["extension"] = deep
    refused = assert_refused(post(client, body), 400)
    assert "nested deeper than 20" in refused["error"]
    shallow = sign_request()
    shallow["context"]["extension"] = {"x": {"y": [1]}}
    assert post(client, shallow).status_code == 200


@pytest.mark.parametrize("opener, closer", [("[", "]"), ('{"a":', "}")])
def test_nesting_deeper_than_the_json_parser_can_go_is_400_not_500(client, opener, closer):
    depth = 200_000   # far past Python's recursion limit: the parser itself gives up
    raw = ('{"hook": ' + opener * depth + "1" + closer * depth + "}").encode()
    refused = assert_refused(client.post(HOOK_URL, data=raw, content_type="application/json"), 400)
    assert "nested deeper" in refused["error"]


def test_too_many_draft_orders_is_refused(make_app):
    client = make_app(max_draft_orders=3).test_client()
    orders = [medication_request(f"mr-{i}") for i in range(4)]
    assert_refused(post(client, sign_request(*orders)), 413, field="context.draftOrders.entry")
    assert post(client, sign_request(*orders[:3])).status_code == 200


def test_too_many_prefetch_entries_in_total_is_refused(make_app):
    client = make_app(max_prefetch_entries=10).test_client()

    def bundle(n):
        return {"resourceType": "Bundle", "type": "searchset",
                "entry": [{"resource": {"resourceType": "Observation", "id": f"o{i}", "status": "final"}}
                          for i in range(n)]}

    # each key under the limit, the sum over it
    assert_refused(post(client, sign_request(prefetch={"labs": bundle(6), "weight": bundle(5)})), 413,
                   field="prefetch")
    assert post(client, sign_request(prefetch={"labs": bundle(5), "weight": bundle(5)})).status_code == 200


# --- missing and ill-typed fields, level by level ----------------------------------------------------------
def _without(body, path):
    body = copy.deepcopy(body)
    *parents, last = path
    node = body
    for key in parents:
        node = node[key]
    del node[last]
    return body


def _with(body, path, value):
    body = copy.deepcopy(body)
    *parents, last = path
    node = body
    for key in parents:
        node = node[key]
    node[last] = value
    return body


ENTRY0 = ("context", "draftOrders", "entry", 0)


@pytest.mark.parametrize("build, path, field", [
    (sign_request, ("hook",), "hook"),
    (sign_request, ("hookInstance",), "hookInstance"),
    (sign_request, ("context",), "context"),
    (sign_request, ("context", "userId"), "context.userId"),
    (sign_request, ("context", "patientId"), "context.patientId"),
    (sign_request, ("context", "draftOrders"), "context.draftOrders"),
    (sign_request, ("context", "draftOrders", "resourceType"), "context.draftOrders.resourceType"),
    (sign_request, ENTRY0 + ("resource",), "context.draftOrders.entry[0].resource"),
    (sign_request, ENTRY0 + ("resource", "resourceType"), "context.draftOrders.entry[0].resource.resourceType"),
    (select_request, ("context", "selections"), "context.selections"),
    (select_request, ("context", "draftOrders"), "context.draftOrders"),
])
def test_a_missing_required_field_is_named(client, build, path, field):
    refused = assert_refused(post(client, _without(build(), path)), 400, field=field)
    assert "required" in refused["error"]


@pytest.mark.parametrize("path, value, field", [
    (("hook",), 7, "hook"),
    (("hook",), None, "hook"),
    (("hookInstance",), ["x"], "hookInstance"),
    (("hookInstance",), "", "hookInstance"),
    (("context",), "pat-1", "context"),
    (("context",), [], "context"),
    (("fhirServer",), 12, "fhirServer"),
    (("fhirServer",), "not a url", "fhirServer"),
    (("fhirServer",), "ftp://example.org/fhir", "fhirServer"),
    (("prefetch",), [], "prefetch"),
    (("prefetch",), {"patient": "Patient/1"}, "prefetch.patient"),
    (("prefetch",), {"labs": [1, 2]}, "prefetch.labs"),
    (("context", "userId"), 1, "context.userId"),
    (("context", "userId"), "prac-1", "context.userId"),
    (("context", "userId"), "Practitioner/", "context.userId"),
    (("context", "userId"), "Practitioner/a b", "context.userId"),
    (("context", "patientId"), 12, "context.patientId"),
    (("context", "patientId"), "", "context.patientId"),
    # patientId goes into FHIR search URLs: nothing but a FHIR id may pass
    (("context", "patientId"), "pat-1&_include=*", "context.patientId"),
    (("context", "patientId"), "../Practitioner/1", "context.patientId"),
    (("context", "patientId"), "p" * 257, "context.patientId"),   # EHR ids exceed FHIR's 64; 256 is the cap
    (("context", "patientId"), "..", "context.patientId"),
    (("context", "patientId"), ".", "context.patientId"),
    (("context", "userId"), "Practitioner/..", "context.userId"),
    (("context", "encounterId"), "..", "context.encounterId"),
    (ENTRY0 + ("resource", "id"), "..", "context.draftOrders.entry[0].resource.id"),
    (ENTRY0 + ("resource", "id"), "mr/1", "context.draftOrders.entry[0].resource.id"),
    (("context", "encounterId"), {"id": "e"}, "context.encounterId"),
    (("context", "encounterId"), "enc/1", "context.encounterId"),
    (("context", "draftOrders"), [], "context.draftOrders"),
    (("context", "draftOrders"), "Bundle", "context.draftOrders"),
    (("context", "draftOrders", "resourceType"), "Parameters", "context.draftOrders.resourceType"),
    (("context", "draftOrders", "entry"), {"resource": {}}, "context.draftOrders.entry"),
    (ENTRY0, "MedicationRequest/mr-1", "context.draftOrders.entry[0]"),
    (ENTRY0 + ("resource",), [], "context.draftOrders.entry[0].resource"),
    (ENTRY0 + ("resource",), None, "context.draftOrders.entry[0].resource"),
    (ENTRY0 + ("resource", "resourceType"), 3, "context.draftOrders.entry[0].resource.resourceType"),
])
def test_an_ill_typed_field_is_named(client, path, value, field):
    assert_refused(post(client, _with(sign_request(), path, value)), 400, field=field)


def test_the_first_bad_entry_is_the_one_named(client):
    body = sign_request(medication_request("mr-1"), medication_request("mr-2"), medication_request("mr-3"))
    body["context"]["draftOrders"]["entry"][1]["resource"] = {"id": "no-type"}
    body["context"]["draftOrders"]["entry"][2] = 5
    assert_refused(post(client, body), 400, field="context.draftOrders.entry[1].resource.resourceType")


# --- fhirAuthorization ---------------------------------------------------------------------------------
def test_fhir_authorization_without_fhir_server_is_400(client):
    refused = assert_refused(post(client, sign_request(fhirAuthorization=TOKEN)), 400, field="fhirServer")
    assert TOKEN["access_token"] not in json.dumps(refused)


@pytest.mark.parametrize("field", ["access_token", "token_type", "scope", "subject"])
def test_fhir_authorization_needs_each_required_field(client, field):
    auth = {k: v for k, v in TOKEN.items() if k != field}
    body = sign_request(fhirServer="https://ehr.example.org/fhir", fhirAuthorization=auth)
    assert_refused(post(client, body), 400, field=f"fhirAuthorization.{field}")


def test_fhir_authorization_without_expires_in_is_accepted_and_its_token_used(client, monkeypatch):
    # The CDS Hooks sandbox copies expires_in from its OAuth token response, which need not have one (RFC 6749:
    # RECOMMENDED); the service never reads it. Absent: the call is answered and the token still goes with the
    # reads. Ill-typed or null it is still refused (test_fhir_authorization_ill_typed_fields).
    sent = []
    monkeypatch.setattr(access, "_run_parallel",
                        lambda reads, base, token, timeout, extras: sent.append(token) or {})
    monkeypatch.setattr(access, "_apply", lambda *args: None)
    auth = {k: v for k, v in TOKEN.items() if k != "expires_in"}
    body = sign_request(fhirServer="https://ehr.example.org/fhir", fhirAuthorization=auth)
    response = post(client, body)
    assert response.status_code == 200 and "cards" in response.get_json()
    assert sent and set(sent) == {TOKEN["access_token"]}


@pytest.mark.parametrize("field, value", [
    ("token_type", "MAC"), ("expires_in", "soon"), ("expires_in", True), ("expires_in", None),
    ("access_token", 12345), ("access_token", ""), ("scope", ["patient/*.read"]), ("patient", 7),
])
def test_fhir_authorization_ill_typed_fields(client, field, value):
    body = sign_request(fhirServer="https://ehr.example.org/fhir", fhirAuthorization=dict(TOKEN, **{field: value}))
    refused = assert_refused(post(client, body), 400, field=f"fhirAuthorization.{field}")
    assert TOKEN["access_token"] not in json.dumps(refused)


@pytest.mark.parametrize("value", ["300", " 600 ", 30.5, 0])
def test_fhir_authorization_expires_in_is_read_leniently(client, value):
    # issue 14: the service never uses expires_in; EHRs send it as a numeric string
    body = sign_request(fhirServer="https://ehr.example.org/fhir", fhirAuthorization=dict(TOKEN, expires_in=value))
    assert post(client, body).status_code == 200


def test_fhir_authorization_that_is_not_an_object_is_400(client):
    body = sign_request(fhirServer="https://ehr.example.org/fhir", fhirAuthorization="Bearer abc")
    assert_refused(post(client, body), 400, field="fhirAuthorization")


# --- selections (order-select) -------------------------------------------------------------------------------
def test_selections_must_point_into_draft_orders(client):
    body = select_request(medication_request("mr-1"), medication_request("mr-2"))
    body["context"]["selections"] = ["MedicationRequest/mr-2", "MedicationRequest/mr-9"]
    refused = assert_refused(post(client, body), 400, field="context.selections[1]")
    assert "draftOrders" in refused["error"]


def test_a_selection_must_match_the_resource_type_too(client):
    body = select_request(medication_request("mr-1"))
    body["context"]["selections"] = ["ServiceRequest/mr-1"]
    assert_refused(post(client, body), 400, field="context.selections[0]")


@pytest.mark.parametrize("selections, field", [
    ([], "context.selections"),
    ("MedicationRequest/mr-1", "context.selections"),
    (["mr-1"], "context.selections[0]"),
    ([{"reference": "MedicationRequest/mr-1"}], "context.selections[0]"),
])
def test_selections_must_be_a_non_empty_list_of_references(client, selections, field):
    body = select_request()
    body["context"]["selections"] = selections
    assert_refused(post(client, body), 400, field=field)


def test_a_subset_of_draft_orders_may_be_selected(client):
    body = select_request(medication_request("mr-1"), medication_request("mr-2"))
    body["context"]["selections"] = ["MedicationRequest/mr-2"]
    assert post(client, body).status_code == 200


def test_order_sign_does_not_require_selections(client):
    body = sign_request()
    assert "selections" not in body["context"]
    assert post(client, body).status_code == 200


# --- error bodies never echo what was sent ------------------------------------------------------------------
def test_error_messages_do_not_echo_identifiers(client):
    body = sign_request(patient="pat-1")
    body["context"]["patientId"] = "Patient Smith 1970"
    refused = assert_refused(post(client, body), 400, field="context.patientId")
    assert "Smith" not in json.dumps(refused)


def test_the_service_id_in_urls_is_ours():
    assert HOOK_URL == f"/cds-services/{LEGACY_SERVICE_ID}"


# --- the depth check itself ------------------------------------------------------------------------------
def _nested(levels, kind):
    value = 1
    for _ in range(levels):
        value = {"k": value} if kind == "object" else [value]
    return value


@pytest.mark.parametrize("kind", ["object", "list"])
def test_nesting_is_measured_on_both_sides_of_the_limit(kind):
    from cds_service.cds_hooks.request_body import nesting_exceeds

    assert not nesting_exceeds(_nested(10, kind), 10)
    assert nesting_exceeds(_nested(11, kind), 10)
    mixed = {"a": [1, {"b": _nested(8, kind)}], "c": "x"}      # 2 + 1 + 8 levels = 11
    assert not nesting_exceeds(mixed, 11)
    assert nesting_exceeds(mixed, 10)
    assert not nesting_exceeds("scalar", 1)
    assert not nesting_exceeds({}, 1)


def test_a_very_deep_value_is_checked_without_recursion():
    from cds_service.cds_hooks.request_body import nesting_exceeds

    assert nesting_exceeds(_nested(100_000, "list"), 64)


# --- CDS Hooks 1.0 shapes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("change", [
    {"hook": "medication-prescribe"},
    {"user": "Practitioner/example", "context": {"patientId": "pat-1", "draftOrders": {"resourceType": "Bundle"}}},
    {"context": {"patientId": "pat-1", "medications": [{"resourceType": "MedicationOrder", "id": "m1"}]}},
])
def test_a_cds_hooks_1_request_gets_one_400_that_says_so(client, change):
    body = dict(sign_request(), **change)
    response = post(client, body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert "CDS Hooks 1.0 request" in error and "context.draftOrders" in error and "order-sign" in error


def test_a_2_0_request_with_a_stray_1_0_field_is_read_as_2_0(client):
    body = dict(sign_request(), user="Practitioner/example")
    body["context"]["medications"] = []
    assert post(client, body).status_code == 200
