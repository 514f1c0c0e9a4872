"""The public keys of the CDS clients we trust, cached per issuer and selected by ``kid``.

Keys come only from what the operator configured for an issuer: a JWKS URL or a
local JWKS file. A token may *name* a key set (``jku``) but never makes us fetch
one: the verifier only compares that name with the configured URL.

Each issuer's set is fetched lazily, kept for ``max_age`` seconds, and fetched
again early when a token names a ``kid`` we do not know (key rotation). That
early refresh is rate-limited per issuer, so a stream of tokens with made-up
``kid``s cannot turn us into a request amplifier against the client's key URL.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Callable

import requests

from cds_service.config import ConfigError, TrustedIssuer
from cds_service.trust.deadline_get import FetchFailed, deadline_get, guarded_session

log = logging.getLogger("iron_cds.auth")

MAX_JWKS_BYTES = 512 * 1024   # a real key set is a few kB; refuse to buffer anything huge
DEFAULT_MAX_AGE = 3600.0
DEFAULT_MIN_REFRESH_INTERVAL = 60.0
DEFAULT_TIMEOUT = 3.0          # seconds for a whole fetch: connect, headers and body


class JwksError(Exception):
    """The key set could not be read or is not a JWKS."""


def parse_jwks(data: object) -> dict[str, dict]:
    """Signature keys of a JWKS document, by ``kid``. Keys without ``kid`` or for encryption are skipped."""
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise JwksError("not a JWK Set (no 'keys' list)")
    keys: dict[str, dict] = {}
    for jwk in data["keys"]:
        if not isinstance(jwk, dict):
            continue
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            continue   # CDS Hooks requires kid in the token header: a key without one can never be selected
        if jwk.get("use") not in (None, "sig"):
            continue
        if jwk.get("kty") not in ("RSA", "EC"):
            continue   # only asymmetric keys; an "oct" (shared secret) key must never verify anything
        if any(name in jwk for name in ("d", "p", "q", "dp", "dq", "qi")):
            # a private key published by mistake: use only its public half
            jwk = {k: v for k, v in jwk.items() if k not in ("d", "p", "q", "dp", "dq", "qi", "oth")}
        keys[kid] = jwk
    return keys


def read_jwks_file(path: str) -> dict[str, dict]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise JwksError(f"cannot read JWKS file {path!r}: {exc.__class__.__name__}") from None
    return parse_jwks(data)


class _Flight:
    """One fetch in progress; everyone who needs it waits on ``done``, at most until ``deadline``."""

    def __init__(self, deadline: float):
        self.deadline = deadline   # time.monotonic()
        self.done = threading.Event()


class IssuerKeys:
    """The cached key set of one trusted issuer (thread-safe; one per process).

    The lock guards only this issuer's state and is never held across the network: one
    fetch runs at a time in a thread of its own (single flight), callers that need it wait
    for it at most until its deadline, and callers for other issuers never wait at all.
    The next attempt is allowed ``min_refresh_interval`` after the END of the last one, so a
    slow key server cannot be asked again while (or right after) it trickles.
    """

    def __init__(
        self,
        issuer: TrustedIssuer,
        session: requests.Session | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_age: float = DEFAULT_MAX_AGE,
        min_refresh_interval: float = DEFAULT_MIN_REFRESH_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.issuer = issuer
        self._session = session or guarded_session()
        self._timeout = timeout                    # total deadline of one fetch
        self._max_age = max_age
        self._min_refresh_interval = min_refresh_interval
        self._clock = clock                        # for cache age and rate limit (tests move it)
        self._lock = threading.Lock()
        self._keys: dict[str, dict] = {}
        self._loaded_at: float | None = None       # last successful load
        self._attempt_ended_at: float | None = None
        self._flight: _Flight | None = None
        self.fetch_count = 0

    @property
    def loaded(self) -> bool:
        return self._loaded_at is not None

    @property
    def fetching(self) -> bool:
        """Whether a fetch is in flight (it may outlive its waiters by the moment it takes to unwind)."""
        with self._lock:
            return self._flight is not None

    def get(self, kid: str) -> dict | None:
        """The JWK with this ``kid``, or None when the issuer has no such key (or none could be had in time)."""
        with self._lock:
            now = self._clock()
            key = self._keys.get(kid)
            stale = self._loaded_at is None or now - self._loaded_at >= self._max_age
            flight = self._flight
            if (stale or key is None) and flight is None and self._may_attempt(now):
                flight = self._start_flight()
        if flight is None or not (stale or key is None):
            return key
        flight.done.wait(max(0.0, flight.deadline - time.monotonic()))
        with self._lock:
            return self._keys.get(kid)

    def _may_attempt(self, now: float) -> bool:
        if self._attempt_ended_at is None:
            return True
        return now - self._attempt_ended_at >= self._min_refresh_interval

    def _start_flight(self) -> _Flight:
        """Called with the lock held."""
        flight = _Flight(time.monotonic() + self._timeout)
        self._flight = flight
        threading.Thread(target=self._fly, args=(flight,), name="jwks-fetch", daemon=True).start()
        return flight

    def _fly(self, flight: _Flight) -> None:
        keys, reason = None, None
        try:
            keys = self._read()
        except JwksError as exc:
            reason = str(exc)
        except Exception as exc:   # noqa: BLE001  (a bug here must not leave waiters without an answer)
            reason = type(exc).__name__
        with self._lock:
            now = self._clock()
            self._attempt_ended_at = now
            if keys is not None:
                self._keys = keys
                self._loaded_at = now
            self._flight = None
        flight.done.set()
        if keys is None:
            # Keep serving the keys we had: an outage of the client's key URL should not
            # lock it out until the next attempt, which the rate limit spaces out.
            log.warning("JWKS could not be loaded",
                        extra={"event": "jwks-load-failed", "iss": self.issuer.issuer, "reason": reason})
        else:
            log.info("JWKS loaded", extra={"event": "jwks-loaded", "iss": self.issuer.issuer, "kids": sorted(keys)})

    def _read(self) -> dict[str, dict]:
        if self.issuer.jwks_file:
            return read_jwks_file(self.issuer.jwks_file)
        if not self.issuer.jwks_url:
            raise JwksError("no JWKS URL or file configured")
        self.fetch_count += 1
        try:
            body = deadline_get(self._session, self.issuer.jwks_url, seconds=self._timeout,
                                max_bytes=MAX_JWKS_BYTES,
                                headers={"Accept": "application/json, application/jwk-set+json"})
        except FetchFailed as exc:
            raise JwksError(str(exc)) from None
        try:
            return parse_jwks(json.loads(body))
        except ValueError:
            raise JwksError("not JSON") from None


class KeyRegistry:
    """All trusted issuers' key caches, built once per process."""

    def __init__(self, issuers: dict[str, TrustedIssuer], session: requests.Session | None = None, **options):
        session = session or guarded_session()
        self._by_issuer = {iss: IssuerKeys(spec, session, **options) for iss, spec in issuers.items()}

    def key(self, issuer: str, kid: str) -> dict | None:
        keys = self._by_issuer.get(issuer)
        return keys.get(kid) if keys else None

    def has_keys(self, issuer: str) -> bool:
        """Whether the issuer's key set was ever loaded (tells 'unknown kid' from 'key set unreachable')."""
        keys = self._by_issuer.get(issuer)
        return bool(keys and keys.loaded)

    def check_files(self) -> None:
        """Fail at start-up, not at the first call, when a configured JWKS file is unusable."""
        for keys in self._by_issuer.values():
            path = keys.issuer.jwks_file
            if path:
                try:
                    found = read_jwks_file(path)
                except JwksError as exc:
                    raise ConfigError(f"trusted issuer {keys.issuer.issuer!r}: {exc}") from None
                if not found:
                    raise ConfigError(
                        f"trusted issuer {keys.issuer.issuer!r}: JWKS file {path!r} "
                        "holds no RSA/EC signing key with a kid"
                    )
