"""Findings -> CDS Hooks 2.0 cards (placeholder)."""

from __future__ import annotations


def build_response(findings, knowledge) -> dict:
    return {"cards": []}
