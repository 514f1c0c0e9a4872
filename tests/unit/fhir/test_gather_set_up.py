"""gather_record makes the reads' shared set-up (``_call``: fhirServer parsed, token, other-patient test) only
once something is to be read, after the triage; it was made first. Proven equal to that plain order: the same
record and the same log records over a table of requests on every path of the triage (no read, a Medication
read first, the whole history), and ``_call`` is pure and total for whatever a request holds, so leaving it
out where nothing is read cannot change anything."""

from __future__ import annotations

import copy
import logging
from functools import partial

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.engine.triage import triage
from cds_service.fhir import access
from cds_service.fhir.record import PatientRecord
from support.fhir_mock import AUTH, BASE, medication_server
from support.hook_requests import hook_request, medication_request

IV = {"coding": [{"system": "http://snomed.info/sct", "code": "47625008"}]}
ORAL = {"coding": [{"system": "http://snomed.info/sct", "code": "26643006"}]}
AMOXICILLIN = {"resourceType": "MedicationRequest", "id": "amox-1", "status": "draft", "intent": "order",
               "subject": {"reference": "Patient/pat-1"},
               "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                         "code": "723"}]},
               "dosageInstruction": [{"route": ORAL}]}
CARRIED = {"resourceType": "Medication", "id": "carried", "code": {"text": "iron sucrose 20 mg/mL injection"}}
CARRIED_OTHER = {"resourceType": "Medication", "id": "carried-amox", "code": {"text": "amoxicillin 1 g injection"}}


def _referenced(med_id, route=IV, rid="ref-1"):
    return {"resourceType": "MedicationRequest", "id": rid, "status": "draft", "intent": "order",
            "subject": {"reference": "Patient/pat-1"}, "medicationReference": {"reference": f"Medication/{med_id}"},
            "dosageInstruction": [{"route": route}]}


def _with(body, **fields):
    body = copy.deepcopy(body)
    body.update(fields)
    return body


DRAFTS = {
    "oral antibiotic": (AMOXICILLIN,),
    "no drafts": (),
    "IV iron": (medication_request("fcm-1"),),
    "carried Medication, not iron": (CARRIED_OTHER, _referenced("carried-amox")),
    "carried iron Medication by mouth": (CARRIED, _referenced("carried", route=ORAL)),
    "carried iron Medication": (CARRIED, _referenced("carried")),
    "Medication to read, turns out not iron": (_referenced("amox"),),
    "Medication to read, turns out iron": (_referenced("fcm"),),
    "Medication to read, oral route": (_referenced("amox", route=ORAL),),
}
SERVERS = {"with fhirServer": {"fhirServer": BASE, "fhirAuthorization": AUTH}, "no fhirServer": {},
           "unusable token": {"fhirServer": BASE, "fhirAuthorization": dict(AUTH, access_token="a b")}}
TABLE = {f"{d}, {s}": _with(hook_request(*drafts), **server)
         for d, drafts in DRAFTS.items() for s, server in SERVERS.items()}


def plain_gather(hook_request, prefetch_keys, state, triage):
    """The order gather_record had: the set-up first, then the triage."""
    context = hook_request.get("context") if isinstance(hook_request.get("context"), dict) else {}
    call = access._call(hook_request, context, PatientRecord(), state)
    access._carried_medications(call.record, context)
    decision = triage(call.record)
    if not decision.iron and decision.pending:
        access._execute(call, access._medication_reads(call, only=set(decision.pending)))
        decision = triage(call.record)
    if not decision.iron:
        return call.record
    prefetch = hook_request.get("prefetch") if isinstance(hook_request.get("prefetch"), dict) else {}
    access._execute(call, access._history_reads(call, prefetch_keys, prefetch) + access._medication_reads(call))
    return call.record


@pytest.fixture
def fhir():
    with medication_server(BASE) as mock:
        yield mock


def _outcome(gather, body, app, caplog):
    state = app.extensions["iron_cds"]
    context = body["context"]
    caplog.clear()
    record = gather(body, state.prefetch, state, partial(triage, context["draftOrders"], None, body["hook"],
                                                         knowledge=state.knowledge))
    logged = [(r.name, r.levelno, r.getMessage(), getattr(r, "event", None), getattr(r, "key", None))
              for r in caplog.records]
    return (record.resources, record.sources, record.unavailable, record.incomplete), logged


@pytest.mark.parametrize("name", sorted(TABLE))
def test_the_record_and_the_log_are_those_of_the_plain_order(name, app, fhir, caplog):
    caplog.set_level(logging.DEBUG, logger="iron_cds")
    body = TABLE[name]
    assert _outcome(access._gather, body, app, caplog) == _outcome(plain_gather, body, app, caplog)


def test_the_table_takes_every_path(app, fhir, caplog):
    reads = {}
    for name, body in TABLE.items():
        fhir.calls.reset()
        _outcome(access._gather, body, app, caplog)
        reads[name] = len(fhir.calls)
    with_server = {name.removesuffix(", with fhirServer"): n for name, n in reads.items() if "with fhirServer" in name}
    assert with_server["oral antibiotic"] == 0 and with_server["carried Medication, not iron"] == 0
    assert with_server["Medication to read, turns out not iron"] == 1   # the Medication only
    assert with_server["Medication to read, turns out iron"] > 1 and with_server["IV iron"] > 1


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
URLS = st.sampled_from([BASE, "http://ehr", "https://u:p@ehr/fhir", "https://ehr/fhir?x=1", "https://ehr\\@evil/",
                        " ", "", "https://[::1]:8443/fhir", "https://ehr:99999/", "javascript://ehr/%0a"])
TOKENS = st.one_of(JSON, st.builds(lambda token: dict(AUTH, access_token=token), JSON))


@settings(max_examples=300, deadline=None)
@given(server=st.one_of(URLS, JSON), token=TOKENS, patient=JSON, instance=JSON, context=st.one_of(st.just(True), JSON))
def test_the_set_up_is_pure_and_total(server, token, patient, instance, context):
    body = {"hookInstance": instance, "fhirServer": server, "fhirAuthorization": token,
            "context": {"patientId": patient} if context is True else context}
    before = copy.deepcopy(body)
    record = PatientRecord()
    context = body["context"] if isinstance(body["context"], dict) else {}
    handler = _Counting()
    logging.getLogger("iron_cds").addHandler(handler)
    try:
        access._call(body, context, record, state=None)
    finally:
        logging.getLogger("iron_cds").removeHandler(handler)
    assert body == before and record == PatientRecord() and handler.count == 0


class _Counting(logging.Handler):
    count = 0

    def emit(self, record):
        self.count += 1
