"""JSON errors everywhere: no stack trace and no 500 ever reaches a caller."""

from __future__ import annotations

import logging

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

log = logging.getLogger("iron_cds.errors")


class ApiError(Exception):
    """An error the caller should see: status code and a one-line reason."""

    def __init__(self, status: int, message: str, field: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


def error_response(status: int, message: str, field: str | None = None):
    body = {"error": message}
    if field:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    return response


def _misspelt_cds_path(path: str) -> bool:
    """``/cds-services/`` or ``/cds-services//id``: a client's base URL ended in a slash."""
    return "cds-services" in path and (path.endswith("/") or "//" in path)


def register(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError):
        response = error_response(exc.status, exc.message, exc.field)
        if exc.status == 401:
            # RFC 9110 15.5.2: a 401 must say which scheme is wanted. No realm, no error detail (BP: no reason).
            response.headers["WWW-Authenticate"] = "Bearer"
        return response

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if exc.code == 401:
            response = error_response(401, "unauthorized")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        messages = {
            404: "not found",
            405: "method not allowed",
            413: "request body too large",
            415: "unsupported media type",
        }
        status = exc.code or 400
        if status >= 500:
            status = 400
        if status == 404 and _misspelt_cds_path(request.path):
            return error_response(404, "not found: CDS Hooks URLs have no trailing slash and no empty segment "
                                       "(discovery: /cds-services; a service: /cds-services/{id})")
        return error_response(status, messages.get(status, exc.description or "bad request"))

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        # A bug or an input we did not foresee. The caller gets a JSON answer it can
        # log against the hookInstance; we keep the traceback (without request data).
        hook_instance = getattr(g, "hook_instance", None)
        log.exception("unexpected error", extra={"hookInstance": hook_instance, "event": "unexpected-error"})
        message = "the service could not process this request"
        if hook_instance:
            message += f" (hookInstance {hook_instance})"
        return error_response(400, message)
