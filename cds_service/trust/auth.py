"""Who may call us, and which FHIR servers a caller may make us read.

With ``IRON_CDS_AUTH=jwt`` (the default) hook and feedback calls — and discovery
when ``IRON_CDS_PROTECT_DISCOVERY=1`` — must carry a JWT signed by a trusted CDS
client (see ``jwt_verify``). A refusal is a bare 401: telling a caller *why* its
token failed helps an attacker more than an integrator, who has our log instead.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, g, request

from cds_service.cds_hooks.errors import ApiError
from cds_service.fhir.urls import parse_base
from cds_service.ops import metrics
from cds_service.trust.jwks import KeyRegistry
from cds_service.trust.jwt_verify import TokenRejected, bearer_token, verify_token

log = logging.getLogger("iron_cds.auth")

KINDS = ("hook", "feedback", "discovery")


def init_app(app: Flask) -> None:
    """Build the per-process key cache and say at start-up what the trust set-up allows."""
    state = app.extensions["iron_cds"]
    config = state.config
    registry = KeyRegistry(dict(config.trusted_issuers))
    registry.check_files()
    state.extras["jwks"] = registry

    if config.auth == "off":
        log.warning(
            "JWT verification is OFF: anyone who can reach this service can call it (local use only)",
            extra={"event": "auth-off"},
        )
        return
    if not config.trusted_issuers:
        log.warning(
            "IRON_CDS_AUTH=jwt but IRON_CDS_TRUSTED_ISSUERS is empty: every hook and feedback call will be "
            "refused with 401 until a trusted issuer is configured",
            extra={"event": "no-trusted-issuers"},
        )
    for issuer in config.trusted_issuers.values():
        if not issuer.fhir_servers:
            log.warning(
                "trusted issuer lists no fhir_servers: its calls may name ANY fhirServer, and this service will "
                "send HTTP requests there (server-side request forgery risk); list the issuer's FHIR base URLs",
                extra={"event": "no-fhir-allow-list", "iss": issuer.issuer},
            )


def authenticate(kind: str) -> dict | None:
    """Return the verified JWT claims (None when no check applies); raise 401 otherwise."""
    if kind not in KINDS:
        raise ValueError(f"unknown call kind {kind!r}")
    state = current_app.extensions["iron_cds"]
    config = state.config
    if config.auth == "off":
        return None
    if kind == "discovery" and not config.protect_discovery:
        return None
    try:
        token = bearer_token(request.headers.get("Authorization"))
        verified = verify_token(
            token,
            audience=expected_audience(config),
            config=config,
            keys=state.extras["jwks"],
            remember=state.store.remember_token,
        )
    except TokenRejected as rejected:
        log.warning(
            "JWT refused",
            extra={
                "event": "jwt-refused",
                "kind": kind,
                "reason": rejected.reason,
                "iss": rejected.iss,
                "jti": rejected.jti,
            },
        )
        metrics.count_jwt_failure(rejected.reason)
        raise ApiError(401, "unauthorized") from None
    g.jwt_issuer = verified.issuer
    return verified.claims


def expected_audience(config) -> str:
    """The exact URL the client called: the configured public base URL + path behind a proxy."""
    if config.public_base_url:
        return config.public_base_url + request.path
    return request.base_url


def normalise_url(url: str) -> str | None:
    """``scheme://host[:port]/path`` without a trailing slash; None for what is not a plain http(s) URL.

    Parsed by ``fhir.urls`` (the parser of the library that connects), so the allow-list
    compares what the reads will really reach.
    """
    base = parse_base(url)
    return base.url if base is not None else None


def check_fhir_server(claims: dict | None, fhir_server: str | None) -> None:
    """Refuse a fhirServer the calling issuer may not name, before any read (SSRF guard).

    The service sends requests — with the EHR's access token — to whatever
    ``fhirServer`` says. An issuer that lists its FHIR servers pins that to them;
    an issuer that lists none may name any server (warned about at start-up).
    """
    if claims is None or fhir_server is None:
        return
    config = current_app.extensions["iron_cds"].config
    issuer = config.trusted_issuers.get(claims.get("iss"))
    if issuer is None or not issuer.fhir_servers:
        return
    allowed = {normalise_url(url) for url in issuer.fhir_servers} - {None}
    named = normalise_url(fhir_server)
    if named is None or named not in allowed:
        log.warning(
            "fhirServer not allowed for this issuer",
            extra={"event": "fhir-server-refused", "iss": issuer.issuer, "host": _host(named)},
        )
        raise ApiError(400, "fhirServer is not one this CDS client may name", field="fhirServer")


def _host(url: str | None) -> str | None:
    base = parse_base(url) if url else None
    return f"{base.host}:{base.port}" if base else None
