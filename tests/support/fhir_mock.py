"""A `responses` stand-in for an EHR's FHIR server, for tests that count or inspect the reads a call makes."""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import Iterator

import responses

BASE = "https://fhir.example.org/r4"
AUTH = {"access_token": "tok-123", "token_type": "Bearer", "expires_in": 300, "scope": "patient/*.read",
        "subject": "iron-cds"}


@contextmanager
def medication_server(base: str = BASE) -> Iterator[responses.RequestsMock]:
    """Medication/amox (amoxicillin injection) and Medication/fcm (ferric carboxymaltose by RxNorm) as
    Medications; every other URL an empty searchset."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add(responses.GET, re.compile(re.escape(base) + r"/Medication/amox"),
                 json={"resourceType": "Medication", "id": "amox", "code": {"text": "amoxicillin 1 g injection"}})
        mock.add(responses.GET, re.compile(re.escape(base) + r"/Medication/fcm"),
                 json={"resourceType": "Medication", "id": "fcm", "code": {
                     "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1435169"}]}})
        # one match per URL: responses moves on to the next match of a URL at each call
        mock.add(responses.GET, re.compile(re.escape(base) + r"/(?!Medication/).*"),
                 json={"resourceType": "Bundle", "type": "searchset", "entry": []})
        yield mock
