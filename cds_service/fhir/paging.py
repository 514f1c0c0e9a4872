"""Following a searchset Bundle's ``next`` links: the one loop, for the service's reads and ``iron-cds fire``.

A link is followed only when ``fhir.urls.resolve_link`` puts it on fhirServer (the access token
goes nowhere else), only to a page not read yet (a server that links back ends the search), and
only while the page limit and the caller's deadline allow. The loop keeps every page it read and
says how it ended; what a partial result means is the caller's call (the service marks the key,
``fire`` sends what it has and says so).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Callable, Generic, Protocol, TypeVar

from cds_service.fhir.payload import Failure
from cds_service.fhir.urls import Base, Refused, resolve_link


class Linked(Protocol):
    next_url: str | None   # the page's unchecked ``next`` link (``fhir.payload.next_link``)


P = TypeVar("P", bound=Linked)


class Ending(Enum):
    COMPLETE = "complete"          # no next link, or one back to a page already read
    PAGE_LIMIT = "page-limit"      # max_pages read, and the last one links to more
    DEADLINE = "deadline"          # ``stop()`` said so before the next page was asked for
    REFUSED_LINK = "refused-link"  # the next link leaves fhirServer: not followed
    FAILED_PAGE = "failed-page"    # ``fetch`` gave a Failure for a page


@dataclass
class Paged(Generic[P]):
    pages: list[P] = field(default_factory=list)   # every page read, in order
    ending: Ending = Ending.COMPLETE
    failure: Failure | None = None                 # FAILED_PAGE: what the page gave instead
    refused: Refused | None = None                 # REFUSED_LINK: why (log it with ``log_refusal``)

    @property
    def unread_page(self) -> int:
        """The number (from 1) of the page the loop stopped before: the one that failed or was not asked for."""
        return len(self.pages) + 1


def follow_pages(fetch: Callable[[str], P | Failure], base: Base, *, max_pages: int, url: str | None = None,
                 first: P | None = None, stop: Callable[[], bool] | None = None) -> Paged[P]:
    """Read a search's pages: ``first`` (already fetched from ``url``) or else ``fetch(url)``, then
    each ``next`` link, up to ``max_pages`` pages in all.

    ``url`` is where the first page came from (relative links are read against it; None: against
    ``base``). ``stop()`` is asked before each request; ``fetch`` may raise, and that passes through.
    """
    if first is None and url is None:
        raise ValueError("follow_pages needs a first page or its URL")
    paged: Paged[P] = Paged()
    seen = {url} if url else set()
    page = first
    while True:
        if page is None:
            if stop is not None and stop():
                paged.ending = Ending.DEADLINE
                return paged
            page = fetch(url)
            if isinstance(page, Failure):
                paged.ending, paged.failure = Ending.FAILED_PAGE, page
                return paged
        paged.pages.append(page)
        if not page.next_url:
            return paged
        try:
            next_url = resolve_link(page.next_url, base, page_url=url)
        except Refused as refused:
            paged.ending, paged.refused = Ending.REFUSED_LINK, refused
            return paged
        if next_url in seen:
            return paged   # a page already read: nothing more to read
        if len(paged.pages) >= max_pages:
            paged.ending = Ending.PAGE_LIMIT
            return paged
        seen.add(next_url)
        url, page = next_url, None
