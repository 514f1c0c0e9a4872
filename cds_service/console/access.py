"""Who may see the console: holders of the operator token (``IRON_CDS_CONSOLE_TOKEN``).

Scripts send ``Authorization: Bearer <token>``; people log in once through a
form that sets a signed, HTTP-only, same-site session cookie. The cookie only
says "this browser presented the token"; it is signed with a key derived from
the token, so every worker and replica agrees without more configuration, and
changing the token logs everyone out.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Flask, current_app, redirect, request, session, url_for

SESSION_FLAG = "console_ok"


def init_app(app: Flask, token: str | None) -> None:
    if token:
        app.secret_key = hashlib.sha256(b"iron-cds-console\x00" + token.encode("utf-8")).hexdigest()
    app.config.update(
        SESSION_COOKIE_NAME="iron_cds_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=True,       # browsers still send it to http://localhost, never over plain http elsewhere
        SESSION_COOKIE_SAMESITE="Strict",  # no cross-site requests carry it (CSRF)
        SESSION_COOKIE_PATH="/console",
        PERMANENT_SESSION_LIFETIME=8 * 3600,
    )


def configured_token() -> str | None:
    return current_app.extensions["iron_cds"].config.console_token


def token_matches(candidate: str | None) -> bool:
    token = configured_token()
    return bool(token and candidate and hmac.compare_digest(candidate.encode("utf-8"), token.encode("utf-8")))


def is_allowed() -> bool:
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer " and token_matches(header[7:].strip()):
        return True
    return session.get(SESSION_FLAG) is True


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
    session.clear()
    session[SESSION_FLAG] = True
    session.permanent = True


def log_out() -> None:
    session.clear()


def safe_next(target: str | None) -> str:
    # Only our own console pages: never an open redirect.
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return url_for("console.overview")
