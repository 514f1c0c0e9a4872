"""Logs: one JSON line per hook call, and never a token, a JWT or a patient identifier.

Two views are checked: what the code hands to the logger (caplog records, before the formatter's
last-resort scrubbing) and what actually reaches stderr (capfd, through our JSON handler).
"""

from __future__ import annotations

import json
import logging
import re
import sys

import pytest
import responses

from cds_service import LEGACY_SERVICE_ID
from cds_service.ops.logs import JsonFormatter
from support.hook_requests import HOOK_URL, hook_request, medication_request
from support.jwt_keys import EPIC_ISS, EPIC_JWKS, FHIR_BASE, Signer, bearer, claims, epic_issuer, jwks

PATIENT = "pat-4711-q8z"
ENCOUNTER = "enc-99-k2w"
ACCESS_TOKEN = "opaque-at-7c1f9d2e8b5a"          # an opaque FHIR token: nothing generic would mask it
JWT_LOOKING = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.")
PREFETCH_KEYS = ("patient", "weight", "labs", "allergies", "conditions", "ironAdministrations", "painScores",
                 "vitalSigns", "adverseEvents")


@pytest.fixture
def stderr_lines(capfd):
    """Reads what our JSON handler writes, as parsed lines. The handler keeps the stream it was built
    with, so each read first points it at the current (captured) stderr; the first read is a reset."""
    previous = {}

    def read() -> tuple[str, list[dict]]:
        handlers = [h for h in logging.getLogger("iron_cds").handlers if isinstance(h.formatter, JsonFormatter)]
        assert handlers, "configure_logging() installs one JSON handler on the iron_cds logger"
        for handler in handlers:
            previous.setdefault(handler, handler.stream)
            if handler.stream is sys.stderr:
                handler.flush()
            handler.stream = sys.stderr   # not setStream(): it flushes the old stream, maybe closed by now
        err = capfd.readouterr().err
        return err, [json.loads(line) for line in err.splitlines() if line.startswith("{")]

    yield read
    for handler, stream in previous.items():
        handler.stream = stream


def raw_record_text(records) -> str:
    """Everything the code passed to the logger: message, arguments, extras, exception text."""
    parts = []
    formatter = logging.Formatter()
    for record in records:
        parts.append(record.getMessage())
        parts.extend(repr(value) for key, value in vars(record).items() if key not in ("msg", "args", "exc_info"))
        if record.exc_info:
            parts.append(formatter.formatException(record.exc_info))
    return "\n".join(parts)


def empty_bundle():
    return {"resourceType": "Bundle", "type": "searchset", "entry": []}


def test_a_hook_call_writes_exactly_one_summary_line(app, stderr_lines):
    body = hook_request(medication_request(patient=PATIENT), hook="order-select", patient=PATIENT,
                        prefetch={key: empty_bundle() for key in PREFETCH_KEYS} | {"patient": None})
    stderr_lines()                                              # drop start-up lines
    response = app.test_client().post(HOOK_URL, json=body)
    assert response.status_code == 200
    cards = response.get_json()["cards"]

    err, lines = stderr_lines()
    summaries = [line for line in lines if line.get("event") == "hook-call"]
    assert len(summaries) == 1, err
    line = summaries[0]
    assert line["hookInstance"] == body["hookInstance"]
    assert line["service"] == LEGACY_SERVICE_ID
    assert line["hook"] == "order-select"
    assert isinstance(line["duration_ms"], (int, float)) and line["duration_ms"] >= 0
    assert isinstance(line["cards"], dict)
    assert sum(line["cards"].values()) == len(cards)
    assert set(line["cards"]) == {card["source"]["topic"]["code"] for card in cards}
    assert line["data_sources"] == {key: "prefetch" for key in PREFETCH_KEYS} | {"patient": "null"}
    assert PATIENT not in err


@responses.activate
def test_a_full_cycle_leaks_no_token_jwt_or_patient_id(make_app, stderr_lines, caplog):
    caplog.set_level(logging.DEBUG, logger="iron_cds")
    caplog.set_level(logging.INFO)
    signer = Signer("RS384")
    responses.get(EPIC_JWKS, json=jwks(signer))
    # the EHR's FHIR server fails in every way a read can fail
    responses.get(re.compile(re.escape(FHIR_BASE) + r"/Patient/.*"), status=500, body="internal error for " + PATIENT)
    responses.get(re.compile(re.escape(FHIR_BASE) + r"/Observation.*"), body="<html>not json</html>")
    responses.get(re.compile(re.escape(FHIR_BASE) + r"/.*"), json={
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "forbidden", "diagnostics": f"token {ACCESS_TOKEN} refused"}]},
        status=403)
    app = make_app(auth="jwt", trusted_issuers={EPIC_ISS: epic_issuer((FHIR_BASE,))})
    client = app.test_client()
    hook_url = "http://localhost" + HOOK_URL
    client_jwts = []

    def signed(url):
        token = signer.token(claims(aud=url))
        client_jwts.append(token)
        return bearer(token)

    stderr_lines()
    order = medication_request(patient=PATIENT)
    body = hook_request(order, patient=PATIENT, fhirServer=FHIR_BASE,
                        fhirAuthorization={"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 300,
                                           "scope": "patient/*.read", "subject": "iron-cds", "patient": PATIENT})
    body["context"]["encounterId"] = ENCOUNTER
    called = client.post(HOOK_URL, json=body, headers=signed(hook_url))
    assert called.status_code == 200, called.get_json()
    assert any(call.request.headers.get("Authorization") == f"Bearer {ACCESS_TOKEN}" for call in responses.calls)

    card_ids = [card["uuid"] for card in called.get_json()["cards"]] or ["card-not-issued"]
    feedback = {"feedback": [{"card": card_ids[0], "outcome": "overridden", "outcomeTimestamp": "2026-01-05T10:00:00Z",
                              "overrideReason": {"userComment": f"discussed with {PATIENT}"}}]}
    fed = client.post(HOOK_URL + "/feedback", json=feedback, headers=signed(hook_url + "/feedback"))
    assert fed.status_code == 200

    bad = dict(body, hookInstance="bad-1")
    bad["context"] = dict(body["context"], selections=[f"Patient/{PATIENT}"], draftOrders="nope")
    assert client.post(HOOK_URL, json=bad, headers=signed(hook_url)).status_code == 400
    bad_fhir_auth = dict(body, fhirServer=None)
    assert client.post(HOOK_URL, json=bad_fhir_auth, headers=signed(hook_url)).status_code == 400

    replayed = client.post(HOOK_URL, json=body, headers={"Authorization": f"Bearer {client_jwts[0]}"})
    assert replayed.status_code == 401
    forged = client_jwts[0][:-4] + ("AAAA" if not client_jwts[0].endswith("AAAA") else "BBBB")
    assert client.post(HOOK_URL, json=body, headers={"Authorization": f"Bearer {forged}"}).status_code == 401

    emitted, lines = stderr_lines()
    logged = raw_record_text(caplog.records)
    assert lines, "the cycle logged nothing at all"
    assert any(line.get("event") == "hook-call" for line in lines)
    for text, where in ((emitted, "stderr"), (logged, "log records")):
        assert ACCESS_TOKEN not in text, where
        assert PATIENT not in text, where
        assert ENCOUNTER not in text, where
        assert not JWT_LOOKING.search(text), where
        for token in client_jwts + [forged]:
            for piece in token.split("."):
                assert piece not in text, where


def test_the_formatter_writes_any_extra_and_still_scrubs_tokens_in_any_case():
    formatter = JsonFormatter()
    record = logging.LogRecord("iron_cds.test", logging.INFO, __file__, 1, "sent bEaReR abc.def-123", (), None)
    record.counts = {1: "one"}                  # a non-string key
    record.huge = 2 ** 70                       # beyond 64 bits
    record.thing = {"when": object}             # not JSON at all
    record.token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    line = json.loads(formatter.format(record))
    assert line["message"] == "sent bEaReR [redacted]"
    assert line["counts"] == {"1": "one"} and line["huge"] == 2 ** 70
    assert "object" in json.dumps(line["thing"])
    assert line["token"] == "[redacted-jwt]"
    assert json.loads(formatter.format(logging.LogRecord("x", logging.INFO, __file__, 1, "plain é", (), None))) \
        ["message"] == "plain é"


def test_the_handler_writes_whole_lines_from_many_threads_and_formats_outside_its_lock():
    import io
    import threading

    from cds_service.ops.logs import JsonFormatter, JsonLineHandler

    stream = io.StringIO()
    handler = JsonLineHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("iron_cds.test-threads")
    logger.propagate = False
    logger.addHandler(handler)
    formatted_while_locked = []
    real_format = handler.format

    def format_and_check(record):
        formatted_while_locked.append(handler.lock._is_owned())   # held by this thread while formatting?
        return real_format(record)

    handler.format = format_and_check
    try:
        def work(n):
            for i in range(200):
                logger.warning("line", extra={"event": "t", "worker": n, "i": i, "text": "x" * (i % 50)})

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1600
    assert {(entry["worker"], entry["i"]) for entry in map(json.loads, lines)} == {
        (n, i) for n in range(8) for i in range(200)}
    assert not any(formatted_while_locked)


def test_a_record_that_cannot_be_formatted_is_reported_not_raised(capsys):
    import io

    from cds_service.ops.logs import JsonLineHandler

    handler = JsonLineHandler(io.StringIO())
    handler.setFormatter(logging.Formatter("%(missing)s"))
    record = logging.LogRecord("iron_cds", logging.INFO, __file__, 1, "message", (), None)
    assert handler.handle(record) is True
    assert "Logging error" in capsys.readouterr().err
