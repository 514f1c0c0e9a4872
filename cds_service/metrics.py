"""Operational metrics (Prometheus). Placeholder: the calls are no-ops until metrics land.

Labels never carry patient data: hook names, card topics, indicators, outcomes, reasons.
"""

from __future__ import annotations


def observe_hook(hook: str, seconds: float, cards: list[dict]) -> None:
    """One hook call finished, with the cards it returned."""


def observe_fhir_read(key: str, seconds: float, outcome: str) -> None:
    """One fallback FHIR read (prefetch key) finished: outcome "ok" or a failure reason class."""


def count_feedback(topic: str, outcome: str) -> None:
    """One stored feedback item (accepted / overridden) for a card topic."""


def count_jwt_failure(reason: str) -> None:
    """One refused JWT, by reason class ("expired", "bad-signature", ...)."""
