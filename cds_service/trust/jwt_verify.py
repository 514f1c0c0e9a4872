"""Verify a CDS client's JWT (CDS Hooks 2.0 "Trusting CDS Clients").

The checks follow the CDS Hooks best-practice order: the issuer is one we
trust, the key-set URL it names (if any) is the one we configured, the
algorithm is asymmetric, the signature verifies with the issuer's key picked by
``kid``, ``aud`` is the exact URL called, the token is in its validity window,
the tenant is allowed, and only then is the ``jti`` recorded — so that a forged
or invalid token can never use up a legitimate ``jti``.

Every refusal raises ``TokenRejected`` with a short reason class (for the log
and the metric); the caller answers 401 without any detail.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cds_service.config import Config
from cds_service.trust.jwks import KeyRegistry

# Asymmetric only: "none" and the HS* family are refused before anything else is looked at.
_EC_CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}
_RSA_ALGORITHMS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
ALLOWED_ALGORITHMS = frozenset(_EC_CURVES) | frozenset(_RSA_ALGORITHMS)

MAX_TOKEN_CHARS = 16 * 1024     # real CDS client tokens are well under 2 kB
MAX_JTI_CHARS = 256
MIN_RSA_BITS = 2048
# Signature lengths in bytes: ECDSA in JWS is raw r||s (RFC 7518 section 3.4); RSA is the key's size.
_EC_SIGNATURE_BYTES = {"ES256": 64, "ES384": 96, "ES512": 132}
_RSA_SIGNATURE_BYTES = (MIN_RSA_BITS // 8, 16384 // 8)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


class TokenRejected(Exception):
    """A JWT we will not accept; ``reason`` is a short, non-secret class for logs and metrics."""

    def __init__(self, reason: str, iss: str | None = None, jti: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.iss = iss
        self.jti = jti


@dataclass(frozen=True)
class VerifiedToken:
    claims: dict
    issuer: str
    jti: str
    expires_at: datetime


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <jwt>`` header."""
    if not authorization:
        raise TokenRejected("missing")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise TokenRejected("malformed")
    if len(token) > MAX_TOKEN_CHARS:
        raise TokenRejected("malformed")
    return token


def verify_token(
    token: str,
    *,
    audience: str,
    config: Config,
    keys: KeyRegistry,
    remember: Callable[[str, str, datetime], bool],
    now: datetime | None = None,
) -> VerifiedToken:
    """Return the verified token, or raise ``TokenRejected``.

    ``remember(iss, jti, keep_until)`` records the jti and returns False for one seen before.
    """
    now = now or datetime.now(timezone.utc)
    header = _header(token)
    unverified = _unverified_claims(token)
    iss = unverified.get("iss") if isinstance(unverified.get("iss"), str) else None
    jti = unverified.get("jti") if isinstance(unverified.get("jti"), str) else None
    log_jti = jti[:MAX_JTI_CHARS] if jti else None

    def reject(reason: str) -> TokenRejected:
        return TokenRejected(reason, iss=iss[:200] if iss else None, jti=log_jti)

    problem = _header_problem(header, config.trusted_issuers.get(iss) if iss else None)
    if problem:
        raise reject(problem)
    alg, kid = header["alg"], header["kid"]

    if not _signature_fits(token, alg):
        # Before any key lookup: an unsigned or cut-off token must never make us fetch a key set.
        raise reject("bad-signature")
    jwk = keys.key(iss, kid)
    if jwk is None:
        raise reject("unknown-key" if keys.has_keys(iss) else "jwks-unavailable")
    public_key = _public_key(jwk, alg)
    if public_key is None:
        raise reject("unknown-key")

    try:
        claims = jwt.decode(token, key=public_key, algorithms=[alg], audience=audience, issuer=iss,
                            leeway=config.clock_skew_seconds, options=_DECODE_OPTIONS)
    except jwt.InvalidTokenError as exc:
        raise reject(_decode_reason(exc)) from None

    expires_at = datetime.fromtimestamp(int(claims["exp"]), timezone.utc)
    problem = _claims_problem(claims, jti, expires_at - now, config)
    if problem:
        raise reject(problem)

    # Keep the jti at least as long as the token could still be accepted (exp + skew).
    keep_until = expires_at + timedelta(seconds=config.clock_skew_seconds)
    try:
        fresh = remember(iss, jti, keep_until)
    except Exception:   # the shared store is down: fail closed rather than allow replays
        raise reject("replay-store-unavailable") from None
    if not fresh:
        raise reject("replay")
    return VerifiedToken(claims=claims, issuer=iss, jti=jti, expires_at=expires_at)


def _claims_problem(claims: dict, jti: str | None, lifetime: timedelta, config: Config) -> str | None:
    """Why verified claims are still refused: jti, lifetime left, tenant."""
    if not jti or len(jti) > MAX_JTI_CHARS:
        return "missing-claim"
    if lifetime > timedelta(seconds=config.max_token_lifetime_seconds + config.clock_skew_seconds):
        # A token valid for days would be a long-lived credential and would also keep its jti
        # in the replay table for days; CDS Hooks clients issue tokens for minutes.
        return "lifetime"
    if config.allowed_tenants and claims.get("tenant") not in config.allowed_tenants:
        return "tenant"
    return None


def _header_problem(header: dict, issuer) -> str | None:
    """Why the header alone refuses the token (``issuer``: the trusted issuer its iss names, if any)."""
    if header.get("alg") not in ALLOWED_ALGORITHMS:
        return "algorithm"
    if not isinstance(header.get("typ"), str) or header["typ"].upper() != "JWT":
        return "malformed"
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        return "malformed"
    if issuer is None:
        return "untrusted-issuer"
    jku = header.get("jku")
    if jku is not None and (issuer.jwks_url is None or jku != issuer.jwks_url):
        # Never fetched: a token cannot choose where its own verification key comes from.
        return "untrusted-jku"
    return None


_DECODE_OPTIONS = {
    "require": ["iss", "aud", "exp", "iat", "jti"],
    "verify_signature": True,
    "verify_exp": True,
    "verify_nbf": True,
    "verify_iat": True,
    "verify_aud": True,
    "verify_iss": True,
}
# PyJWT's errors -> our refusal reasons; most specific first (they all derive from InvalidTokenError).
_DECODE_ERRORS = (
    (jwt.ExpiredSignatureError, "expired"),
    (jwt.ImmatureSignatureError, "not-yet-valid"),
    (jwt.InvalidAudienceError, "audience"),
    (jwt.InvalidIssuerError, "untrusted-issuer"),
    (jwt.MissingRequiredClaimError, "missing-claim"),
    (jwt.InvalidSignatureError, "bad-signature"),
)


def _decode_reason(exc: jwt.InvalidTokenError) -> str:
    return next((reason for error, reason in _DECODE_ERRORS if isinstance(exc, error)), "malformed")


def _signature_fits(token: str, alg: str) -> bool:
    """Whether the token carries a base64url signature of the length ``alg`` produces."""
    parts = token.split(".")
    if len(parts) != 3 or not _BASE64URL.fullmatch(parts[2]):
        return False
    try:
        signature = base64.urlsafe_b64decode(parts[2] + "=" * (-len(parts[2]) % 4))
    except (binascii.Error, ValueError):
        return False
    if alg in _EC_SIGNATURE_BYTES:
        return len(signature) == _EC_SIGNATURE_BYTES[alg]
    return _RSA_SIGNATURE_BYTES[0] <= len(signature) <= _RSA_SIGNATURE_BYTES[1]


def _header(token: str) -> dict:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise TokenRejected("malformed") from None
    if not isinstance(header, dict):
        raise TokenRejected("malformed")
    return header


def _unverified_claims(token: str) -> dict:
    """The payload before any check: used only to find the issuer, and to log iss and jti."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError:
        raise TokenRejected("malformed") from None
    if not isinstance(claims, dict):
        raise TokenRejected("malformed")
    return claims


def _public_key(jwk: dict, alg: str):
    """The key object for ``alg``, or None when the JWK cannot serve that algorithm."""
    declared = jwk.get("alg")
    if declared is not None and declared != alg:
        return None
    try:
        key = jwt.PyJWK(jwk, algorithm=alg).key
    except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError, KeyError):
        return None
    if alg in _EC_CURVES:
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, _EC_CURVES[alg]):
            return None
    elif not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        return None
    return key
