"""``POST /cds-services/{id}/feedback``: what clinicians did with our cards.

Feedback is stored idempotently (EHRs resend it). Nothing the clinician sent may
be lost quietly: if the store fails we answer 503, so the EHR tries again,
rather than 200 for data we do not have.
"""

from __future__ import annotations

import logging
from collections import Counter

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from cds_service import hooks_served
from cds_service.cds_hooks.errors import ApiError, error_response
from cds_service.cds_hooks.schemas import load_feedback, read_json_body
from cds_service.ops import metrics
from cds_service.trust import auth

log = logging.getLogger("iron_cds.feedback")

bp = Blueprint("feedback", __name__)


@bp.post("/cds-services/<service_id>/feedback")
def receive_feedback(service_id: str):
    state = current_app.extensions["iron_cds"]
    if not hooks_served(service_id):
        raise ApiError(404, f"unknown CDS service {service_id!r}")
    auth.authenticate("feedback")
    items = load_feedback(read_json_body(request, state.config))

    try:
        new = state.store.store_feedback(service_id, items)
        topics = state.store.card_topics(item["card"] for item in items)
    except SQLAlchemyError as exc:
        log.error(
            "feedback not stored",
            extra={"event": "feedback-store-error", "error": exc.__class__.__name__, "received": len(items)},
        )
        response = error_response(503, "feedback could not be stored; please send it again")
        response.headers["Retry-After"] = "30"
        return response

    stored = Counter()
    for item, is_new in zip(items, new, strict=True):
        if is_new:
            topic = topics.get(item["card"], "unknown")
            metrics.count_feedback(topic, item["outcome"])
            stored[f"{topic}:{item['outcome']}"] += 1
    log.info(
        "feedback",
        extra={"event": "feedback", "service": service_id, "received": len(items), "stored": sum(new),
               "outcomes": dict(stored)},
    )
    return jsonify({"received": len(items), "stored": sum(new)})
