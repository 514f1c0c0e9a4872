"""Prefetch templates -> relative FHIR URLs, with the CDS Hooks 2.0 tokens filled in.

Only 2.0 tokens are understood: ``{{context.patientId}}``, ``{{context.encounterId}}``,
``{{context.userId}}`` and the four ``{{userXxxId}}`` tokens derived from
``context.userId`` (``Practitioner/abc`` -> ``{{userPractitionerId}}`` = ``abc``).
A template with a token we cannot fill is not read at all: a search without its
patient filter would return someone else's data, and a guess is worse than nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

# The data the service asks an EHR to prefetch, by key: discovery builds each key's template, metrics
# labels reads by key, and wording.yaml says what each key's data is needed for (history-unavailable).
PREFETCH_KEYS = ("patient", "weight", "labs", "allergies", "conditions", "ironAdministrations", "painScores",
                 "vitalSigns", "adverseEvents")

_TOKEN = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")

# Root-level primitive context fields the order-select / order-sign hooks mark as token-eligible.
_CONTEXT_FIELDS = ("patientId", "encounterId", "userId")

_USER_TOKENS = {
    "userPractitionerId": "Practitioner",
    "userPractitionerRoleId": "PractitionerRole",
    "userPatientId": "Patient",
    "userRelatedPersonId": "RelatedPerson",
}


@dataclass(frozen=True)
class Resolved:
    """A template after token replacement: ``url`` when every token was filled, else the missing ones."""

    url: str | None
    missing: tuple[str, ...] = ()


def token_values(context: dict) -> dict[str, str]:
    """The value of every token this request can fill (values as given, not yet URL-encoded)."""
    values: dict[str, str] = {}
    if not isinstance(context, dict):
        return values
    for name in _CONTEXT_FIELDS:
        value = context.get(name)
        if isinstance(value, str) and value.strip():
            values[f"context.{name}"] = value.strip()
    user = values.get("context.userId")
    if user:
        # "Practitioner/abc"; tolerate an absolute reference by looking at the last two segments.
        parts = user.rstrip("/").split("/")
        if len(parts) >= 2 and parts[-1]:
            for token, resource_type in _USER_TOKENS.items():
                if parts[-2] == resource_type:
                    values[token] = parts[-1]
    return values


def resolve(template: str, context: dict) -> Resolved:
    """Fill ``template``'s tokens from ``context``; values are percent-encoded (``/`` included)."""
    return fill(template, token_values(context))


def fill(template: str, values: dict[str, str]) -> Resolved:
    """Fill ``template``'s tokens from ``values`` (token name -> value, as ``token_values`` gives)."""
    missing: list[str] = []

    def fill(match: re.Match) -> str:
        name = match.group(1)
        value = values.get(name)
        if value is None:
            missing.append("{{" + name + "}}")
            return ""
        return quote(value, safe="")

    url = _TOKEN.sub(fill, template)
    if missing:
        return Resolved(None, tuple(dict.fromkeys(missing)))
    return Resolved(url)
