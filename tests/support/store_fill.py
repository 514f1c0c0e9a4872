"""Filling the store the way the service does (issued cards through the audit writer, feedback in one batch)."""

from __future__ import annotations


def issue(store, service: str, hook: str, cards) -> None:
    """Record issued cards as a hook call does, written now."""
    store.record_issued_later(service, hook, cards)
    store.flush()


def give_feedback(store, service: str, items) -> int:
    """Store feedback items as the feedback endpoint does; how many were new."""
    return sum(store.store_feedback(service, items))
