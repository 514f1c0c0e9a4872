"""Signing as a CDS client does (for ``iron-cds fire --service URL --sign-key FILE --issuer ISS``).

CDS Hooks: the client signs a short-lived JWT per call, ``aud`` = the exact URL it calls, a fresh
``jti``, ``kid`` naming the key in the client's JWKS. EC keys sign ES256/384/512 by curve (P-384,
the sandbox's ES384, is the usual one), RSA keys RS384 (Epic's choice). The ``kid`` is the RFC 7638
thumbprint of the public key unless the key comes as a JWK that names its own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

TOKEN_LIFETIME_S = 300
_EC_ALGS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


class SigningKeyError(ValueError):
    """The key file cannot be used to sign (the message is one line)."""


@dataclass(frozen=True)
class SigningKey:
    private_key: object
    alg: str
    kid: str
    public_jwk: dict


def thumbprint(public_jwk: dict) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url without padding)."""
    required = {"EC": ("crv", "kty", "x", "y"), "RSA": ("e", "kty", "n")}.get(public_jwk.get("kty"))
    if required is None:
        raise SigningKeyError(f"unsupported key type {public_jwk.get('kty')!r}")
    canonical = json.dumps({k: public_jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _public_jwk(private_key) -> tuple[str, dict]:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        alg = _EC_ALGS.get(private_key.curve.name)
        if alg is None:
            raise SigningKeyError(f"EC curve {private_key.curve.name} is not usable for JWT signing")
        return alg, ECAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    if isinstance(private_key, rsa.RSAPrivateKey):
        if private_key.key_size < 2048:
            raise SigningKeyError("RSA keys must have at least 2048 bits")
        return "RS384", RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    raise SigningKeyError("the key must be an EC (P-256/384/521) or RSA private key")


def load_signing_key(path: str | Path) -> SigningKey:
    """A private key from a PEM file or a private JWK (JSON) file."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read signing key {path}: {exc.strerror or exc}") from None
    kid = None
    if raw.lstrip().startswith(b"{"):
        try:
            jwk = json.loads(raw)
            kid = jwk.get("kid")
            algorithm = ECAlgorithm if jwk.get("kty") == "EC" else RSAAlgorithm
            private_key = algorithm.from_jwk(jwk)
        except (ValueError, jwt.exceptions.InvalidKeyError, AttributeError) as exc:
            raise SigningKeyError(f"signing key {path} is not a usable private JWK: {exc}") from None
    else:
        try:
            private_key = serialization.load_pem_private_key(raw, password=None)
        except (ValueError, TypeError) as exc:
            raise SigningKeyError(f"signing key {path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(private_key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise SigningKeyError(f"signing key {path} holds a public key; a private key is needed to sign")
    alg, public = _public_jwk(private_key)
    kid = kid if isinstance(kid, str) and kid else thumbprint(public)
    public = {**public, "kid": kid, "alg": alg, "use": "sig"}
    return SigningKey(private_key=private_key, alg=alg, kid=kid, public_jwk=public)


def public_jwks(key: SigningKey) -> dict:
    """The JWKS a service should trust for this key (what a client publishes at its jku)."""
    return {"keys": [key.public_jwk]}


def sign(key: SigningKey, issuer: str, audience: str, jku: str | None = None, tenant: str | None = None,
         now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": issuer,
        "sub": issuer,
        "aud": audience,
        "iat": issued,
        "exp": issued + TOKEN_LIFETIME_S,
        "jti": str(uuid.uuid4()),
    }
    if tenant:
        claims["tenant"] = tenant
    headers = {"kid": key.kid, "typ": "JWT"}
    if jku:
        headers["jku"] = jku
    return jwt.encode(claims, key.private_key, algorithm=key.alg, headers=headers)
