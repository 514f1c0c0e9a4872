"""The CDS service as ``iron-cds fire`` reaches it: in-process (``create_app()`` from the environment,
through Flask's test client) or over HTTP; each call signed with a fresh JWT when a key is given."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from cds_service.ehr.client_jwt import SigningKey, sign
from cds_service.ehr.unreachable import why_unreachable


class FireError(Exception):
    """Something the user can fix; the message is one line."""


class _Service:
    def __init__(self, key: SigningKey | None, issuer: str | None, jku: str | None):
        self.key, self.issuer, self.jku = key, issuer, jku

    def _headers(self, audience: str) -> dict:
        headers = {"Accept": "application/json"}
        if self.key is not None:
            headers["Authorization"] = f"Bearer {sign(self.key, self.issuer, audience, jku=self.jku)}"
        return headers


class InProcessService(_Service):
    """``create_app()`` configured from the environment, called through Flask's test client."""

    def __init__(self, key, issuer, jku):
        super().__init__(key, issuer, jku)
        from cds_service.app import create_app

        app = create_app()
        self.config = app.extensions["iron_cds"].config
        self.client = app.test_client()
        self.base = self.config.public_base_url or "http://localhost"
        self.label = "the in-process service"

    def get(self, path: str):
        response = self.client.get(path, headers=self._headers(self.base + path))
        return response.status_code, response.get_json(silent=True)

    def post(self, path: str, body: dict):
        response = self.client.post(path, json=body, headers=self._headers(self.base + path))
        return response.status_code, response.get_json(silent=True)


class HttpService(_Service):
    def __init__(self, base: str, key, issuer, jku, timeout: float):
        super().__init__(key, issuer, jku)
        self.base = base.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.label = f"service {self.base}"

    def _send(self, method: str, path: str, body: dict | None = None):
        url = self.base + path
        try:
            response = self.session.request(method, url, json=body, headers=self._headers(url), timeout=self.timeout)
        except requests.Timeout:
            raise FireError(f"service {self.base} did not answer within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            raise FireError(f"cannot reach service {self.base}: {why_unreachable(exc)}") from None
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, None

    def get(self, path: str):
        return self._send("GET", path)

    def post(self, path: str, body: dict):
        return self._send("POST", path, body)


def service_target(service: str | None) -> tuple[str | None, str | None]:
    """``--service`` may be the base URL or a service's own URL (…/cds-services/{id})."""
    if service is None:
        return None, None
    if not service.startswith(("http://", "https://")) or not urlsplit(service).netloc:
        raise FireError(f"--service must be an http(s) URL, not {service!r}")
    base, marker, rest = service.rstrip("/").partition("/cds-services")
    service_id = (rest.strip("/") or None) if marker else None
    return base, service_id


def status_error(service, what: str, status: int, body) -> FireError:
    reason = body.get("error") if isinstance(body, dict) and isinstance(body.get("error"), str) else ""
    hint = ""
    if status == 401:
        hint = (" (it wants a signed JWT: pass --sign-key FILE --issuer ISS, "
                "or run the service with IRON_CDS_AUTH=off locally)")
    return FireError(f"{service.label} answered HTTP {status} to {what}{': ' + reason if reason else ''}{hint}")


def choose_service(services: list, hook: str, wanted_id: str | None, label: str) -> dict:
    for entry in services:
        if isinstance(entry,
                      dict) and entry.get("hook") == hook and (wanted_id is None or entry.get("id") == wanted_id):
            return entry
    which = f" {wanted_id!r}" if wanted_id else ""
    raise FireError(f"{label} offers no{which} service for hook {hook}")
