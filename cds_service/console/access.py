"""Who may see the console: holders of the operator token (``IRON_CDS_CONSOLE_TOKEN``).

Scripts send ``Authorization: Bearer <token>``; people log in once through a
form that sets a signed, HTTP-only, same-site session cookie. The token has at
least 32 characters (checked at start). The cookie carries only a session id
kept in the store: logging out deletes it, so a copied cookie stops working at
once, on every worker. The cookie is signed with a key derived by HKDF-SHA256
from the token and a random salt made once per deployment and kept in the store,
so every worker and replica agrees, changing the token logs everyone out, and a
stolen cookie does not allow testing token guesses offline without the salt.
Failed logins (and wrong bearer tokens) make the next try from that address wait
longer each time (the first is free, then 1 s, 2 s, 4 s ... 15 min; per process, ``ops/rate_limit.py``).
"""

from __future__ import annotations

import hmac

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask, current_app, redirect, request, session, url_for

from cds_service.config import check_console_token
from cds_service.ops.rate_limit import GrowingDelay

SESSION_ID = "sid"
SESSION_LIFETIME = 8 * 3600
SALT_NAME = "console-cookie-salt"


def init_app(app: Flask, token: str | None, store) -> None:
    check_console_token(token)   # a Config built in code is held to the same rule as the environment's
    if token:
        app.secret_key = cookie_key(token, store.deployment_secret(SALT_NAME))
    app.config.update(
        SESSION_COOKIE_NAME="iron_cds_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=True,       # browsers still send it to http://localhost, never over plain http elsewhere
        SESSION_COOKIE_SAMESITE="Strict",  # no cross-site requests carry it (CSRF)
        SESSION_COOKIE_PATH="/console",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
    )


def cookie_key(token: str, salt_hex: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=bytes.fromhex(salt_hex),
                info=b"iron-cds console session cookie").derive(token.encode("utf-8"))


def configured_token() -> str | None:
    return current_app.extensions["iron_cds"].config.console_token


def token_matches(candidate: str | None) -> bool:
    token = configured_token()
    return bool(token and candidate and hmac.compare_digest(candidate.encode("utf-8"), token.encode("utf-8")))


def _store():
    return current_app.extensions["iron_cds"].store


def delays() -> GrowingDelay:
    extras = current_app.extensions["iron_cds"].extras
    found = extras.get("console_login_delay")
    return found if found is not None else extras.setdefault("console_login_delay", GrowingDelay())


def client_key() -> str:
    return request.remote_addr or "unknown"


def is_allowed() -> bool:
    """A right bearer token or a live session. A wrong bearer token counts as a failed login."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        if token_matches(header[7:].strip()):
            return True
        delays().failed(client_key())
        return False
    return _store().console_session_valid(session.get(SESSION_ID))


def wait_before_trying() -> int | None:
    """Seconds this address must still wait after failed logins (None: it may try now)."""
    return delays().wait(client_key())


def too_many_tries(wait: int):
    return current_app.response_class(f"too many failed logins: try again in {wait} s\n", status=429,
                                      mimetype="text/plain", headers={"Retry-After": str(wait)})


def wants_html() -> bool:
    best = request.accept_mimetypes.best_match(["text/html", "application/json", "text/csv"])
    return best == "text/html"


def refuse():
    """Browsers go to the login form; anything else gets a bare 401."""
    if wants_html() and request.method == "GET":
        return redirect(url_for("console.login", next=request.full_path.rstrip("?")))
    return current_app.response_class("unauthorized\n", status=401, mimetype="text/plain",
                                      headers={"WWW-Authenticate": 'Bearer realm="iron-cds console"'})


def log_in() -> None:
    delays().succeeded(client_key())
    _store().close_console_session(session.get(SESSION_ID))
    session.clear()
    session[SESSION_ID] = _store().open_console_session(SESSION_LIFETIME)
    session.permanent = True


def log_out() -> None:
    _store().close_console_session(session.get(SESSION_ID))   # the cookie, wherever it was copied, is dead now
    session.clear()


def safe_next(target: str | None) -> str:
    # Only our own console pages: never an open redirect.
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return url_for("console.overview")
