"""Every fixture scenario's full response, recorded: a refactoring must leave the cards byte-identical.

Uuids and the ids of created resources differ per call and are blanked; everything else a clinician or an
EHR sees (summary, detail, source, suggestions and their resources, links, override reasons) is compared.
A change that is meant to alter cards regenerates the record with ``ICDS_UPDATE_SNAPSHOT=1`` and the diff
is reviewed in the commit.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from support.e2e import SCENARIOS, request_with_prefetch, service_url

SNAPSHOT = Path(__file__).parent / "snapshots" / "scenario_cards.json"
UPDATE = os.environ.get("ICDS_UPDATE_SNAPSHOT") == "1"


def _blank_ids(value):
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out[key] = "<uuid>" if key in ("uuid", "id") and isinstance(item, str) and _looks_generated(item) \
                else _blank_ids(item)
        return out
    if isinstance(value, list):
        return [_blank_ids(item) for item in value]
    return value


def _looks_generated(text: str) -> bool:
    return len(text) == 36 and text.count("-") == 4


def _responses(service_for) -> dict[str, dict]:
    out = {}
    for name in sorted(SCENARIOS):
        client = service_for(name)
        body = request_with_prefetch(client, name)
        response = client.post(service_url(client, body["hook"]), json=body)
        assert response.status_code == 200, response.get_data(as_text=True)
        out[name] = _blank_ids(response.get_json())
    return out



def test_every_scenario_gives_the_recorded_cards(service_for):
    actual = _responses(service_for)
    if UPDATE or not SNAPSHOT.exists():
        if os.environ.get("CI") and not SNAPSHOT.exists():
            pytest.fail(f"{SNAPSHOT} is missing: record it with ICDS_UPDATE_SNAPSHOT=1 and commit it")
        SNAPSHOT.write_text(json.dumps(actual, indent=1, sort_keys=True, ensure_ascii=False) + "\n")
    recorded = json.loads(SNAPSHOT.read_text())
    assert sorted(actual) == sorted(recorded)
    for name in sorted(recorded):
        assert actual[name] == recorded[name], f"scenario {name!r} changed its cards"
