"""The EHR side of ``iron-cds fire`` without servers: tokens, in-memory search, JWT signing, order files, printing."""

from __future__ import annotations

import json

import jwt
import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cds_service.ehr.bundle_search import UnsupportedSearch, search_bundle
from cds_service.ehr.card_text import describe_resource, render_response
from cds_service.ehr.client_jwt import SigningKeyError, load_signing_key, public_jwks, sign, thumbprint
from cds_service.ehr.fire import FireError, FireOptions, _for_patient, build_request, load_orders
from cds_service.ehr.prefetch import (
    BundleSource,
    FhirServerSource,
    PatientNotFound,
    PrefetchError,
    fill_template,
    resolve_prefetch,
    token_values,
)
from support.hook_requests import medication_request

LOINC = "http://loinc.org"


def _obs(rid, code, when, patient="p1", **extra):
    resource = {"resourceType": "Observation", "id": rid, "status": "final",
                "subject": {"reference": f"Patient/{patient}"},
                "code": {"coding": [{"system": LOINC, "code": code}]}, **extra}
    if isinstance(when, dict):
        resource["effectivePeriod"] = when
    elif when:
        resource["effectiveDateTime"] = when
    return resource


RESOURCES = [
    {"resourceType": "Patient", "id": "p1"},
    {"resourceType": "Patient", "id": "p2"},
    _obs("w-old", "29463-7", "2025-01-01"),
    _obs("w-new", "29463-7", "2025-06-01T08:00:00Z"),
    _obs("w-period", "29463-7", {"start": "2025-03-01"}),
    _obs("w-undated", "29463-7", None),
    _obs("w-other-patient", "29463-7", "2025-07-01", patient="p2"),
    _obs("ferritin", "2276-4", "2025-05-01"),
    {"resourceType": "Observation", "id": "no-system", "subject": {"reference": "Patient/p1"},
     "code": {"coding": [{"code": "2276-4"}]}, "effectiveDateTime": "2025-05-02"},
    {"resourceType": "Condition", "id": "c-active", "subject": {"reference": "Patient/p1"},
     "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                    "code": "active"}]}},
    {"resourceType": "Condition", "id": "c-resolved", "subject": {"reference": "Patient/p1"},
     "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                    "code": "resolved"}]}},
    {"resourceType": "AllergyIntolerance", "id": "a1", "patient": {"reference": "Patient/p1"}},
    {"resourceType": "MedicationAdministration", "id": "ma1", "subject": {"reference": "Patient/p1"},
     "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                               "code": "1435169"}]},
     "effectivePeriod": {"start": "2025-02-01T10:00:00Z", "end": "2025-02-01T10:15:00Z"}},
    {"resourceType": "AdverseEvent", "id": "ae1", "subject": {"reference": "Patient/p1"}},
]


def _ids(bundle):
    return [e["resource"]["id"] for e in bundle["entry"]]


# --- tokens -----------------------------------------------------------------------------------


def test_only_cds_hooks_2_tokens_are_filled_and_values_are_encoded():
    values = token_values("p 1/x", "Practitioner/doc-7", "enc-3")
    assert fill_template("Patient/{{context.patientId}}", values) == "Patient/p%201%2Fx"
    assert fill_template("Encounter/{{ context.encounterId }}", values) == "Encounter/enc-3"
    assert fill_template("Practitioner/{{userPractitionerId}}", values) == "Practitioner/doc-7"
    # a token of another user type, or a 3.0-style FHIRPath token, cannot be filled: the key is left out
    assert fill_template("PractitionerRole/{{userPractitionerRoleId}}", values) is None
    assert fill_template("Medication/{{context.draftOrders.MedicationRequest.id}}", values) is None
    assert fill_template("Observation?date=gt{{today() - 90 days}}", values) is None


def test_unfillable_template_is_left_out_not_sent_half_resolved():
    source = BundleSource({"resourceType": "Bundle", "entry": [{"resource": r} for r in RESOURCES]})
    result = resolve_prefetch(
        {"patient": "Patient/{{context.patientId}}",
         "odd": "Observation?patient={{context.patientId}}&x={{context.foo}}"},
        token_values("p1"), source,
    )
    assert result.prefetch == {"patient": {"resourceType": "Patient", "id": "p1"}}
    assert "odd" in result.skipped


# --- in-memory search ---------------------------------------------------------------------------


def test_search_by_bare_patient_id_and_by_reference_selects_only_that_patient():
    bare = search_bundle(RESOURCES, "Observation", [("patient", "p1"), ("code", f"{LOINC}|29463-7")])
    ref = search_bundle(RESOURCES, "Observation", [("subject", "Patient/p1"), ("code", f"{LOINC}|29463-7")])
    assert sorted(_ids(bare)) == sorted(_ids(ref)) == ["w-new", "w-old", "w-period", "w-undated"]
    assert search_bundle(RESOURCES, "AllergyIntolerance", [("patient", "p1")])["total"] == 1
    assert search_bundle(RESOURCES, "AllergyIntolerance", [("patient", "p2")])["total"] == 0


def test_code_lists_match_any_code_and_respect_the_system():
    both = search_bundle(RESOURCES, "Observation", [("patient", "p1"), ("code", f"{LOINC}|2276-4,{LOINC}|4548-4")])
    assert _ids(both) == ["ferritin"]                       # the coding without a system does not match LOINC|
    any_system = search_bundle(RESOURCES, "Observation", [("patient", "p1"), ("code", "2276-4")])
    assert sorted(_ids(any_system)) == ["ferritin", "no-system"]
    wrong_system = search_bundle(RESOURCES, "Observation", [("patient", "p1"),
                                                            ("code", "http://snomed.info/sct|2276-4")])
    assert wrong_system["total"] == 0
    iron = search_bundle(RESOURCES, "MedicationAdministration",
                         [("patient", "p1"), ("code", "http://www.nlm.nih.gov/research/umls/rxnorm|1435169")])
    assert _ids(iron) == ["ma1"]


def test_clinical_status_filter():
    assert _ids(search_bundle(RESOURCES, "Condition", [("patient", "p1"),
                                                       ("clinical-status", "active")])) == ["c-active"]


def test_sort_by_date_newest_first_undated_last_and_count_limits_the_page():
    newest = search_bundle(RESOURCES, "Observation", [("patient", "p1"), ("code", f"{LOINC}|29463-7"),
                                                      ("_sort", "-date")])
    assert _ids(newest) == ["w-new", "w-period", "w-old", "w-undated"]
    oldest = search_bundle(RESOURCES, "Observation", [("patient", "p1"), ("code", f"{LOINC}|29463-7"),
                                                      ("_sort", "date")])
    assert _ids(oldest) == ["w-old", "w-period", "w-new", "w-undated"]
    one = search_bundle(RESOURCES, "Observation",
                        [("patient", "p1"), ("code", f"{LOINC}|29463-7"), ("_sort", "-date"), ("_count", "1")])
    assert _ids(one) == ["w-new"] and one["total"] == 4 and one["type"] == "searchset"


def test_unsupported_search_features_are_refused_not_ignored():
    for params in ([("date", "gt2025-01-01")], [("_sort", "-foo")], [("_count", "many")]):
        with pytest.raises(UnsupportedSearch):
            search_bundle(RESOURCES, "Observation", params)


def test_reads_from_a_bundle():
    source = BundleSource({"resourceType": "Bundle", "entry": [{"resource": r} for r in RESOURCES]})
    assert source.fetch("Patient/p1") == {"resourceType": "Patient", "id": "p1"}
    assert source.fetch("Patient/nobody") is None


# --- JWT ------------------------------------------------------------------------------------------


def test_rfc7638_thumbprint_known_answer():
    rfc_key = {
        "kty": "RSA",
        "e": "AQAB",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZ"
             "CiFV4n3oknj"
             "hMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQv"
             "RL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert thumbprint(rfc_key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def _pem(private_key) -> bytes:
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())


@pytest.mark.parametrize("make_key, alg", [
    (lambda: ec.generate_private_key(ec.SECP384R1()), "ES384"),
    (lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS384"),
])
def test_signed_token_verifies_with_the_published_jwks(tmp_path, make_key, alg):
    path = tmp_path / "key.pem"
    path.write_bytes(_pem(make_key()))
    key = load_signing_key(path)
    assert key.alg == alg and key.kid == thumbprint(key.public_jwk)
    token = sign(key, "https://ehr.example", "http://127.0.0.1:9/cds-services/x", jku="https://ehr.example/jwks")
    header = jwt.get_unverified_header(token)
    assert header == {"alg": alg, "kid": key.kid, "typ": "JWT", "jku": "https://ehr.example/jwks"}
    jwk = public_jwks(key)["keys"][0]
    assert "d" not in jwk                                   # the JWKS never carries the private part
    public = jwt.PyJWK(jwk).key
    claims = jwt.decode(token, public, algorithms=[alg], audience="http://127.0.0.1:9/cds-services/x")
    assert claims["iss"] == claims["sub"] == "https://ehr.example"
    assert claims["exp"] - claims["iat"] == 300
    assert claims["jti"] != jwt.decode(sign(key, "https://ehr.example", "a"), public, algorithms=[alg],
                                       audience="a")["jti"]


def test_jwk_file_keeps_its_own_kid(tmp_path):
    private = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private))
    jwk["kid"] = "sandbox-like-kid"
    path = tmp_path / "key.jwk.json"
    path.write_text(json.dumps(jwk))
    assert load_signing_key(path).kid == "sandbox-like-kid"


def test_unusable_keys_are_refused_with_one_line(tmp_path):
    public_only = tmp_path / "public.pem"
    public_only.write_bytes(ec.generate_private_key(ec.SECP384R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a key")
    for path in (public_only, garbage, tmp_path / "missing.pem"):
        with pytest.raises(SigningKeyError) as info:
            load_signing_key(path)
        assert "\n" not in str(info.value)


# --- order files and the request -----------------------------------------------------------------


def test_order_file_forms(tmp_path):
    single = tmp_path / "one.json"
    single.write_text(json.dumps(medication_request("mr-1")))
    assert [o["id"] for o in load_orders(str(single))] == ["mr-1"]
    bundle = tmp_path / "bundle.json"
    bundle.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": [
        {"resource": medication_request("mr-1")}, {"resource": medication_request("mr-2")}]}))
    assert [o["id"] for o in load_orders(str(bundle))] == ["mr-1", "mr-2"]


@pytest.mark.parametrize("content, message", [
    (None, "cannot read order file"),
    ("{not json", "not valid JSON"),
    ('["a"]', "expected a MedicationRequest"),
    ('{"resourceType": "Patient", "id": "x"}', "found 'Patient'"),
    ('{"resourceType": "MedicationRequest"}', "has no id"),
    ('{"resourceType": "Bundle", "entry": []}', "holds no orders"),
    ('{"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "ServiceRequest", "id": "s"}}]}',
     "no MedicationRequest"),
])
def test_bad_order_files_give_one_clear_line(tmp_path, content, message):
    path = tmp_path / "order.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(FireError) as info:
        load_orders(str(path))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_request_carries_server_token_and_selections_as_an_ehr_would():
    orders = [medication_request("mr-1", patient="p1"),
              {"resourceType": "ServiceRequest", "id": "sr-1", "status": "draft", "intent": "order"}]
    options = FireOptions(order="x", fhir_server="http://127.0.0.1:1/fhir/", patient="p1", bearer_token="tok",
                          hook="order-select", encounter="enc-9")
    body = build_request(options, orders, "p1", {"patient": {"resourceType": "Patient", "id": "p1"}})
    assert body["hook"] == "order-select" and len(body["hookInstance"]) == 36
    assert body["fhirServer"] == "http://127.0.0.1:1/fhir"
    assert body["fhirAuthorization"]["access_token"] == "tok" and body["fhirAuthorization"]["token_type"] == "Bearer"
    assert body["fhirAuthorization"]["patient"] == "p1"
    context = body["context"]
    assert context["selections"] == ["MedicationRequest/mr-1"]
    assert context["userId"] == "Practitioner/iron-cds-fire" and context["encounterId"] == "enc-9"
    assert [e["resource"]["id"] for e in context["draftOrders"]["entry"]] == ["mr-1", "sr-1"]
    # no token -> no fhirAuthorization; no server -> neither; order-sign has no selections
    plain = build_request(FireOptions(order="x", patient="p1"), orders[:1], "p1", None)
    assert "fhirServer" not in plain and "fhirAuthorization" not in plain and "prefetch" not in plain
    assert "selections" not in plain["context"]


# --- printing -------------------------------------------------------------------------------------


def test_cards_print_indicator_summary_detail_and_what_each_suggestion_changes():
    slower = medication_request("mr-1", minutes=30)
    response = {"cards": [
        {"uuid": "1", "summary": "Observe after ferric carboxymaltose", "indicator": "info",
         "source": {"label": "iron-cds", "topic": {"code": "observation-period"}},
         "selectionBehavior": "any",
         "suggestions": [{"label": "Order observation", "uuid": "s1", "actions": [{
             "type": "create", "description": "Add observation",
             "resource": {"resourceType": "ServiceRequest", "status": "draft",
                          "code": {"text": "Observe 30 min with blood pressure and pulse"}}}]}]},
        {"uuid": "2", "summary": "Infuse over at least 30 minutes", "indicator": "warning",
         "detail": "Ordered **15 min**.\n\n- label minimum 15 min",
         "source": {"label": "iron-cds", "topic": {"code": "infusion-rate"}}, "selectionBehavior": "at-most-one",
         "suggestions": [{"label": "Slow the infusion", "isRecommended": True, "actions": [
             {"type": "update", "description": "Longer duration", "resource": slower}]},
             {"label": "Cancel", "actions": [{"type": "delete", "description": "Cancel the order",
                                              "resourceId": "MedicationRequest/mr-1"}]}],
         "overrideReasons": [{"code": "x", "system": "s", "display": "Patient tolerated faster rate"}]},
    ]}
    text = render_response(response)
    assert text.startswith("2 cards:")
    assert text.index("[WARNING]") < text.index("[INFO]")               # the louder card first
    assert "topic infusion-rate" in text and "Ordered **15 min**." in text
    assert "update MedicationRequest/mr-1:" in text and "over 30 min" in text and "dose 750 mg" in text
    assert "[recommended]" in text
    assert "delete MedicationRequest/mr-1" in text
    assert "create ServiceRequest: Observe 30 min with blood pressure and pulse; status draft" in text
    assert "Patient tolerated faster rate" in text
    assert render_response({"cards": []}).startswith("No cards")


def test_describe_resource_is_compact():
    line = describe_resource(medication_request("mr-1", dose_mg=500, minutes=15))
    assert line == "15 ML ferric carboxymaltose 50 MG/ML Injection; dose 500 mg; route IV; over 15 min; status draft"


def test_markdown_detail_is_reflowed_by_paragraph_and_list_item():
    detail = ("The order runs over **15 min**. For this\npatient it should run over **30 min**.\n\n"
              "**Why**\n- label minimum 15 min\n- earlier infusion pain:\n  half the rate\n")
    card = {"summary": "s", "indicator": "warning", "source": {"label": "x"}, "detail": detail}
    lines = render_response({"cards": [card]}, width=200).splitlines()
    assert "   The order runs over **15 min**. For this patient it should run over **30 min**." in lines
    assert "   **Why**" in lines
    assert "   - earlier infusion pain: half the rate" in lines
    narrow = render_response({"cards": [card]}, width=30).splitlines()
    assert all(len(line) <= 30 for line in narrow[2:])
    assert any(line.startswith("     ") for line in narrow)      # list items hang under their text


# --- the EHR side against servers the test server cannot imitate (paging, faults) ------------------

BASE = "https://fhir.example.test/r4"


def _page(ids, next_url=None):
    page = {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": {"resourceType": "AllergyIntolerance", "id": i}} for i in ids]}
    if next_url:
        page["link"] = [{"relation": "next", "url": next_url}]
    return page


def _fire_said(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "iron_cds.fire"]


@responses.activate
def test_without_count_the_ehr_follows_next_links_on_the_same_server_only(caplog):
    caplog.set_level("WARNING", logger="iron_cds.fire")
    responses.get(f"{BASE}/AllergyIntolerance?patient=p1", json=_page(["a1"], f"{BASE}/page2"))
    responses.get(f"{BASE}/page2", json=_page(["a2"], "https://elsewhere.example/page3"))
    source = FhirServerSource(BASE, bearer_token="tok")
    bundle = source.fetch("AllergyIntolerance?patient=p1")
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["a1", "a2"]
    assert "link" not in bundle
    assert all(call.request.headers["Authorization"] == "Bearer tok" for call in responses.calls)
    assert all("elsewhere" not in call.request.url for call in responses.calls)   # the token stays home
    said = "AllergyIntolerance search: next page not followed (another host); sending the 2 page(s) read"
    assert _fire_said(caplog) == [said]


def _chain(resource_type, count):
    """``count`` pages of a search without _count, each linking to the next."""
    urls = [f"{BASE}/{resource_type}?patient=p1"] + [f"{BASE}/{resource_type}?page={n}" for n in range(2, count + 1)]
    for n, url in enumerate(urls, start=1):
        responses.get(url, json=_page([f"a{n}"], urls[n] if n < count else None))
    return urls


@responses.activate
def test_the_ehr_reads_at_most_ten_pages_and_says_so(caplog):
    caplog.set_level("WARNING", logger="iron_cds.fire")
    _chain("AllergyIntolerance", 11)
    bundle = FhirServerSource(BASE).fetch("AllergyIntolerance?patient=p1")
    assert [e["resource"]["id"] for e in bundle["entry"]] == [f"a{n}" for n in range(1, 11)]
    assert len(responses.calls) == 10
    assert _fire_said(caplog) == ["AllergyIntolerance search: stopped after 10 pages; sending the 10 page(s) read"]


@responses.activate
def test_ten_pages_and_no_more_is_the_whole_answer(caplog):
    caplog.set_level("WARNING", logger="iron_cds.fire")
    _chain("AllergyIntolerance", 10)
    bundle = FhirServerSource(BASE).fetch("AllergyIntolerance?patient=p1")
    assert len(bundle["entry"]) == 10 and _fire_said(caplog) == []


@responses.activate
def test_a_later_page_that_is_no_bundle_leaves_the_pages_before_it(caplog):
    caplog.set_level("WARNING", logger="iron_cds.fire")
    urls = _chain("AllergyIntolerance", 3)
    responses.replace(responses.GET, urls[1], status=500, body="<html>oops</html>")
    bundle = FhirServerSource(BASE).fetch("AllergyIntolerance?patient=p1")
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["a1"]
    assert _fire_said(caplog) == ["AllergyIntolerance search: page 2 was not a Bundle; sending the 1 page(s) read"]


@responses.activate
def test_a_later_page_that_does_not_answer_ends_the_fire():
    urls = _chain("AllergyIntolerance", 2)
    responses.replace(responses.GET, urls[1], body=requests.ConnectionError("refused"))
    with pytest.raises(PrefetchError, match="cannot reach FHIR server"):
        FhirServerSource(BASE).fetch("AllergyIntolerance?patient=p1")


@responses.activate
def test_a_link_back_to_a_page_read_already_is_not_read_again():
    first = f"{BASE}/AllergyIntolerance?patient=p1"
    responses.get(first, json=_page(["a1"], f"{BASE}/page2"))
    responses.get(f"{BASE}/page2", json=_page(["a2"], first))
    bundle = FhirServerSource(BASE).fetch("AllergyIntolerance?patient=p1")
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["a1", "a2"] and len(responses.calls) == 2


@responses.activate
def test_with_count_the_first_page_is_the_answer():
    responses.get(f"{BASE}/Observation?patient=p1&_count=1", json=_page(["w1"], f"{BASE}/page2"))
    bundle = FhirServerSource(BASE).fetch("Observation?patient=p1&_count=1")
    assert [e["resource"]["id"] for e in bundle["entry"]] == ["w1"] and len(responses.calls) == 1


@responses.activate
def test_server_faults_become_operation_outcomes_and_reads_of_nothing_null():
    responses.get(f"{BASE}/Condition?patient=p1", status=500, body="oops")
    responses.get(f"{BASE}/Patient/gone", status=404, json={"resourceType": "OperationOutcome"})
    source = FhirServerSource(BASE)
    assert source.fetch("Condition?patient=p1")["resourceType"] == "OperationOutcome"   # the service then reads itself
    assert source.fetch("Patient/gone") is None
    with pytest.raises(PatientNotFound):
        source.check_patient("gone")


@responses.activate
def test_refused_or_odd_patient_reads_are_clear_errors():
    responses.get(f"{BASE}/Patient/p1", status=403, json={"resourceType": "OperationOutcome"})
    with pytest.raises(PrefetchError, match="refused access"):
        FhirServerSource(BASE).check_patient("p1")
    responses.replace(responses.GET, f"{BASE}/Patient/p1", status=200, body="<html>login</html>")
    with pytest.raises(PrefetchError, match="gave no Patient"):
        FhirServerSource(BASE).check_patient("p1")


def test_orders_are_drafted_for_the_patient_in_context():
    orders = _for_patient([medication_request("mr-1", patient="someone-else"),
                           medication_request("mr-2", patient="p1")], "p1")
    assert [o["subject"]["reference"] for o in orders] == ["Patient/p1", "Patient/p1"]
