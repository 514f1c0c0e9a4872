"""The clinical engine: pure functions, facts in, findings out."""

from __future__ import annotations


def evaluate(draft_orders, selections, record, knowledge, ctx, feeds=None):
    """Placeholder: returns no findings until the rules land."""
    return []
