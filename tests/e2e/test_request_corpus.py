"""Every request in tests/requests/ (real shapes: spec examples, sandbox, Epic, CRD, each dosage encoding) gets the
answer its file says (``_expect``), posted through the whole app with the FHIR server mocked (`responses`).

For IV-iron orders the order the cards were built from is checked: dose and time read correctly, or said
unreadable on a card. For drafts without IV iron the number of FHIR reads is checked (0 unless a Medication
must be read to know).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import responses

from cds_service import SERVICE_IDS
from cds_service import engine as engine_module
from support.hook_requests import HOOK_URL

CORPUS = Path(__file__).resolve().parents[1] / "requests"
FILES = sorted(CORPUS.glob("*.json"))
EMPTY = {"resourceType": "Bundle", "type": "searchset", "entry": []}
UNREADABLE = ("could not be read", "not found in the order's structured fields", "not readable",
              "could not be determined", "was not found")


def _load(path: Path) -> dict:
    recent = (datetime.now(timezone.utc) - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.loads(path.read_text().replace("{{recent}}", recent))


def _param(path: Path):
    expect = _load(path)["_expect"]
    marks = [pytest.mark.xfail(reason=expect["xfail"], strict=True)] if expect.get("xfail") else []
    return pytest.param(path, id=path.stem, marks=marks)


def test_the_corpus_is_there_and_says_where_each_request_came_from():
    assert len(FILES) >= 20
    for path in FILES:
        data = _load(path)
        assert data["_source"].strip() and isinstance(data["_expect"].get("status"), int), path.name


def _post(client, data: dict, monkeypatch):
    request = data["request"]
    seen = []
    real = engine_module.annotate
    monkeypatch.setattr(engine_module, "annotate", lambda f, order, *a: seen.append(order) or real(f, order, *a))
    url = f"/cds-services/{SERVICE_IDS[request['hook']]}" if request.get("hook") in SERVICE_IDS else HOOK_URL
    with responses.RequestsMock(assert_all_requests_are_fired=False) as fhir:
        base = str(request.get("fhirServer") or "").rstrip("/")
        for relative, resource in (data.get("_fhir") or {}).items():
            fhir.get(f"{base}/{relative}", json=resource)
        fhir.add(responses.GET, re.compile(r"https?://.*"), json=EMPTY)
        response = client.post(url, json=request)
        reads = len(fhir.calls)   # inside the block: leaving it resets the mock's call list
    return response, seen, reads


@pytest.mark.parametrize("path", [_param(p) for p in FILES])
def test_each_request_gets_the_answer_it_should(client, monkeypatch, path):
    data = _load(path)
    expect = data["_expect"]
    response, orders, reads = _post(client, data, monkeypatch)
    body = response.get_json()
    assert response.status_code == expect["status"], body
    if expect["status"] != 200:
        assert expect["error_contains"] in body["error"]
        return
    cards = body["cards"]
    if "fhir_reads" in expect:
        assert reads == expect["fhir_reads"]
    if not expect["iron"]:
        assert cards == []
        return
    assert cards and orders, "an IV-iron order must get a card"
    details = " ".join(c["summary"] + " " + c.get("detail", "") for c in cards)
    order = orders[0]
    for field, value in (("dose_mg", expect["dose_mg"]), ("minutes", expect["minutes"])):
        read = getattr(order, field)
        if value is None:
            assert read is None and any(p in details for p in UNREADABLE), (field, read)
        else:
            assert read == pytest.approx(value), (field, read, order.problems)
    for topic in expect.get("topics_include", ()):
        assert topic in {c["source"]["topic"]["code"] for c in cards}
    if expect.get("detail_contains"):
        assert expect["detail_contains"] in details
