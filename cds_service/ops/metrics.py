"""Operational metrics for Prometheus, served at ``GET /metrics``.

Under gunicorn every worker is a process: with ``PROMETHEUS_MULTIPROC_DIR`` set
(``iron-cds serve`` and the Dockerfile set it) prometheus-client writes each
worker's samples to that folder and ``/metrics`` aggregates them.

Labels never carry patient data: only hook names, card topics, indicators,
feedback outcomes, prefetch key names and failure classes, each from a fixed set.
"""

from __future__ import annotations

import os
from collections.abc import Collection

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

from cds_service import HOOKS
from cds_service.engine import model, topics
from cds_service.fhir import templates

HOOK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

HOOK_DURATION = Histogram("iron_cds_hook_duration_seconds", "Hook call latency", ["hook"], buckets=HOOK_BUCKETS)
CARDS = Counter("iron_cds_cards_issued_total", "Cards returned to EHRs", ["topic", "indicator"])
FHIR_READ_DURATION = Histogram(
    "iron_cds_fhir_read_duration_seconds", "Fallback FHIR read latency", ["key"], buckets=HOOK_BUCKETS
)
FHIR_READ_FAILURES = Counter("iron_cds_fhir_read_failures_total", "Fallback FHIR reads that failed", ["key", "reason"])
FEEDBACK = Counter("iron_cds_feedback_total", "Feedback items stored", ["topic", "outcome"])
JWT_FAILURES = Counter("iron_cds_jwt_failures_total", "Refused JWTs", ["reason"])

# Fixed label vocabularies: anything else is folded into "other" so that no free
# text (which could hold an identifier) ever becomes a label value.
TOPICS = frozenset(topics.codes())
INDICATORS = frozenset(model.INDICATORS)
OUTCOMES = {"accepted", "overridden"}
PREFETCH_KEYS = frozenset(templates.PREFETCH_KEYS) | {"medication"}  # medication: a draft order's Medication
FHIR_FAILURES = {
    "timeout", "http-error", "connection-error", "not-json", "not-fhir", "operation-outcome", "deadline",
    "no-fhir-server", "unresolved-token", "error",
}
JWT_REASONS = {
    "missing", "malformed", "algorithm", "untrusted-issuer", "untrusted-jku", "unknown-key", "bad-signature",
    "expired", "not-yet-valid", "audience", "replay", "missing-claim", "tenant", "jwks-unavailable", "lifetime",
    "replay-store-unavailable", "error",
}


def _label(value: str | None, allowed: Collection[str]) -> str:
    return value if value in allowed else "other"


def _fhir_key(key: str) -> str:
    # Medication reads are keyed "medication:<id>"; keep only the class.
    return _label(key.split(":", 1)[0], PREFETCH_KEYS)


# Label children resolved once per process: ``labels()`` costs a lock and a tuple lookup per call.
_HOOK_CHILDREN: dict[str, object] = {}
_CARD_CHILDREN: dict[tuple[str, str], object] = {}


def observe_hook(hook: str, seconds: float, cards: list[dict]) -> None:
    """One hook call finished, with the cards it returned."""
    label = _label(hook, HOOKS)
    child = _HOOK_CHILDREN.get(label)
    if child is None:
        child = _HOOK_CHILDREN[label] = HOOK_DURATION.labels(label)
    child.observe(seconds)
    for card in cards:
        key = (_label(card.get("source", {}).get("topic", {}).get("code"), TOPICS),
               _label(card.get("indicator"), INDICATORS))
        counter = _CARD_CHILDREN.get(key)
        if counter is None:
            counter = _CARD_CHILDREN[key] = CARDS.labels(*key)
        counter.inc()


def observe_fhir_read(key: str, seconds: float, outcome: str) -> None:
    """One fallback FHIR read finished: outcome "ok" or a failure class (see FHIR_FAILURES)."""
    label = _fhir_key(key)
    FHIR_READ_DURATION.labels(label).observe(seconds)
    if outcome != "ok":
        reason = outcome.split(" ", 1)[0].lower()
        FHIR_READ_FAILURES.labels(label, reason if reason in FHIR_FAILURES else "error").inc()


def count_feedback(topic: str, outcome: str) -> None:
    """One stored feedback item (accepted / overridden) for a card topic."""
    FEEDBACK.labels(_label(topic, TOPICS), _label(outcome, OUTCOMES)).inc()


def count_jwt_failure(reason: str) -> None:
    """One refused JWT, by reason class."""
    JWT_FAILURES.labels(reason if reason in JWT_REASONS else "error").inc()


def exposition() -> bytes:
    """The text exposition format, aggregated over all workers when running multi-process."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY)


bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics_endpoint():
    return Response(exposition(), mimetype=CONTENT_TYPE_LATEST)
