"""Configuration, read once from the environment (the contract's variables).

Invalid configuration raises ``ConfigError`` with a one-line explanation; the
app factory and the CLI turn it into a clean exit at start-up.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping


class ConfigError(ValueError):
    """A configuration value is invalid; the message is one line for the operator."""


CONSOLE_TOKEN_MIN = 32   # characters: a token that short cannot be guessed online, nor offline from a cookie


def check_console_token(token: str | None) -> None:
    if token is not None and len(token) < CONSOLE_TOKEN_MIN:
        raise ConfigError(f"IRON_CDS_CONSOLE_TOKEN must be at least {CONSOLE_TOKEN_MIN} characters "
                          f"(it has {len(token)}); use a random value, e.g. `openssl rand -hex 32`")


@dataclass(frozen=True)
class TrustedIssuer:
    """A CDS client we accept JWTs from, and the FHIR servers it may name."""

    issuer: str
    jwks_url: str | None = None
    jwks_file: str | None = None
    fhir_servers: tuple[str, ...] = ()


@dataclass(frozen=True)
class Config:
    auth: str = "jwt"
    trusted_issuers: Mapping[str, TrustedIssuer] = field(default_factory=dict)
    database_url: str = "sqlite:///iron-cds.db"
    fhir_timeout: float = 3.0
    cors_origins: tuple[str, ...] = ("*",)
    protect_discovery: bool = False
    knowledge_path: str | None = None
    jurisdiction: str = "US"
    public_base_url: str | None = None
    clock_skew_seconds: int = 60
    max_token_lifetime_seconds: int = 3600   # JWTs valid for longer are refused (CDS Hooks BP: <= 1 h)
    allowed_tenants: tuple[str, ...] = ()
    max_body_bytes: int = 2 * 1024 * 1024
    max_json_depth: int = 64
    max_draft_orders: int = 50
    max_prefetch_entries: int = 5000
    fhir_max_pages: int = 5
    engine_deadline_seconds: float = 2.0   # total engine time per hook call; past it a "could not complete" card
    feedback_per_minute: int = 60          # feedback requests per client per minute, per process (429 past it)
    console_token: str | None = None
    log_level: str = "INFO"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Config":
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            return value.strip() if value is not None and value.strip() != "" else None

        auth = (get("IRON_CDS_AUTH") or "jwt").lower()
        if auth not in ("jwt", "off"):
            raise ConfigError(f"IRON_CDS_AUTH must be 'jwt' or 'off', not {auth!r}")

        jurisdiction = (get("IRON_CDS_JURISDICTION") or "US").upper()
        if jurisdiction not in ("US", "EU"):
            raise ConfigError(f"IRON_CDS_JURISDICTION must be 'US' or 'EU', not {jurisdiction!r}")

        knowledge = get("IRON_CDS_KNOWLEDGE")
        if knowledge is not None and not Path(knowledge).is_file():
            raise ConfigError(f"IRON_CDS_KNOWLEDGE names {knowledge!r}, which is not a readable file")

        public_base = get("IRON_CDS_PUBLIC_BASE_URL")
        if public_base is not None:
            if not public_base.startswith(("http://", "https://")):
                raise ConfigError("IRON_CDS_PUBLIC_BASE_URL must be an absolute http(s) URL")
            public_base = public_base.rstrip("/")

        origins = tuple(o.strip() for o in (get("IRON_CDS_CORS_ORIGINS") or "*").split(",") if o.strip())
        check_console_token(get("IRON_CDS_CONSOLE_TOKEN"))

        return cls(
            auth=auth,
            trusted_issuers=_parse_issuers(get("IRON_CDS_TRUSTED_ISSUERS")),
            database_url=get("IRON_CDS_DATABASE_URL") or "sqlite:///iron-cds.db",
            fhir_timeout=_positive_float(get("IRON_CDS_FHIR_TIMEOUT"), "IRON_CDS_FHIR_TIMEOUT", 3.0),
            cors_origins=origins or ("*",),
            protect_discovery=_flag(get("IRON_CDS_PROTECT_DISCOVERY"), "IRON_CDS_PROTECT_DISCOVERY"),
            knowledge_path=knowledge,
            jurisdiction=jurisdiction,
            public_base_url=public_base,
            clock_skew_seconds=int(_positive_float(get("IRON_CDS_CLOCK_SKEW"), "IRON_CDS_CLOCK_SKEW", 60,
                                                   allow_zero=True)),
            max_token_lifetime_seconds=int(
                _positive_float(get("IRON_CDS_MAX_TOKEN_LIFETIME"), "IRON_CDS_MAX_TOKEN_LIFETIME", 3600)
            ),
            allowed_tenants=tuple(t.strip() for t in (get("IRON_CDS_TENANTS") or "").split(",") if t.strip()),
            max_body_bytes=int(_positive_float(get("IRON_CDS_MAX_BODY_BYTES"), "IRON_CDS_MAX_BODY_BYTES",
                                               2 * 1024 * 1024)),
            console_token=get("IRON_CDS_CONSOLE_TOKEN"),
            fhir_max_pages=int(_positive_float(get("IRON_CDS_FHIR_MAX_PAGES"), "IRON_CDS_FHIR_MAX_PAGES", 5)),
            engine_deadline_seconds=_positive_float(get("IRON_CDS_ENGINE_DEADLINE"), "IRON_CDS_ENGINE_DEADLINE", 2.0),
            feedback_per_minute=int(
                _positive_float(get("IRON_CDS_FEEDBACK_PER_MINUTE"), "IRON_CDS_FEEDBACK_PER_MINUTE", 60)
            ),
            log_level=_log_level(get("IRON_CDS_LOG_LEVEL")),
        )


def _log_level(value: str | None) -> str:
    level = (value or "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError(f"IRON_CDS_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {value!r}")
    return level


def _flag(value: str | None, name: str) -> bool:
    if value is None:
        return False
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 0 or 1, not {value!r}")


def _positive_float(value: str | None, name: str, default: float, allow_zero: bool = False) -> float:
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number, not {value!r}") from None
    if number < 0 or (number == 0 and not allow_zero):
        raise ConfigError(f"{name} must be a positive number, not {value!r}")
    return number


def _parse_issuers(raw: str | None) -> dict[str, TrustedIssuer]:
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise ConfigError("IRON_CDS_TRUSTED_ISSUERS must be a JSON object: issuer -> JWKS URL or file") from None
    if not isinstance(data, dict):
        raise ConfigError("IRON_CDS_TRUSTED_ISSUERS must be a JSON object: issuer -> JWKS URL or file")
    issuers = {}
    for iss, spec in data.items():
        if isinstance(spec, str):
            spec = {"jwks_url": spec}
        if not isinstance(spec, dict):
            raise ConfigError(f"IRON_CDS_TRUSTED_ISSUERS[{iss!r}] must be a JWKS URL, a file path or an object")
        named_jku = None
        if isinstance(spec.get("jwks_url"), str) and isinstance(spec.get("jwks_file"), str):
            # Both given: keys come from the file (never fetched); the URL is only what tokens may name in jku.
            named_jku = spec["jwks_url"]
            if not named_jku.startswith(("https://", "http://")):
                raise ConfigError(f"IRON_CDS_TRUSTED_ISSUERS[{iss!r}].jwks_url must be an http(s) URL")
            spec = {k: v for k, v in spec.items() if k != "jwks_url"}
        source = spec.get("jwks_url") or spec.get("jwks_file")
        if not isinstance(source, str) or not source:
            raise ConfigError(f"IRON_CDS_TRUSTED_ISSUERS[{iss!r}] needs 'jwks_url' (or 'jwks_file')")
        jwks_url = jwks_file = None
        if source.startswith(("https://", "http://")):
            jwks_url = source
        else:
            path = source[len("file://"):] if source.startswith("file://") else source
            if not Path(path).is_file():
                raise ConfigError(f"IRON_CDS_TRUSTED_ISSUERS[{iss!r}]: JWKS file {path!r} does not exist")
            jwks_file = path
            jwks_url = named_jku
        servers = spec.get("fhir_servers") or []
        if not isinstance(servers, list) or not all(isinstance(s, str) for s in servers):
            raise ConfigError(f"IRON_CDS_TRUSTED_ISSUERS[{iss!r}].fhir_servers must be a list of URLs")
        issuers[iss] = TrustedIssuer(
            issuer=iss,
            jwks_url=jwks_url,
            jwks_file=jwks_file,
            fhir_servers=tuple(s.rstrip("/") for s in servers),
        )
    return issuers
