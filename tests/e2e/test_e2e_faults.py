"""End to end through HTTP: when the FHIR server fails, the order-only checks still run and say so.

A FHIR 500, a timeout, a refused connection or a non-JSON answer must give the
``history-unavailable`` card plus every card that needs only the order (here:
the too-fast rate and the observation period), never a 500 and never silence.
"""

from __future__ import annotations

import re

import pytest
import requests
import responses

from support.conformance import assert_valid_response
from support.e2e import (
    FHIR_BASE,
    SCENARIOS,
    FakeFhirServer,
    expected,
    load,
    pin_now,
    request_for_fhir_reads,
    signature,
)
from support.hook_requests import HOOK_URL

SCENARIO = "rate-too-fast"              # FCM 750 mg over 5 min: the rate check needs only the order
UNAVAILABLE = {"topic": "history-unavailable", "indicator": "warning", "actions": []}
# Without the history: the too-fast rate and the observation order still come from the order alone; the
# per-kg dose limit cannot be checked without a weight, and the card says so.
ORDER_ONLY = [
    {"topic": "dose-limit", "indicator": "info", "actions": []},
    UNAVAILABLE,
    {"topic": "infusion-rate", "indicator": "warning", "actions": ["update"]},
    {"topic": "observation-period", "indicator": "info", "actions": ["create"]},
]
ALL_READS = re.compile(re.escape(FHIR_BASE) + r"/.*")

FAULTS = {
    "http-500": dict(status=500, json={"resourceType": "OperationOutcome",
                                       "issue": [{"severity": "fatal", "code": "exception"}]}),
    "read-timeout": dict(body=requests.exceptions.ReadTimeout("read timed out")),
    "connect-timeout": dict(body=requests.exceptions.ConnectTimeout("connect timed out")),
    "connection-refused": dict(body=requests.exceptions.ConnectionError("connection refused")),
    "not-json": dict(status=200, body="<html><body>Gateway login</body></html>", content_type="text/html"),
    "truncated-json": dict(status=200, body='{"resourceType": "Bundle", "entry": [',
                           content_type="application/fhir+json"),
    "json-not-fhir": dict(status=200, json=["not", "a", "resource"]),
}


@pytest.fixture
def e2e(client, monkeypatch):
    pin_now(monkeypatch)
    return client


def post(client, body):
    response = client.post(HOOK_URL, json=body)
    assert response.status_code == 200, response.get_data(as_text=True)
    result = response.get_json()
    assert_valid_response(result, body)
    return result


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fhir_fault_gives_history_unavailable_plus_the_order_only_cards(e2e, fault):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.GET, ALL_READS, **FAULTS[fault])
        body = post(e2e, request_for_fhir_reads(SCENARIO))
    assert signature(body) == ORDER_ONLY
    card = next(c for c in body["cards"] if c["source"]["topic"]["code"] == "history-unavailable")
    assert card["detail"], "the card must say what could not be checked"
    assert "ferric carboxymaltose" in card["summary"].lower() or "injectafer" in card["summary"].lower()


def test_one_failing_read_makes_history_unavailable_but_keeps_the_rest(e2e):
    """Only the allergy search fails: the card names that gap; the other data still serve the rules."""
    name = "dose-over-per-kg"                      # needs the weight, which still arrives
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.GET, re.compile(re.escape(FHIR_BASE) + r"/AllergyIntolerance.*"), status=503)
        FakeFhirServer(mock, load(SCENARIOS[name]["patient"]))
        body = post(e2e, request_for_fhir_reads(name))
    cards = signature(body)
    assert UNAVAILABLE in cards
    assert [c for c in cards if c != UNAVAILABLE] == expected(name)
    detail = next(c["detail"] for c in body["cards"] if c["source"]["topic"]["code"] == "history-unavailable")
    assert "hypersensitivity" in detail.lower()      # the allergies key's missing_data wording


def test_no_fhir_server_and_no_prefetch_still_checks_the_order(e2e):
    body = request_for_fhir_reads(SCENARIO)
    del body["fhirServer"], body["fhirAuthorization"]
    assert signature(post(e2e, body)) == ORDER_ONLY


def test_unknown_history_treats_iron_dextran_as_a_first_dose(e2e):
    """Earlier iron-dextran doses cannot be looked up: test dose and the longer observation, to be safe."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.GET, ALL_READS, status=500)
        body = post(e2e, request_for_fhir_reads("clean-iron-dextran"))
    cards = signature(body)
    assert UNAVAILABLE in cards
    assert {"topic": "formulation", "indicator": "warning", "actions": ["create"]} in cards
    observation = next(c for c in body["cards"] if c["source"]["topic"]["code"] == "observation-period")
    assert "60" in observation["summary"]


def test_fhir_fault_on_a_non_iron_order_gives_no_card(e2e):
    """No IV iron, nothing to say: a broken FHIR server must not produce a lonely history card."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.GET, ALL_READS, status=500)
        body = post(e2e, request_for_fhir_reads("non-iron"))
    assert body == {"cards": []}
