"""CORS for browser-based CDS clients (the CDS Hooks sandbox, EHR web UIs) on ``/cds-services*``.

The headers are exactly those flask-cors 6 gave with our one configuration (tests/unit/cds_hooks/
test_cors_equivalence.py compares the two over a table of configurations and requests), decided
with what is known at start-up: flask-cors re-resolved its options, built two MultiDicts and raised
and caught a KeyError for each absent header on every response, a few per cent of a hook call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

from flask import Flask, Response, request

ALLOW_ORIGIN = "Access-Control-Allow-Origin"
PRIVATE_NETWORK_ASKED = "HTTP_ACCESS_CONTROL_REQUEST_PRIVATE_NETWORK"
RESOURCE_PREFIX = "/cds-service"   # what flask-cors's resource pattern "/cds-services*" matches, from the start
ALLOWED_HEADERS = frozenset(name.casefold() for name in ("Authorization", "Content-Type"))
METHODS = "GET, OPTIONS, POST"
MAX_AGE = "600"   # seconds a browser may keep a preflight answer
# flask-cors reads an origin holding any of these as a regular expression (matched from the start, any case)
_REGEX_HINTS = frozenset("*\\]?$^[]()")


class CorsPolicy:
    """Which origins may read our answers, and the headers that say so for one request."""

    def __init__(self, origins: Iterable[str]):
        patterns = [".*" if origin == "*" else origin for origin in origins]
        self.any_origin = ".*" in patterns
        self.count = len(patterns)
        literals = [p for p in patterns if _REGEX_HINTS.isdisjoint(p)]
        self.first_literal = min(literals, default=None)
        self.folded_literals = frozenset(p.casefold() for p in literals)
        try:
            self.regexes = [re.compile(p, re.IGNORECASE) for p in patterns if not _REGEX_HINTS.isdisjoint(p)]
        except re.error as exc:
            raise ValueError(f"Invalid regular expression in the CORS origins: {exc.pattern!r}") from exc

    def allows(self, origin: str) -> bool:
        return origin.casefold() in self.folded_literals or any(regex.match(origin) for regex in self.regexes)

    def headers(self, environ: dict, method: str) -> list[tuple[str, str]]:
        """The CORS response headers for a request to ``/cds-services*``, in flask-cors's order."""
        origin = environ.get("HTTP_ORIGIN")
        if origin:
            if not self.allows(origin):
                return []
            sent = origin
        elif self.any_origin:      # no Origin: not a browser; answering "*" is harmless and what flask-cors did
            sent = "*"
        elif self.first_literal:   # flask-cors named every listed origin, of which only the first was sent
            sent = self.first_literal
        else:
            return []
        headers = [(ALLOW_ORIGIN, sent)]
        if environ.get(PRIVATE_NETWORK_ASKED) == "true":
            headers.append(("Access-Control-Allow-Private-Network", "false"))
        if method == "OPTIONS":
            headers += _preflight_headers(environ)
        if sent != "*" and (self.count > 1 or self.regexes):   # the answer could have been another origin
            headers.append(("Vary", "Origin"))
        return headers


def _preflight_headers(environ: dict) -> list[tuple[str, str]]:
    asked = environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD", "").upper()
    if not asked or asked not in METHODS:   # a substring test, as flask-cors made it
        return []
    headers = []
    allowed = _allowed_request_headers(environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS"))
    if allowed:
        headers.append(("Access-Control-Allow-Headers", allowed))
    return headers + [("Access-Control-Max-Age", MAX_AGE), ("Access-Control-Allow-Methods", METHODS)]


def _allowed_request_headers(asked: str | None) -> str | None:
    if not asked:
        return None
    names = (name.strip() for name in asked.split(","))
    return ", ".join(sorted(name for name in names if name.casefold() in ALLOWED_HEADERS))


def _already_set(response: Response) -> bool:
    """``response.headers.get(ALLOW_ORIGIN)`` is truthy, without the KeyError raised inside when it is absent."""
    wanted = ALLOW_ORIGIN.lower()
    return bool(next((value for key, value in response.headers if key.lower() == wanted), None))


def init_app(app: Flask, origins: Iterable[str]) -> None:
    """Answer CORS on ``/cds-services*``: every response there (errors too) carries the headers."""
    policy = CorsPolicy(origins)

    @app.after_request
    def _add_cors_headers(response: Response) -> Response:
        if not unquote(request.path).startswith(RESOURCE_PREFIX) or _already_set(response):
            return response
        for key, value in policy.headers(request.environ, request.method):
            response.headers.add(key, value)
        return response
