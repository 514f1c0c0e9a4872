"""Fallback reads against a real local HTTP server: parallelism, timeouts, slow answers, refused connections.

No timing asserts: parallelism is proven by a barrier that only opens when every
read is in flight at once (sequential reads would break it), and the timeout by
a handler that would hold the answer far longer than the call is allowed to take.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from contextlib import contextmanager
from types import SimpleNamespace

from cds_service.cds_hooks.discovery import PrefetchKey
from cds_service.config import Config
from cds_service.fhir.access import gather_record
from cds_service.ops import metrics
from support.local_http import local_server, send_json

TOKEN = "local-token-abc"
KEYS = tuple(PrefetchKey(name, f"Observation?patient={{{{context.patientId}}}}&k={name}")
             for name in ("weight", "labs", "painScores", "vitalSigns"))


@contextmanager
def fhir_server(respond):
    with local_server(respond) as server:
        yield server, f"{server.origin}/fhir"


def state(timeout):
    return SimpleNamespace(config=Config(fhir_timeout=timeout, fhir_max_pages=3), extras={})


def request(base, token=TOKEN, drafts=()):
    body = {"hook": "order-sign", "hookInstance": "h-1", "fhirServer": base,
            "context": {"patientId": "pat-1", "userId": "Practitioner/prac-1",
                        "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": r} for r in drafts]}}}
    if token:
        body["fhirAuthorization"] = {"access_token": token, "token_type": "Bearer"}
    return body


def _bundle(path):
    rid = path.rsplit("=", 1)[-1]
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": {"resourceType": "Observation", "id": rid}}]}


MED_ORDER = {"resourceType": "MedicationRequest", "id": "mr-1", "status": "draft", "intent": "order",
             "medicationReference": {"reference": "Medication/med-1"}}


def test_reads_run_in_parallel():
    # Four keys and one Medication: the barrier opens only when all five requests are in flight together.
    # Its timeout (2 s) is shorter than the request timeout (5 s): one-by-one reads would break it and fail.
    barrier = threading.Barrier(len(KEYS) + 1, timeout=2)

    def respond(handler):
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            send_json(handler, {"resourceType": "OperationOutcome",
                                "issue": [{"severity": "error", "code": "timeout"}]},
                      status=500)
            return
        if "/Medication/" in handler.path:
            send_json(handler, {"resourceType": "Medication", "id": "med-1"})
        else:
            send_json(handler, _bundle(handler.path))

    with fhir_server(respond) as (server, base):
        record = gather_record(request(base, drafts=[MED_ORDER]), KEYS, state(timeout=5))
    assert record.unavailable == {}
    assert record.sources == {**{k.key: "fhir" for k in KEYS}, "medication:med-1": "fhir"}
    assert sorted(o["id"] for o in record.of_type("Observation")) == sorted(k.key for k in KEYS)
    assert [m["id"] for m in record.of_type("Medication")] == ["med-1"]
    assert len(server.seen) == len(KEYS) + 1


def test_token_and_accept_headers_reach_the_server():
    with fhir_server(lambda h: send_json(h, _bundle(h.path), content_type="application/json")) as (server, base):
        record = gather_record(request(base), KEYS[:1], state(timeout=2))
    assert record.sources == {"weight": "fhir"}
    (path, headers), = server.seen
    assert path == "/fhir/Observation?patient=pat-1&k=weight"
    assert headers["Authorization"] == f"Bearer {TOKEN}"
    assert "application/fhir+json" in headers["Accept"]


def test_a_slow_server_times_out_and_the_call_returns():
    release = threading.Event()
    hold = 3.0

    def respond(handler):
        if "k=labs" in handler.path:
            release.wait(hold)   # far longer than the 0.3 s allowed
        send_json(handler, _bundle(handler.path))

    with fhir_server(respond) as (_, base):
        started = time.monotonic()
        record = gather_record(request(base), KEYS, state(timeout=0.3))
        elapsed = time.monotonic() - started
        release.set()
    assert record.unavailable == {"labs": "timeout after 0.3s"}
    assert {k: v for k, v in record.sources.items()} == {"weight": "fhir", "painScores": "fhir", "vitalSigns": "fhir"}
    assert elapsed < hold   # behaviour, not a performance target: the call did not wait for the answer


def test_an_answer_that_trickles_in_is_cut_off(monkeypatch):
    # Each byte arrives well within the socket timeout, so only the page's own time bound can stop it
    # (outcome "timeout" from the reader, not "deadline" from the phase giving up on the thread).
    observed = []
    monkeypatch.setattr(metrics, "observe_fhir_read", lambda key, seconds, outcome: observed.append(outcome))
    release = threading.Event()

    def respond(handler):
        body = json.dumps(_bundle(handler.path)).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/fhir+json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        for i in range(len(body)):
            if release.wait(0.05):
                return
            handler.wfile.write(body[i:i + 1])
            handler.wfile.flush()

    with fhir_server(respond) as (_, base):
        started = time.monotonic()
        record = gather_record(request(base), KEYS[:1], state(timeout=0.3))
        elapsed = time.monotonic() - started
        release.set()
    assert record.unavailable == {"weight": "timeout after 0.3s"}
    assert observed == ["timeout"]
    assert elapsed < 3.0


def test_connection_refused_is_unavailable():
    with socket.socket() as sock:   # a port that was free a moment ago and has no listener now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    record = gather_record(request(f"http://127.0.0.1:{port}/fhir"), KEYS[:2], state(timeout=0.3))
    assert record.unavailable == {"weight": "connection failed", "labs": "connection failed"}
    assert record.sources == {}


def test_the_session_is_pooled_and_reused_across_calls():
    shared = state(timeout=2)
    with fhir_server(lambda h: send_json(h, _bundle(h.path))) as (_, base):
        gather_record(request(base), KEYS[:1], shared)
        session = shared.extras["fhir_session"]
        gather_record(request(base), KEYS[:1], shared)
    assert shared.extras["fhir_session"] is session


def test_server_cookies_are_not_kept_between_calls():
    def respond(handler):
        body = json.dumps(_bundle(handler.path)).encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "application/fhir+json")
        handler.send_header("Set-Cookie", "session=user-a; Path=/")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    shared = state(timeout=2)
    with fhir_server(respond) as (server, base):
        gather_record(request(base), KEYS[:1], shared)
        gather_record(request(base, token="token-of-user-b"), KEYS[:1], shared)
    assert all("Cookie" not in headers for _, headers in server.seen)


def test_a_forked_worker_builds_its_own_session(monkeypatch):
    shared = state(timeout=2)
    with fhir_server(lambda h: send_json(h, _bundle(h.path))) as (_, base):
        gather_record(request(base), KEYS[:1], shared)
        parent_session = shared.extras["fhir_session"]
        monkeypatch.setattr(os, "getpid", lambda: -1)   # as seen from a worker forked after the first call
        record = gather_record(request(base), KEYS[:1], shared)
    assert record.sources == {"weight": "fhir"}
    assert shared.extras["fhir_session"] is not parent_session
