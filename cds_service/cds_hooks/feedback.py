"""``POST /cds-services/{id}/feedback``: what clinicians did with our cards.

Feedback is stored idempotently (EHRs resend it). Nothing the clinician sent may
be lost quietly: if the store fails we answer 503, so the EHR tries again,
rather than 200 for data we do not have; a comment over the cap is refused (400),
never cut. Feedback on a card we never issued is refused (400) after the audit
writer has written what it holds. Each client (JWT ``iss`` + ``sub``, or the remote
address when authentication is off) may send ``IRON_CDS_FEEDBACK_PER_MINUTE``
requests a minute, counted per process (``ops/rate_limit.py``); past that, 429.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import SQLAlchemyError

from cds_service import hooks_served
from cds_service.cds_hooks.errors import ApiError, error_response
from cds_service.cds_hooks.schemas import load_feedback, read_json_body
from cds_service.ops import metrics
from cds_service.ops.rate_limit import RateLimiter
from cds_service.trust import auth

log = logging.getLogger("iron_cds.feedback")

bp = Blueprint("feedback", __name__)


@bp.post("/cds-services/<service_id>/feedback")
def receive_feedback(service_id: str):
    state = current_app.extensions["iron_cds"]
    if not hooks_served(service_id):
        raise ApiError(404, f"unknown CDS service {service_id!r}")
    claims = auth.authenticate("feedback")
    wait = _limiter(state).hit(_client(claims))
    if wait is not None:
        log.warning("feedback rate limited", extra={"event": "feedback-rate-limited", "retry_after": wait})
        response = error_response(429, "too many feedback requests from this client; send it again later")
        response.headers["Retry-After"] = str(wait)
        return response
    items = load_feedback(read_json_body(request, state.config))

    try:
        topics = _issued_topics(state.store, items)
        new = state.store.store_feedback(service_id, items)
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


# A card issued by another worker reaches the store within its audit writer's interval (0.2 s):
# one second look after that long, before refusing feedback on a card as never issued.
UNKNOWN_CARD_RECHECK_SECONDS = 0.3


def _issued_topics(store, items: list[dict]) -> dict[str, str]:
    """Topic per card of ``items``; 400 naming the first card we never issued."""
    cards = [item["card"] for item in items]
    topics = store.card_topics(cards)          # writes this process's pending audit rows first
    if any(card not in topics for card in cards):
        time.sleep(UNKNOWN_CARD_RECHECK_SECONDS)
        topics = store.card_topics(cards)
    for index, card in enumerate(cards):
        if card not in topics:
            log.warning("feedback on a card never issued", extra={"event": "feedback-unknown-card",
                                                                  "received": len(items)})
            raise ApiError(400, "feedback names a card this service never issued", field=f"feedback[{index}].card")
    return topics


def _client(claims: dict | None) -> str:
    """Who sends: the JWT's issuer and subject, or the remote address when authentication is off."""
    if claims:
        return f"jwt\x1f{claims.get('iss')}\x1f{claims.get('sub')}"
    return f"addr\x1f{request.remote_addr}"


def _limiter(state) -> RateLimiter:
    limiter = state.extras.get("feedback_limiter")
    if limiter is None:
        limiter = state.extras.setdefault("feedback_limiter", RateLimiter(state.config.feedback_per_minute, 60.0))
    return limiter
