"""Request validation (placeholder: the marshmallow schemas replace this)."""

from __future__ import annotations

from .errors import ApiError


def read_json_body(request, config) -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return data


def load_hook_request(body: dict, config) -> dict:
    for name in ("hook", "hookInstance", "context"):
        if name not in body:
            raise ApiError(400, f"missing required field {name!r}", field=name)
    return body
