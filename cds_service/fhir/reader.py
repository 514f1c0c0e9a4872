"""Fallback FHIR reads over HTTP: one pooled session per process, bounded in time, on fhirServer only.

The EHR's access token goes to ``fhirServer`` and nowhere else: every URL (the
first one and each Bundle ``next`` link, which ``fhir.paging`` follows) is checked
by ``fhir.urls`` against the base before a request is made, redirects are not
followed, and no cookie is kept between calls (one session serves many users and
patients).
"""

from __future__ import annotations

import http.cookiejar
import os
import threading
import time
from dataclasses import dataclass, field

import orjson
import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError

from cds_service.fhir.paging import Ending, follow_pages
from cds_service.fhir.payload import Failure, Obtained, interpret
from cds_service.fhir.urls import Base, log_refusal

ACCEPT = "application/fhir+json, application/json;q=0.9"
MAX_BODY_BYTES = 20 * 1024 * 1024   # far above a narrow search's answer; stops a runaway response
_CHUNK = 64 * 1024
_session_lock = threading.Lock()


def shared_session(extras: dict) -> requests.Session:
    """The process's pooled session, created on first use.

    Keyed by process id: a session made before gunicorn forks must not share
    its sockets with the workers, so each worker builds its own.
    """
    held = extras.get("fhir_session_owner")
    if held is None or held[0] != os.getpid():
        with _session_lock:
            held = extras.get("fhir_session_owner")
            if held is None or held[0] != os.getpid():
                held = (os.getpid(), _new_session())
                extras["fhir_session_owner"] = held
                extras["fhir_session"] = held[1]
    return held[1]


def _new_session() -> requests.Session:
    session = requests.Session()
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))  # accept no cookie
    # All reads of one hook call go to the same host at once: the pool must hold them all.
    adapter = HTTPAdapter(pool_connections=8, pool_maxsize=32, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _keep_headers(request):
    """An explicit no-op auth: stops requests from adding ~/.netrc credentials over our header."""
    return request


@dataclass
class ReadResult:
    resources: list[dict] = field(default_factory=list)
    skipped: int = 0
    failure: Failure | None = None     # None: every page read
    incomplete: str | None = None      # read fine, but we stopped before the last page (and why)
    seconds: float = 0.0


@dataclass(frozen=True)
class ReadLimits:
    timeout: float       # seconds for each request (connect, then reading the answer)
    deadline: float      # time.monotonic() by which the whole phase is over
    max_pages: int


def read_paged(session: requests.Session, url: str, base: Base, token: str | None, limits: ReadLimits) -> ReadResult:
    """Read ``url`` and follow ``next`` links that stay on ``base``, up to ``limits.max_pages`` pages."""
    started = time.monotonic()
    paged = follow_pages(lambda page_url: _read_page(session, page_url, base, token, limits), base,
                         url=url, max_pages=limits.max_pages, stop=lambda: time.monotonic() >= limits.deadline)
    result = ReadResult(resources=[r for page in paged.pages for r in page.resources],
                        skipped=sum(page.skipped for page in paged.pages))
    if paged.ending in (Ending.FAILED_PAGE, Ending.DEADLINE):
        # Keep what earlier pages gave (a reaction found there is still true), but say the key failed.
        failure = paged.failure or _past_deadline(limits)
        reason = failure.reason if paged.unread_page == 1 else f"page {paged.unread_page}: {failure.reason}"
        result.failure = Failure(failure.outcome, reason)
    elif paged.ending is Ending.REFUSED_LINK:
        log_refusal(paged.refused, "next-page")
        result.incomplete = f"next page not followed: {paged.refused.reason}"
    elif paged.ending is Ending.PAGE_LIMIT:
        result.incomplete = f"stopped after {limits.max_pages} pages"
    result.seconds = time.monotonic() - started
    return result


def _past_deadline(limits: ReadLimits) -> Failure:
    return Failure("deadline", f"timeout after {limits.timeout:g}s")


def _read_page(session, url: str, base: Base, token: str | None, limits: ReadLimits) -> Obtained | Failure:
    if not base.owns(url):
        # Defence in depth: callers check too. The token never leaves fhirServer.
        return Failure("error", "URL outside fhirServer refused")
    now = time.monotonic()
    budget = min(limits.timeout, limits.deadline - now)
    if budget <= 0:   # the deadline passed since ``follow_pages`` asked
        return _past_deadline(limits)
    headers = {"Accept": ACCEPT}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with session.get(url, headers=headers, timeout=(budget, budget), stream=True,
                         allow_redirects=False, auth=_keep_headers) as response:
            if response.status_code == 204 or not 200 <= response.status_code < 300:
                return Failure("http-error", f"HTTP {response.status_code}")
            body = _read_body(response, now + budget, limits.timeout)
    except requests.Timeout:
        return Failure("timeout", f"timeout after {limits.timeout:g}s")
    except requests.ConnectionError as exc:
        # requests reports a read timeout while streaming the body as a ConnectionError.
        if any(isinstance(arg, ReadTimeoutError) for arg in exc.args):
            return Failure("timeout", f"timeout after {limits.timeout:g}s")
        return Failure("connection-error", "connection failed")
    except ReadTimeoutError:   # urllib3's own, raised while we read the body
        return Failure("timeout", f"timeout after {limits.timeout:g}s")
    except (urllib3.exceptions.ProtocolError, urllib3.exceptions.SSLError, OSError):
        return Failure("connection-error", "connection failed")
    except (requests.RequestException, urllib3.exceptions.HTTPError):
        # Messages of these exceptions quote the URL (and so the patient id): never pass them on.
        return Failure("error", "request failed")
    if isinstance(body, Failure):
        return body
    try:
        data = orjson.loads(body)   # strict JSON, ~3x faster than json.loads on a page of Observations
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc).lower():
            return Failure("not-fhir", "JSON nested too deeply")
        return Failure("not-json", "not JSON")
    return interpret(data)


def _read_body(response: requests.Response, page_deadline: float, timeout: float) -> bytes | Failure:
    """The body, unless it grows past MAX_BODY_BYTES or trickles in past the page's time.

    ``read1`` returns whatever has arrived, so a server sending a byte at a time
    (each within the socket timeout) is still stopped at the page's deadline.
    """
    raw = response.raw
    read1 = getattr(raw, "read1", None)
    if read1 is None:   # urllib3 < 2.2: fall back to whole chunks
        pieces = response.iter_content(_CHUNK)
    else:
        pieces = iter(lambda: read1(_CHUNK, decode_content=True), b"")
    chunks: list[bytes] = []
    size = 0
    for chunk in pieces:
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return Failure("error", "response too large")
        if time.monotonic() > page_deadline:
            return Failure("timeout", f"timeout after {timeout:g}s")
        chunks.append(chunk)
    return b"".join(chunks)
