"""Resolve a CDS service's prefetch templates the way an EHR does: against a FHIR server or a Bundle.

Used by ``iron-cds fire`` (which plays the EHR) and by the tests. Only CDS Hooks 2.0 tokens are
filled; a template with any other token is left out of the prefetch (an EHR may skip keys), never
sent half-resolved, because a search without its patient filter returns other patients' data.

Against a Bundle we evaluate exactly the search features our templates use (``bundle_search``);
a template with anything else is left out with a warning rather than answered with more (or less)
than a server would return.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import requests

from cds_service.ehr.bundle_search import UnsupportedSearch, search_bundle
from cds_service.ehr.unreachable import why_unreachable
from cds_service.fhir import templates
from cds_service.fhir.paging import Ending, Paged, follow_pages
from cds_service.fhir.payload import Failure, next_link
from cds_service.fhir.urls import Refused, log_refusal, parse_base

log = logging.getLogger("iron_cds.fire")

_MAX_PAGES = 10


class PrefetchError(Exception):
    """Patient data could not be fetched at all (the message is one line for the user)."""


class PatientNotFound(PrefetchError):
    pass


def token_values(patient_id: str, user_id: str | None = None, encounter_id: str | None = None) -> dict[str, str]:
    """Every CDS Hooks 2.0 token the order-select / order-sign context can fill."""
    return templates.token_values({"patientId": patient_id, "userId": user_id, "encounterId": encounter_id})


def fill_template(template: str, values: dict[str, str]) -> str | None:
    """The template with its tokens replaced (percent-encoded), or None if a token is unknown here."""
    return templates.fill(template, values).url


# --- where the data comes from ----------------------------------------------------------------


class FhirServerSource:
    """Reads and searches on a FHIR server, with the bearer token when one is given."""

    def __init__(self, base_url: str, bearer_token: str | None = None, timeout: float = 10.0,
                 session: requests.Session | None = None):
        self.base = parse_base(base_url)
        if self.base is None:
            raise PrefetchError(f"--fhir-server must be a plain http(s) URL (no user info, query or fragment), "
                                f"not {base_url!r}")
        self.base_url = self.base.url
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers["Accept"] = "application/fhir+json"
        if bearer_token:
            self.session.headers["Authorization"] = f"Bearer {bearer_token}"

    def _url(self, relative: str) -> str:
        try:
            return self.base.join(relative)
        except Refused as refused:
            raise PrefetchError(f"refusing a URL outside FHIR server {self.base_url} ({refused.reason})") from None

    def _get(self, url: str) -> requests.Response:
        if not self.base.owns(url):   # the token goes to the FHIR server and nowhere else
            raise PrefetchError(f"refusing to send the token outside FHIR server {self.base_url}")
        try:
            return self.session.get(url, timeout=self.timeout)
        except requests.Timeout:
            raise PrefetchError(f"FHIR server {self.base_url} did not answer within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            raise PrefetchError(f"cannot reach FHIR server {self.base_url}: {why_unreachable(exc)}") from None

    def check_patient(self, patient_id: str) -> dict:
        response = self._get(self._url(f"Patient/{quote(patient_id, safe='')}"))
        if response.status_code in (404, 410):
            raise PatientNotFound(
                f"patient {patient_id!r} not found on FHIR server {self.base_url} (HTTP {response.status_code})")
        if response.status_code in (401, 403):
            raise PrefetchError(
                f"FHIR server {self.base_url} refused access (HTTP {response.status_code}); check --bearer-token")
        body = _json_or_none(response)
        if response.status_code != 200 or not isinstance(body, dict) or body.get("resourceType") != "Patient":
            raise PrefetchError(
                f"FHIR server {self.base_url} gave no Patient for {patient_id!r} (HTTP {response.status_code})")
        return body

    def fetch(self, relative_url: str) -> dict | None:
        """The result for one filled template: a resource, a Bundle, None (read found nothing)."""
        response = self._get(self._url(relative_url))
        is_read = "?" not in relative_url
        if is_read and response.status_code in (404, 410):
            return None
        body = _json_or_none(response)
        if response.status_code != 200 or not isinstance(body, dict):
            # What a careful EHR passes on: an OperationOutcome, which tells the service to try itself.
            if isinstance(body, dict) and body.get("resourceType") == "OperationOutcome":
                return body
            return _outcome(f"FHIR server answered HTTP {response.status_code}")
        if is_read or body.get("resourceType") != "Bundle":
            return body
        # _count is the page size the service asked for (e.g. "latest weight only"): return that page.
        # Without _count, a server's default page may cut the list short: follow `next` (bounded).
        if "_count" not in dict(parse_qsl(urlsplit(relative_url).query)):
            body = self._follow_next(body, response.url, relative_url.split("?", 1)[0])
        return body

    def _follow_next(self, bundle: dict, page_url: str, what: str) -> dict:
        paged = follow_pages(self._next_page, self.base, max_pages=_MAX_PAGES, url=page_url,
                             first=_BundlePage(bundle))
        if paged.ending is not Ending.COMPLETE:
            _say_cut_short(paged, what)
        merged = {key: value for key, value in bundle.items() if key != "link"}
        merged["entry"] = [entry for page in paged.pages for entry in page.entries]
        return merged

    def _next_page(self, url: str) -> _BundlePage | Failure:
        page = _json_or_none(self._get(url))   # a PrefetchError (no answer) ends the whole fire
        if not isinstance(page, dict) or page.get("resourceType") != "Bundle":
            return Failure("not-fhir", "not a Bundle")
        return _BundlePage(page)


@dataclass
class _BundlePage:
    """A searchset page as the EHR passes it on: its entries verbatim."""

    bundle: dict

    @property
    def entries(self) -> list:
        return list(self.bundle.get("entry") or [])

    @property
    def next_url(self) -> str | None:
        return next_link(self.bundle)


def _say_cut_short(paged: Paged, what: str) -> None:
    """An EHR sends what it could read; this one also says where it stopped."""
    if paged.ending is Ending.REFUSED_LINK:
        # The same check as the service's own reads: the token must stay on this server.
        log_refusal(paged.refused, "fire-next-page")
        why = f"next page not followed ({paged.refused.reason})"
    elif paged.ending is Ending.PAGE_LIMIT:
        why = f"stopped after {_MAX_PAGES} pages"
    else:   # FAILED_PAGE: fire sets no deadline
        why = f"page {paged.unread_page} was not a Bundle"
    log.warning("%s search: %s; sending the %d page(s) read", what, why, len(paged.pages))


class BundleSource:
    """A patient's data as a Bundle (transaction, collection or searchset), searched in memory."""

    def __init__(self, bundle: dict):
        self.resources: list[dict] = [
            entry["resource"]
            for entry in bundle.get("entry") or []
            if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
        ]

    def patient_ids(self) -> list[str]:
        return [r["id"] for r in self.resources if r.get("resourceType") == "Patient" and r.get("id")]

    def check_patient(self, patient_id: str) -> dict:
        found = self.read("Patient", patient_id)
        if found is None:
            raise PatientNotFound(f"patient {patient_id!r} is not in the patient bundle")
        return found

    def read(self, resource_type: str, rid: str) -> dict | None:
        return next((r for r in self.resources if r.get("resourceType") == resource_type and r.get("id") == rid), None)

    def fetch(self, relative_url: str) -> dict | None:
        path, _, query = relative_url.partition("?")
        parts = [p for p in path.split("/") if p]
        if len(parts) == 2 and not query:
            return self.read(parts[0], unquote(parts[1]))
        if len(parts) != 1:
            raise UnsupportedSearch(f"cannot evaluate {path!r} against a bundle")
        return search_bundle(self.resources, parts[0], parse_qsl(query, keep_blank_values=True))


# --- the EHR's job ------------------------------------------------------------------------------


@dataclass
class PrefetchResult:
    prefetch: dict[str, dict | None] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)      # key -> why it was left out


def resolve_prefetch(templates: dict[str, str], values: dict[str, str], source,
                     only: Iterable[str] | None = None) -> PrefetchResult:
    """Fill and run each template (or only the keys in ``only``); a key we cannot satisfy is omitted."""
    result = PrefetchResult()
    wanted = None if only is None else set(only)
    for key, template in templates.items():
        if wanted is not None and key not in wanted:
            continue
        url = fill_template(template, values)
        if url is None:
            result.skipped[key] = "template uses a token this request cannot fill"
            continue
        try:
            result.prefetch[key] = source.fetch(url)
        except UnsupportedSearch as exc:
            result.skipped[key] = str(exc)
    return result


def _json_or_none(response: requests.Response):
    try:
        return response.json()
    except ValueError:
        return None


def _outcome(text: str) -> dict:
    return {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "exception",
                                                           "diagnostics": text}]}
