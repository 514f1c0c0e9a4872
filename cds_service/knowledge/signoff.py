"""Sign-off of the knowledge files: who reviewed each file, when, and its version.

Every file under ``cards/`` (and an institution's override) may start with a ``meta:`` block::

    meta: {reviewed_by: "A. Pharmacist, PharmD (P&T committee)", reviewed_on: "2026-12-04", version: "2026.12.04-1"}

The block is taken out of the file's data before the schemas run. A file without one is *unsigned*:
``check-knowledge`` warns (exit 0) and the version in force says so. A block that is there but wrong
(no reviewer, a date that is not a date, a version with spaces) is a problem like any other (exit 1).
The version in force (the packaged files' version, plus the override's) is shown in the console and
named on every card's ``source.label``, so any card can be traced to the signed-off files behind it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from marshmallow import ValidationError, fields, validate, validates

from cds_service.knowledge.schema import Strict

META = "meta"
OVERRIDE = "override"                 # key of the institution's override in the collected sign-offs
VERSION = validate.Regexp(
    r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,39}$",
    error="Use letters, digits and . _ + - (no spaces), at most 40 characters, e.g. 2026.12.04-1.")


class Meta(Strict):
    reviewed_by = fields.String(required=True, validate=validate.Length(min=2, max=200))
    reviewed_on = fields.String(required=True)
    version = fields.String(required=True, validate=VERSION)
    note = fields.String(allow_none=True, load_default=None)

    @validates("reviewed_on")
    def _iso_date(self, value: str, **kwargs) -> None:
        try:
            date.fromisoformat(value)
        except (TypeError, ValueError):
            raise ValidationError("Use an ISO date, YYYY-MM-DD.") from None
        if len(value) != 10:
            raise ValidationError("Use an ISO date, YYYY-MM-DD.")


def split_meta(content: dict) -> tuple[dict, Any]:
    """(the file's data without its ``meta:`` block, the block or None)."""
    if META not in content:
        return content, None
    rest = {key: value for key, value in content.items() if key != META}
    return rest, content[META]


def problems(signoffs: dict[str, Any]) -> list[tuple[str, str]]:
    """(file, "meta.field: message") for every block that is present but not valid."""
    found = []
    for name, meta in signoffs.items():
        if meta is None:
            continue
        if not isinstance(meta, dict):
            found.append((name, "meta: Must be a mapping {reviewed_by, reviewed_on, version}."))
            continue
        for field, messages in sorted(Meta().validate(meta).items()):
            for message in messages if isinstance(messages, list) else [messages]:
                found.append((name, f"meta.{field}: {message}"))
    return found


def unsigned(signoffs: dict[str, Any]) -> list[str]:
    """Names of the files that carry no sign-off."""
    return [name for name, meta in signoffs.items() if meta is None]


def version_in_force(signoffs: dict[str, Any]) -> str | None:
    """ "2026.12.04-1", "2026.12.04-1 + local st-elsewhere-3", or None when nothing is signed.

    The packaged files normally share one version; if they do not, each distinct version is named."""
    packaged = {name: meta for name, meta in signoffs.items() if name != OVERRIDE}
    versions = sorted({str(meta["version"]) for meta in packaged.values()
                       if isinstance(meta, dict) and meta.get("version")})
    if not signoffs:
        return None
    base = " / ".join(versions) or "unsigned"
    if any(meta is None for meta in packaged.values()):
        base += " (partly unsigned)"
    if OVERRIDE in signoffs:
        local = signoffs[OVERRIDE]
        signed = isinstance(local, dict) and local.get("version")
        base += f" + local {local['version']}" if signed else " + local unsigned"
    return base
