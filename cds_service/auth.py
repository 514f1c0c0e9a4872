"""Who may call us. Placeholder until JWT verification lands (issue 4): with
``IRON_CDS_AUTH=jwt`` (the default) hook and feedback calls fail closed with 401."""

from __future__ import annotations

from flask import Flask, abort, current_app


def init_app(app: Flask) -> None:
    pass


def authenticate(kind: str) -> dict | None:
    """Return the verified JWT claims (None when auth is off); abort 401 otherwise."""
    config = current_app.extensions["iron_cds"].config
    if config.auth == "off":
        return None
    if kind == "discovery" and not config.protect_discovery:
        return None
    abort(401)


def check_fhir_server(claims: dict | None, fhir_server: str | None) -> None:
    """Refuse a fhirServer the calling issuer may not name (SSRF guard)."""
    return None
