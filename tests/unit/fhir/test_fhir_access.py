"""gather_record: the four prefetch states, fallback reads, token handling, paging and faults (via `responses`)."""

from __future__ import annotations

import json
import logging
import threading
from types import SimpleNamespace
from urllib.parse import unquote, urlsplit

import pytest
import requests
import responses

from cds_service.cds_hooks.discovery import PrefetchKey
from cds_service.config import Config
from cds_service.fhir.access import gather_record
from cds_service.ops import metrics
from cds_service.ops.logs import JsonFormatter
from support.hook_requests import HOOK_URL, hook_request, medication_request

BASE = "http://fhir.test/r4"
TOKEN = "secret-access-token-123"
PATIENT = "pat-1"
KEYS = (
    PrefetchKey("patient", "Patient/{{context.patientId}}"),
    PrefetchKey("labs", "Observation?patient={{context.patientId}}&code=http://loinc.org|718-7"),
)
PATIENT_RES = {"resourceType": "Patient", "id": PATIENT}
OBS = {"resourceType": "Observation", "id": "o1", "status": "final"}
OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing"}]}


def state(timeout=2.0, max_pages=3):
    # Reads are mocked and answer at once; the timeout only has to outlast a loaded test machine.
    return SimpleNamespace(config=Config(fhir_timeout=timeout, fhir_max_pages=max_pages), extras={})


def request(prefetch=None, server=BASE, token=TOKEN, patient=PATIENT, drafts=(), **context):
    body = {
        "hook": "order-sign",
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "context": {"userId": "Practitioner/prac-1", "patientId": patient, "encounterId": "enc-1",
                    "draftOrders": {"resourceType": "Bundle", "type": "collection",
                                    "entry": [{"resource": r} for r in drafts]},
                    **context},
    }
    if server is not None:
        body["fhirServer"] = server
    if token is not None:
        body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer", "expires_in": 300,
                                     "scope": "patient/*.read", "subject": "iron-cds"}
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def searchset(*resources, next_url=None):
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


@pytest.fixture
def fhir():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def mock_both(fhir):
    fhir.get(f"{BASE}/Patient/{PATIENT}", json=PATIENT_RES, content_type="application/fhir+json")
    fhir.get(f"{BASE}/Observation", json=searchset(OBS), content_type="application/fhir+json")


# --- the four prefetch states ----------------------------------------------------------------------

def test_prefetched_resource_and_bundle_are_used_without_reading(fhir):
    record = gather_record(request({"patient": PATIENT_RES, "labs": searchset(OBS)}), KEYS, state())
    assert record.sources == {"patient": "prefetch", "labs": "prefetch"}
    assert record.patient == PATIENT_RES
    assert record.of_type("Observation") == [OBS]
    assert record.unavailable == {}
    assert len(fhir.calls) == 0


def test_null_means_no_data_and_is_not_re_read(fhir):
    mock_both(fhir)
    record = gather_record(request({"patient": None, "labs": None}), KEYS, state())
    assert record.sources == {"patient": "null", "labs": "null"}
    assert record.resources == {} and record.unavailable == {}
    assert len(fhir.calls) == 0


def test_absent_keys_are_read_from_fhir_server_with_the_bearer_token(fhir):
    mock_both(fhir)
    record = gather_record(request({"patient": PATIENT_RES}), KEYS, state())
    assert record.sources == {"patient": "prefetch", "labs": "fhir"}
    assert record.of_type("Observation") == [OBS]
    assert [unquote(c.request.url) for c in fhir.calls] == [
        f"{BASE}/Observation?patient={PATIENT}&code=http://loinc.org|718-7"]
    headers = fhir.calls[0].request.headers
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert "application/fhir+json" in headers["Accept"] and "application/json" in headers["Accept"]


def test_no_prefetch_at_all_reads_every_key(fhir):
    mock_both(fhir)
    record = gather_record(request(), KEYS, state())
    assert record.sources == {"patient": "fhir", "labs": "fhir"}
    assert record.patient == PATIENT_RES
    assert len(fhir.calls) == 2


@pytest.mark.parametrize("bad", [
    OUTCOME,
    {"resourceType": "Bundle", "entry": [{"resource": OUTCOME, "search": {"mode": "outcome"}}]},
    {"resourceType": "Bundle", "entry": [{"resource": {**OUTCOME,
                                                       "issue": [{"severity": "warning", "code": "too-costly"}]}}]},
    {"resourceType": "Bundle", "entry": [{"resource": OBS}, {"resource": OUTCOME}]},
    "a string", ["a", "list"], {"id": "no-resource-type"}, {"resourceType": 7},
], ids=["outcome", "bundle-error-outcome", "bundle-only-outcomes", "bundle-with-error", "string", "list",
        "no-type", "type-not-string"])
def test_operation_outcome_or_malformed_prefetch_is_not_obtained_and_read(fhir, bad):
    mock_both(fhir)
    record = gather_record(request({"patient": PATIENT_RES, "labs": bad}), KEYS, state())
    assert record.sources["labs"] == "fhir"
    assert record.of_type("Observation") == [OBS]
    assert "labs" not in record.unavailable
    assert len(fhir.calls) == 1


def test_failed_prefetch_and_failed_read_give_both_reasons(fhir):
    fhir.get(f"{BASE}/Observation", status=503)
    record = gather_record(request({"patient": PATIENT_RES, "labs": OUTCOME}), KEYS, state())
    assert record.unavailable["labs"] == "prefetch OperationOutcome (processing); HTTP 503"
    assert "labs" not in record.sources


def test_prefetch_bundle_entries_are_added_leniently(fhir, caplog):
    bundle = {"resourceType": "Bundle", "entry": [
        {"resource": OBS}, "junk", {"resource": {"id": "x"}},
        {"resource": {"resourceType": "OperationOutcome",
                      "issue": [{"severity": "information", "code": "informational"}]},
         "search": {"mode": "outcome"}},
    ]}
    with caplog.at_level(logging.WARNING, logger="iron_cds.fhir"):
        record = gather_record(request({"patient": PATIENT_RES, "labs": bundle}), KEYS, state())
    assert record.of_type("Observation") == [OBS]
    assert record.of_type("OperationOutcome") == []
    assert record.sources["labs"] == "prefetch"
    skipped = [r for r in caplog.records if r.getMessage() == "skipped 2 unreadable resources"]
    assert len(skipped) == 1 and skipped[0].key == "labs"
    # What was read is used, but the key is not checked as whole: the unreadable entries may be what matters.
    assert record.unavailable["labs"] == "2 entries without a readable resource"


@pytest.mark.parametrize("entries, unavailable", [
    ([{"fullUrl": f"{BASE}/Observation/o9"}], "1 entry without a readable resource"),
    ([{"resource": OBS}, {"fullUrl": f"{BASE}/Observation/o9", "search": {"mode": "match"}}],
     "1 entry without a readable resource"),
    ([{"resource": OBS}], None),
    ([{"resource": OBS}, {"resource": {"resourceType": "Patient", "id": PATIENT}, "search": {"mode": "include"}},
      {"resource": {"resourceType": "OperationOutcome", "issue": [{"severity": "warning", "code": "informational"}]},
       "search": {"mode": "outcome"}}], None),
    ([], None),
])
def test_entries_without_a_resource_make_the_key_unavailable(fhir, entries, unavailable):
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
    record = gather_record(request({"patient": PATIENT_RES, "labs": bundle}), KEYS, state())
    assert record.unavailable.get("labs") == unavailable
    assert record.sources["labs"] == "prefetch" and len(fhir.calls) == 0


def test_a_read_with_entries_without_a_resource_is_unavailable_too(fhir):
    fhir.get(f"{BASE}/Observation", json={"resourceType": "Bundle", "type": "searchset",
                                          "entry": [{"resource": OBS}, {"fullUrl": f"{BASE}/Observation/o9"}]})
    record = gather_record(request({"patient": PATIENT_RES}), KEYS, state())
    assert record.of_type("Observation") == [OBS]
    assert record.unavailable == {"labs": "1 entry without a readable resource"}


def test_paged_prefetch_is_completed_from_fhir_server(fhir):
    obs2 = {**OBS, "id": "o2"}
    fhir.get(f"{BASE}/Observation?page=2", json=searchset(obs2))
    prefetch = {"patient": PATIENT_RES, "labs": searchset(OBS, next_url=f"{BASE}/Observation?page=2")}
    record = gather_record(request(prefetch), KEYS, state())
    assert [o["id"] for o in record.of_type("Observation")] == ["o1", "o2"]
    assert record.sources["labs"] == "prefetch"
    assert fhir.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_paged_prefetch_pointing_elsewhere_is_not_followed(fhir):
    prefetch = {"patient": PATIENT_RES, "labs": searchset(OBS, next_url="http://other.test/Observation?page=2")}
    record = gather_record(request(prefetch), KEYS, state())
    assert len(fhir.calls) == 0
    assert record.sources["labs"] == "prefetch"
    assert "another host" in record.incomplete["labs"]


# --- server, token and template problems -----------------------------------------------------------

def test_no_fhir_server_makes_missing_keys_unavailable(fhir):
    record = gather_record(request({"patient": PATIENT_RES}, server=None, token=None), KEYS, state())
    assert record.unavailable == {"labs": "no fhirServer given"}
    assert record.sources == {"patient": "prefetch"}
    assert len(fhir.calls) == 0


def test_no_fhir_authorization_sends_no_authorization_header(fhir):
    mock_both(fhir)
    record = gather_record(request(token=None), KEYS, state())
    assert record.sources == {"patient": "fhir", "labs": "fhir"}
    assert all("Authorization" not in c.request.headers for c in fhir.calls)


def test_a_token_that_cannot_be_a_header_is_not_sent_nor_replaced_by_anonymous_reads(fhir):
    mock_both(fhir)
    record = gather_record(request(token="abc\r\nX-Injected: 1"), KEYS, state())
    assert len(fhir.calls) == 0
    assert record.unavailable == {"patient": "access token unusable", "labs": "access token unusable"}


def test_template_with_an_unresolved_token_is_not_read(fhir):
    keys = KEYS + (PrefetchKey("encounter", "Encounter/{{context.encounterId}}"),)
    mock_both(fhir)
    body = request()
    del body["context"]["encounterId"]
    record = gather_record(body, keys, state())
    assert record.unavailable == {"encounter": "template needs {{context.encounterId}}"}
    assert all("/Encounter" not in c.request.url for c in fhir.calls)
    assert record.sources == {"patient": "fhir", "labs": "fhir"}


def test_patient_id_is_url_encoded(fhir):
    fhir.get(f"{BASE}/Patient/a%2Fb%20c", json={"resourceType": "Patient", "id": "x"})
    fhir.get(f"{BASE}/Observation", json=searchset())
    gather_record(request(patient="a/b c"), KEYS, state())
    urls = sorted(c.request.url for c in fhir.calls)
    assert urls[1] == f"{BASE}/Patient/a%2Fb%20c"
    assert "patient=a%2Fb%20c" in urls[0]


# --- faults --------------------------------------------------------------------------------------

@pytest.mark.parametrize("mock_kwargs, reason, outcome", [
    ({"status": 500}, "HTTP 500", "http-error"),
    ({"status": 401, "json": OUTCOME}, "HTTP 401", "http-error"),
    ({"status": 404}, "HTTP 404", "http-error"),
    ({"status": 302, "headers": {"Location": "http://elsewhere.test/"}}, "HTTP 302", "http-error"),
    ({"body": requests.exceptions.ReadTimeout()}, "timeout after 2s", "timeout"),
    ({"body": requests.exceptions.ConnectTimeout()}, "timeout after 2s", "timeout"),
    ({"body": requests.exceptions.ConnectionError()}, "connection failed", "connection-error"),
    ({"body": requests.exceptions.SSLError()}, "connection failed", "connection-error"),
    ({"body": "<html>login</html>", "content_type": "text/html"}, "not JSON", "not-json"),
    ({"body": b"\xff\xfe\x00garbage"}, "not JSON", "not-json"),
    ({"json": ["a", "list"]}, "not a FHIR resource", "not-fhir"),
    ({"json": {"hello": "world"}}, "not a FHIR resource (no resourceType)", "not-fhir"),
    ({"json": OUTCOME}, "OperationOutcome (processing)", "operation-outcome"),
])
def test_read_faults_become_unavailable_with_a_short_reason(fhir, monkeypatch, mock_kwargs, reason, outcome):
    observed = []
    monkeypatch.setattr(metrics, "observe_fhir_read", lambda key, seconds, out: observed.append((key, out)))
    fhir.get(f"{BASE}/Observation", **mock_kwargs)
    record = gather_record(request({"patient": PATIENT_RES}), KEYS, state())
    assert record.unavailable == {"labs": reason}
    assert record.sources == {"patient": "prefetch"}
    assert record.of_type("Observation") == []
    assert observed == [("labs", outcome)]
    assert all("elsewhere" not in c.request.url for c in fhir.calls)


def test_successful_reads_are_observed_as_ok(fhir, monkeypatch):
    observed = []
    monkeypatch.setattr(metrics, "observe_fhir_read", lambda key, seconds, out: observed.append((key, out, seconds)))
    mock_both(fhir)
    gather_record(request(), KEYS, state())
    assert sorted(o[:2] for o in observed) == [("labs", "ok"), ("patient", "ok")]
    assert all(o[2] >= 0 for o in observed)


def test_failure_logs_name_the_key_and_reason_but_never_the_token_or_patient(fhir, caplog):
    fhir.get(f"{BASE}/Patient/{PATIENT}", body=requests.exceptions.ConnectionError(
        f"HTTPConnectionPool: Max retries exceeded with url: /Patient/{PATIENT} Bearer {TOKEN}"))
    fhir.get(f"{BASE}/Observation", status=500)
    with caplog.at_level(logging.INFO, logger="iron_cds"):
        gather_record(request(patient=PATIENT), KEYS, state())
    lines = [JsonFormatter().format(r) for r in caplog.records]
    failures = [json.loads(line) for line in lines if '"fhir-read-failed"' in line]
    assert {(f["key"], f["reason"]) for f in failures} == {("patient", "connection failed"), ("labs", "HTTP 500")}
    text = "\n".join(lines)
    assert TOKEN not in text and PATIENT not in text and BASE not in text


# --- paging and the token's reach ----------------------------------------------------------------

def test_next_links_on_fhir_server_are_followed_with_the_token_up_to_the_cap(fhir):
    for page in range(1, 6):
        fhir.get(f"{BASE}/Observation?p={page}",
                 json=searchset({**OBS, "id": f"o{page}"}, next_url=f"{BASE}/Observation?p={page + 1}"),
                 match=[responses.matchers.query_param_matcher({"p": str(page)})])
    keys = (PrefetchKey("labs", "Observation?p=1"),)
    record = gather_record(request(), keys, state(max_pages=3))
    assert [o["id"] for o in record.of_type("Observation")] == ["o1", "o2", "o3"]
    assert len(fhir.calls) == 3
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in fhir.calls)
    assert record.sources == {"labs": "fhir"}
    assert record.incomplete == {"labs": "stopped after 3 pages"}


def test_relative_next_link_is_resolved_against_the_page(fhir):
    fhir.get(f"{BASE}/Observation", json=searchset(OBS, next_url="Observation?page=2"),
             match=[responses.matchers.query_param_matcher({"patient": PATIENT, "code": "http://loinc.org|718-7"})])
    fhir.get(f"{BASE}/Observation", json=searchset({**OBS, "id": "o2"}),
             match=[responses.matchers.query_param_matcher({"page": "2"})])
    record = gather_record(request({"patient": PATIENT_RES}), KEYS, state())
    assert [o["id"] for o in record.of_type("Observation")] == ["o1", "o2"]


@pytest.mark.parametrize("foreign", [
    "http://attacker.test/r4/Observation?page=2",
    "https://fhir.test/r4/Observation?page=2",        # another scheme is another origin
    "http://fhir.test:8080/r4/Observation?page=2",    # another port too
    "http://fhir.test.attacker.test/r4/Observation?page=2",
    "//attacker.test/steal",
])
def test_next_link_to_another_origin_is_not_followed_and_gets_no_token(fhir, foreign):
    fhir.get(f"{BASE}/Observation", json=searchset(OBS, next_url=foreign))
    trap = fhir.get(foreign if foreign.startswith("http") else "http://attacker.test/steal", json=searchset())
    record = gather_record(request({"patient": PATIENT_RES}), KEYS, state())
    assert trap.call_count == 0
    assert len(fhir.calls) == 1 and fhir.calls[0].request.url.startswith(BASE)
    assert record.of_type("Observation") == [OBS]
    assert record.sources["labs"] == "fhir"
    assert record.incomplete["labs"] == "next page not followed: another host"


def test_a_failing_later_page_keeps_earlier_resources_but_marks_the_key(fhir):
    fhir.get(f"{BASE}/Observation", json=searchset(OBS, next_url=f"{BASE}/Observation?page=2"),
             match=[responses.matchers.query_param_matcher({"patient": PATIENT, "code": "http://loinc.org|718-7"})])
    fhir.get(f"{BASE}/Observation", status=500, match=[responses.matchers.query_param_matcher({"page": "2"})])
    record = gather_record(request({"patient": PATIENT_RES}), KEYS, state())
    assert record.of_type("Observation") == [OBS]
    assert record.unavailable["labs"] == "page 2: HTTP 500"


def test_a_page_linking_to_itself_stops(fhir):
    url = f"{BASE}/Observation?patient={PATIENT}&code=http://loinc.org|718-7"
    fhir.get(f"{BASE}/Observation", json=searchset(OBS, next_url=url))
    record = gather_record(request({"patient": PATIENT_RES}), KEYS, state(max_pages=5))
    assert len(fhir.calls) == 1
    assert record.sources["labs"] == "fhir" and "labs" not in record.unavailable


# --- Medications referenced by draft orders ---------------------------------------------------------

def med_order(reference, rid="mr-1"):
    order = medication_request(rid)
    del order["medicationCodeableConcept"]
    order["medicationReference"] = {"reference": reference}
    return order


MEDICATION = {"resourceType": "Medication", "id": "med-7",
              "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1435169"}]}}


def test_referenced_medication_is_read_and_added(fhir):
    fhir.get(f"{BASE}/Medication/med-7", json=MEDICATION)
    prefetch = {"patient": PATIENT_RES, "labs": None}
    record = gather_record(request(prefetch, drafts=[med_order("Medication/med-7")]), KEYS, state())
    assert record.of_type("Medication") == [MEDICATION]
    assert record.sources["medication:med-7"] == "fhir"
    assert fhir.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_medication_is_read_in_the_same_phase_as_the_keys_and_once(fhir):
    mock_both(fhir)
    fhir.get(f"{BASE}/Medication/med-7", json=MEDICATION)
    drafts = [med_order("Medication/med-7"), med_order(f"{BASE}/Medication/med-7", rid="mr-2")]
    record = gather_record(request(drafts=drafts), KEYS, state())
    assert sorted(urlsplit(c.request.url).path.split("/")[2] for c in fhir.calls) == [
        "Medication", "Observation", "Patient"]
    assert record.of_type("Medication") == [MEDICATION]


@pytest.mark.parametrize("reference", ["#med-contained", "Substance/x", "Medication/", "Medication/bad id!",
                                       "http://other.test/Medication/med-7"])
def test_contained_or_foreign_medication_references_are_not_read(fhir, reference):
    record = gather_record(request({"patient": PATIENT_RES, "labs": None}, drafts=[med_order(reference)]),
                           KEYS, state())
    assert len(fhir.calls) == 0
    assert record.unavailable == {}


def test_medication_already_in_draft_orders_is_not_read(fhir):
    drafts = [med_order("Medication/med-7"), MEDICATION]
    record = gather_record(request({"patient": PATIENT_RES, "labs": None}, drafts=drafts), KEYS, state())
    assert len(fhir.calls) == 0
    assert record.of_type("Medication") == [MEDICATION]


@pytest.mark.parametrize("mock_kwargs, reason", [
    ({"status": 404}, "HTTP 404"),
    ({"json": {"resourceType": "Substance", "id": "med-7"}}, "not a Medication"),
])
def test_medication_read_failure_is_unavailable_under_a_medication_key(fhir, mock_kwargs, reason):
    fhir.get(f"{BASE}/Medication/med-7", **mock_kwargs)
    record = gather_record(request({"patient": PATIENT_RES, "labs": None}, drafts=[med_order("Medication/med-7")]),
                           KEYS, state())
    assert record.unavailable == {"medication:med-7": reason}
    assert record.of_type("Medication") == []


def test_medication_without_fhir_server_is_unavailable(fhir):
    record = gather_record(request({"patient": PATIENT_RES, "labs": None}, server=None, token=None,
                                   drafts=[med_order("Medication/med-7")]), KEYS, state())
    assert record.unavailable == {"medication:med-7": "no fhirServer given"}


# --- robustness -------------------------------------------------------------------------------------

@pytest.mark.parametrize("body", [
    {},
    {"context": "not a dict", "prefetch": ["x"], "fhirServer": 12, "fhirAuthorization": "x"},
    {"context": {"patientId": PATIENT, "draftOrders": {"entry": "x"}}, "fhirServer": "ftp://fhir.test/"},
    {"context": {"patientId": PATIENT, "draftOrders": [1, 2]}, "fhirServer": "http://[::1"},
])
def test_garbage_requests_never_raise(fhir, body):
    record = gather_record(body, KEYS, state())
    assert set(record.unavailable) == {"patient", "labs"}
    assert len(fhir.calls) == 0


def test_with_the_real_prefetch_keys_of_the_app(fhir, make_app):
    app_state = make_app(fhir_timeout=2.0).extensions["iron_cds"]
    fhir.get(BASE + "/Patient/" + PATIENT, json=PATIENT_RES)
    for path in ("Observation", "AllergyIntolerance", "Condition", "MedicationAdministration", "AdverseEvent"):
        fhir.get(f"{BASE}/{path}", json=searchset())
    record = gather_record(request(), app_state.prefetch, app_state)
    assert record.unavailable == {}
    assert set(record.sources) == {k.key for k in app_state.prefetch}
    assert set(record.sources.values()) == {"fhir"}
    assert "fhir_session" in app_state.extras


def test_hook_call_survives_a_failing_fhir_server(client, fhir):
    fhir.get(f"{BASE}/Patient/{PATIENT}", status=500)
    for path in ("Observation", "AllergyIntolerance", "Condition", "MedicationAdministration", "AdverseEvent"):
        fhir.get(f"{BASE}/{path}", status=500)
    body = hook_request(medication_request(), fhirServer=BASE,
                        fhirAuthorization={"access_token": TOKEN, "token_type": "Bearer", "expires_in": 300,
                                           "scope": "patient/*.read", "subject": "iron-cds"})
    response = client.post(HOOK_URL, json=body)
    assert response.status_code == 200
    assert isinstance(response.get_json()["cards"], list)
    assert len(fhir.calls) > 0


# --- the phase deadline ------------------------------------------------------------------------------

def test_the_phase_ends_at_its_deadline_even_if_a_read_hangs(fhir, monkeypatch):
    from cds_service.fhir import access

    release = threading.Event()
    real_read = access.read_paged
    observed = []
    monkeypatch.setattr(metrics, "observe_fhir_read", lambda key, seconds, outcome: observed.append((key, outcome)))

    def read(session, url, *args):
        if "/Patient/" in url:
            release.wait(5)   # stuck somewhere no socket timeout reaches
        return real_read(session, url, *args)

    monkeypatch.setattr(access, "read_paged", read)
    fhir.get(f"{BASE}/Observation", json=searchset(OBS))
    try:
        record = gather_record(request(), KEYS, state(timeout=0.3))
    finally:
        release.set()
    assert record.unavailable == {"patient": "timeout after 0.3s"}
    assert record.sources == {"labs": "fhir"}
    assert sorted(observed) == [("labs", "ok"), ("patient", "deadline")]


def test_an_unexpected_error_in_one_read_does_not_spoil_the_others(fhir, monkeypatch):
    from cds_service.fhir import access

    real_read = access.read_paged

    def read(session, url, *args):
        if "/Patient/" in url:
            raise RuntimeError("bug")
        return real_read(session, url, *args)

    monkeypatch.setattr(access, "read_paged", read)
    fhir.get(f"{BASE}/Observation", json=searchset(OBS))
    record = gather_record(request(), KEYS, state())
    assert record.unavailable == {"patient": "read failed"}
    assert record.sources == {"labs": "fhir"}


def test_a_bug_outside_the_reads_makes_every_key_unavailable_instead_of_raising(monkeypatch):
    from cds_service.fhir import access

    monkeypatch.setattr(access, "interpret", lambda value: 1 / 0)
    record = gather_record(request({"patient": PATIENT_RES}), KEYS, state())
    assert set(record.unavailable) == {"patient", "labs"}


def test_resources_of_another_patient_from_a_read_are_left_out_and_the_key_is_unavailable(fhir, caplog):
    caplog.set_level(logging.INFO, logger="iron_cds")
    other = {**OBS, "id": "o-other", "subject": {"reference": "Patient/someone-else"}}
    own = {**OBS, "id": "o-own", "subject": {"reference": f"Patient/{PATIENT}"}}
    fhir.get(f"{BASE}/Observation", json=searchset(own, other))
    record = gather_record(request({"patient": PATIENT_RES}), KEYS, state())
    assert [o["id"] for o in record.of_type("Observation")] == ["o-own"]
    assert record.unavailable["labs"] == "held another patient's data (left out)"
    counts = [r for r in caplog.records if getattr(r, "event", None) == "fhir-other-patient-left-out"]
    assert [(r.key, r.count) for r in counts] == [("labs", 1)]
    assert "someone-else" not in "\n".join(JsonFormatter().format(r) for r in caplog.records)
