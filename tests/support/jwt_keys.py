"""Test-only CDS clients: key pairs, their JWKS, and tokens signed the way EHRs sign them."""

from __future__ import annotations

import json
import time
import uuid

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from cds_service import LEGACY_SERVICE_ID
from cds_service.config import TrustedIssuer

EPIC_ISS = "https://ehr.example.org/interconnect-fhir-oauth"
EPIC_JWKS = "https://ehr.example.org/api/epic/2019/Security/Open/PublicKeys/530005/OBTEST"
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
FHIR_BASE = "https://fhir.example.org/api/FHIR/R4"

BASE = "http://localhost"
HOOK_PATH = f"/cds-services/{LEGACY_SERVICE_ID}"
FEEDBACK_PATH = f"{HOOK_PATH}/feedback"
DISCOVERY_PATH = "/cds-services"

_KEY_CACHE: dict[str, object] = {}


def _private_key(alg: str, slot: str):
    """Key generation (RSA especially) is slow: reuse one key per algorithm and slot in a test run."""
    cache_key = f"{alg}:{slot}"
    if cache_key not in _KEY_CACHE:
        if alg.startswith("ES"):
            curve = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}[alg]
            _KEY_CACHE[cache_key] = ec.generate_private_key(curve)
        else:
            _KEY_CACHE[cache_key] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return _KEY_CACHE[cache_key]


class Signer:
    """One signing key of a CDS client."""

    def __init__(self, alg: str = "ES384", kid: str | None = None, slot: str = "main"):
        self.alg = alg
        self.kid = kid or f"{alg.lower()}-{slot}"
        self.private_key = _private_key(alg, slot)

    def public_jwk(self, with_alg: bool = True) -> dict:
        algorithm = jwt.get_algorithm_by_name(self.alg)
        jwk = json.loads(algorithm.to_jwk(self.private_key.public_key()))
        jwk.update(kid=self.kid, use="sig")
        if with_alg:
            jwk["alg"] = self.alg
        return jwk

    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def token(self, claims: dict, **header) -> str:
        headers = {"typ": "JWT", "kid": self.kid, **header}
        headers = {k: v for k, v in headers.items() if v is not None}
        return jwt.encode(claims, self.private_key, algorithm=self.alg, headers=headers)


def jwks(*signers: Signer) -> dict:
    return {"keys": [s.public_jwk() for s in signers]}


def claims(iss: str = EPIC_ISS, aud: str = BASE + HOOK_PATH, *, lifetime: int = 300, **overrides) -> dict:
    now = int(time.time())
    body = {"iss": iss, "aud": aud, "iat": now, "exp": now + lifetime, "jti": str(uuid.uuid4())}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def epic_issuer(fhir_servers: tuple[str, ...] = ()) -> TrustedIssuer:
    return TrustedIssuer(issuer=EPIC_ISS, jwks_url=EPIC_JWKS, fhir_servers=fhir_servers)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
