"""Helpers for the end-to-end tests: scenario requests, a FHIR server faked from a Bundle, a pinned clock."""

from __future__ import annotations

import copy
import json
import re
import uuid
from dataclasses import replace
from datetime import datetime
from urllib.parse import urlsplit

import responses

from cds_service.ehr.prefetch import BundleSource
from support.bundle_fhir import prefetch_for
from support.hook_requests import FIXTURES

INDEX = json.loads((FIXTURES / "scenarios.json").read_text())
SCENARIOS: dict[str, dict] = INDEX["scenarios"]
NOW = datetime.fromisoformat(INDEX["now"].replace("Z", "+00:00"))

FHIR_BASE = "https://fhir.iron-cds.test/r4"
ACCESS_TOKEN = "e2e-access-token-not-a-secret"
USER = "Practitioner/icds-prescriber"
ENCOUNTER = "icds-encounter"


def load(relative: str) -> dict:
    return json.loads((FIXTURES / relative).read_text())


def pin_now(monkeypatch, now: datetime = NOW) -> None:
    """Run the engine as if it were ``now`` (the fixtures' dates are placed around it)."""
    import cds_service.cds_hooks.hooks as hooks

    real = hooks.evaluate

    def evaluate_at_fixed_time(draft_orders, selections, record, knowledge, ctx, prefetch_keys=None):
        return real(draft_orders, selections, record, knowledge, replace(ctx, now=now), prefetch_keys)

    monkeypatch.setattr(hooks, "evaluate", evaluate_at_fixed_time)


def clients_by_jurisdiction(make_client):
    """``get(name)``: one test client per jurisdiction (US unless the scenario says EU), built on first use."""
    clients = {}

    def get(name: str):
        jurisdiction = SCENARIOS[name].get("jurisdiction", "US")
        if jurisdiction not in clients:
            clients[jurisdiction] = make_client(jurisdiction)
        return clients[jurisdiction]

    return get


def service_url(client, hook: str) -> str:
    """The hook URL discovery lists for ``hook`` (one service id per hook)."""
    services = client.get("/cds-services").get_json()["services"]
    return "/cds-services/" + next(s["id"] for s in services if s["hook"] == hook)


def templates(client, hook: str) -> dict[str, str]:
    """The prefetch templates the service advertises for ``hook`` (read from discovery, like an EHR)."""
    services = client.get("/cds-services").get_json()["services"]
    service = next(s for s in services if s["hook"] == hook)
    return service.get("prefetch") or {}


def context_for(name: str) -> dict:
    scenario = SCENARIOS[name]
    drafts = load(scenario["order"])
    context = {"userId": USER, "patientId": scenario["patient_id"], "encounterId": ENCOUNTER,
               "draftOrders": drafts}
    if scenario["hook"] == "order-select":
        # the prescriber picked the medication orders; anything else in the session is context
        context["selections"] = [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in drafts["entry"]
                                 if e["resource"]["resourceType"] == "MedicationRequest"]
    return context


def request_with_prefetch(client, name: str, keys: set[str] | None = None) -> dict:
    """What an EHR sends when it satisfies the templates itself (all of them, or only ``keys``)."""
    scenario = SCENARIOS[name]
    context = context_for(name)
    wanted = templates(client, scenario["hook"])
    if keys is not None:
        wanted = {k: v for k, v in wanted.items() if k in keys}
    prefetch = prefetch_for(load(scenario["patient"]), wanted, context)
    return {"hook": scenario["hook"], "hookInstance": str(uuid.uuid4()), "context": context, "prefetch": prefetch}


def request_for_fhir_reads(name: str, prefetch: dict | None = None) -> dict:
    """No prefetch: the service must read everything from ``fhirServer`` with the token."""
    scenario = SCENARIOS[name]
    body = {
        "hook": scenario["hook"],
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": FHIR_BASE,
        "fhirAuthorization": {"access_token": ACCESS_TOKEN, "token_type": "Bearer", "expires_in": 300,
                              "scope": "patient/*.read", "subject": "iron-cds"},
        "context": context_for(name),
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


class FakeFhirServer:
    """A ``responses`` mock that answers GETs under FHIR_BASE from one patient Bundle."""

    def __init__(self, mock: responses.RequestsMock, bundle: dict):
        self.source = BundleSource(bundle)
        self.requests: list[tuple[str, str | None]] = []      # (relative url, Authorization header)
        mock.add_callback(responses.GET, re.compile(re.escape(FHIR_BASE) + r"/.*"), callback=self._answer)

    def _answer(self, request):
        relative = request.url[len(FHIR_BASE) + 1:]
        self.requests.append((relative, request.headers.get("Authorization")))
        result = self.source.fetch(relative)
        if result is None:
            outcome = {"resourceType": "OperationOutcome",
                       "issue": [{"severity": "error", "code": "not-found", "diagnostics": "not found"}]}
            return 404, {"Content-Type": "application/fhir+json"}, json.dumps(outcome)
        return 200, {"Content-Type": "application/fhir+json"}, json.dumps(result)

    @property
    def resource_types_read(self) -> set[str]:
        return {urlsplit(url).path.split("/")[0] for url, _ in self.requests}


def signature(body: dict) -> list[dict]:
    """What a scenario's ``expected`` lists: topic, indicator and action types of each card, sorted."""
    cards = []
    for card in body["cards"]:
        actions = sorted(a["type"] for s in card.get("suggestions") or [] for a in s.get("actions") or [])
        cards.append({"topic": card["source"]["topic"]["code"], "indicator": card["indicator"], "actions": actions})
    return sorted(cards, key=lambda c: (c["topic"], c["indicator"], c["actions"]))


def comparable(body: dict) -> list[tuple]:
    """Cards reduced to what must not depend on how the data arrived (uuids always differ)."""
    out = []
    for card in body["cards"]:
        suggestions = []
        for suggestion in card.get("suggestions") or []:
            actions = []
            for action in suggestion.get("actions") or []:
                resource = copy.deepcopy(action.get("resource"))
                if isinstance(resource, dict) and action["type"] == "create":
                    resource.pop("id", None)             # new resources may get fresh ids per call
                actions.append((action["type"], action.get("resourceId"), json.dumps(resource, sort_keys=True)))
            suggestions.append((suggestion["label"], tuple(actions)))
        out.append((card["source"]["topic"]["code"], card["indicator"], card["summary"], card.get("detail"),
                    tuple(suggestions)))
    return sorted(out)


def actions_of(body: dict, topic: str) -> list[dict]:
    return [a for c in body["cards"] if c["source"]["topic"]["code"] == topic
            for s in c.get("suggestions") or [] for a in s.get("actions") or []]


def expected(name: str) -> list[dict]:
    return sorted(SCENARIOS[name]["expected"], key=lambda c: (c["topic"], c["indicator"], c["actions"]))


# --- accepting suggestions as an EHR does -------------------------------------------------------------

def apply_actions(draft_orders: dict, actions: list[dict]) -> dict:
    """The draft orders after an EHR carried out ``actions``: create adds, update replaces by id, delete removes."""
    entries = [copy.deepcopy(e) for e in draft_orders.get("entry") or []]
    for action in actions:
        if action["type"] == "create":
            entries.append({"resource": copy.deepcopy(action["resource"])})
        elif action["type"] == "update":
            resource = action["resource"]
            key = (resource["resourceType"], resource["id"])
            replaced = [i for i, e in enumerate(entries) if (e["resource"]["resourceType"], e["resource"]["id"]) == key]
            assert replaced, f"update of {key}, which is not among the draft orders"
            entries[replaced[0]] = {"resource": copy.deepcopy(resource)}
        elif action["type"] == "delete":
            entries = [e for e in entries
                       if f"{e['resource']['resourceType']}/{e['resource']['id']}" != action["resourceId"]]
    return {**draft_orders, "entry": entries}


def recommended(body: dict) -> list[tuple[str, dict]]:
    """(card topic, suggestion) for every suggestion a card recommends."""
    return [(c["source"]["topic"]["code"], s) for c in body["cards"] for s in c.get("suggestions") or []
            if s.get("isRecommended")]


def suggestion_keys(topic: str, suggestion: dict) -> set[tuple[str, str, str]]:
    """(topic, action type, what it acts on): the order it updates or deletes, or the marker of what it creates."""
    keys = set()
    for action in suggestion.get("actions") or []:
        resource = action.get("resource") or {}
        if action["type"] == "delete":
            target = action["resourceId"]
        elif action["type"] == "update":
            target = f"{resource['resourceType']}/{resource['id']}"
        else:
            markers = [i.get("value") for i in resource.get("identifier") or []
                       if i.get("system") == "urn:iron-cds:suggested-order"]
            what = resource.get("code") or resource.get("medicationCodeableConcept")
            target = markers[0] if markers else json.dumps(what, sort_keys=True)
        keys.add((topic, action["type"], target))
    return keys


def order_sign_after(client, name: str, draft_orders: dict) -> dict:
    """The order-sign request of scenario ``name`` with ``draft_orders`` (e.g. after accepting suggestions)."""
    scenario = SCENARIOS[name]
    context = {"userId": USER, "patientId": scenario["patient_id"], "encounterId": ENCOUNTER,
               "draftOrders": draft_orders}
    prefetch = prefetch_for(load(scenario["patient"]), templates(client, "order-sign"), context)
    return {"hook": "order-sign", "hookInstance": str(uuid.uuid4()), "context": context, "prefetch": prefetch}
