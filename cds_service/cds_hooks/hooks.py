"""``POST /cds-services/{id}``: one hook call, from HTTP in to cards out.

validate -> authenticate -> gather the patient record -> engine -> cards -> store + log.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import datetime, timezone
from functools import lru_cache, partial

import orjson
from flask import Blueprint, Response, current_app, g, request
from werkzeug.sansio.utils import get_current_url

from cds_service import HOOKS, SERVICE_IDS, hooks_served
from cds_service.cds_hooks.cards import build_response
from cds_service.cds_hooks.errors import ApiError
from cds_service.cds_hooks.schemas import load_hook_request, read_json_body
from cds_service.engine import evaluate, has_orders_to_check
from cds_service.engine.model import EvaluationContext
from cds_service.engine.triage import triage
from cds_service.fhir.access import gather_record
from cds_service.ops import logs, metrics
from cds_service.trust import auth

log = logging.getLogger("iron_cds.hooks")

bp = Blueprint("hooks", __name__)


def _state():
    return current_app.extensions["iron_cds"]


def run_engine(state, hook: str, draft_orders, selections, record, patient_id: str, encounter_id: str | None,
               user_id: str | None) -> dict:
    """The CDS Hooks response for one request: the engine on the record, then the cards.

    The hook endpoint and the console's preview both answer through here, so a reviewer sees exactly
    what an EHR would get (same deadline, same handout links).
    """
    ctx = EvaluationContext(patient_id=patient_id, encounter_id=encounter_id, user_id=user_id, hook=hook,
                            now=datetime.now(timezone.utc), jurisdiction=state.config.jurisdiction,
                            engine_seconds=state.config.engine_deadline_seconds)
    findings = evaluate(draft_orders, selections, record, state.knowledge, ctx, [key.key for key in state.prefetch])
    base = state.config.public_base_url or _host_url(request.scheme, request.host)
    return build_response(findings, state.knowledge, base, jurisdiction=state.config.jurisdiction)


@lru_cache(maxsize=64)   # werkzeug's request.host_url, worked out once per host a caller uses (a few)
def _host_url(scheme: str, host: str) -> str:
    return get_current_url(scheme, host)


@bp.post("/cds-services/<service_id>")
def call_hook(service_id: str):
    started = time.perf_counter()
    state = _state()
    served = hooks_served(service_id)
    if not served:
        raise ApiError(404, f"unknown CDS service {service_id!r}")
    claims = auth.authenticate("hook")

    # The request itself, not the proxy: the proxy finds the request's context at every attribute read.
    body = read_json_body(request._get_current_object(), state.config)
    g.hook_instance = hook_instance = body.get("hookInstance") if isinstance(body.get("hookInstance"), str) else None
    if body.get("hook") in HOOKS and body["hook"] not in served:
        # The other hook of ours, sent to this hook's id (an EHR wired to the wrong URL): say that, rather than
        # what that hook's context lacks for this one (order-select's context.selections at the order-sign id).
        raise ApiError(400, f"service {service_id!r} does not serve hook {body['hook']!r}; it is served at "
                            f"/cds-services/{SERVICE_IDS[body['hook']]}", field="hook")
    hook_request = load_hook_request(body, state.config)
    if hook_request["hook"] not in served:
        raise ApiError(400, f"service {service_id!r} does not serve hook {hook_request['hook']!r}", field="hook")
    auth.check_fhir_server(claims, hook_request.get("fhirServer"))

    hook, context = hook_request["hook"], hook_request["context"]
    drafts, selections = context["draftOrders"], context.get("selections")
    record = gather_record(hook_request, state.prefetch, state,
                           triage=partial(triage, drafts, selections, hook, knowledge=state.knowledge))
    if has_orders_to_check(drafts, selections, record, state.knowledge, hook):
        response = run_engine(state, hook, drafts, selections, record,
                              context["patientId"], context.get("encounterId"), context.get("userId"))
        state.store.record_issued_later(service_id, hook, response["cards"])
    else:
        # What run_engine answers when the engine has no order to check (most calls: no IV iron drafted),
        # without building its context; no card, so nothing to audit either.
        response = {"cards": []}
    duration_ms = round((time.perf_counter() - started) * 1000, 1)
    logs.info(log, "hook call", {
        "event": "hook-call",
        "hookInstance": hook_instance,
        "service": service_id,
        "hook": hook,
        "duration_ms": duration_ms,
        "cards": dict(Counter(c["source"]["topic"]["code"] for c in response["cards"])),
        "data_sources": _data_sources(record),
    })
    metrics.observe_hook(hook, duration_ms / 1000, response["cards"])
    # Serialised once, by orjson (a twentieth of jsonify's cost on a three-card answer).
    return Response(orjson.dumps(response), mimetype="application/json")


def _data_sources(record) -> dict[str, str]:
    sources = dict(record.sources)
    for key in record.unavailable:
        sources[key] = "unavailable"
    return sources
