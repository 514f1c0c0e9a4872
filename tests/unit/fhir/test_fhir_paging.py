"""follow_pages: the one loop over Bundle ``next`` links (pages from a dict), and how the service's reader uses it."""

from __future__ import annotations

import json

import pytest
import responses

from cds_service.fhir import reader
from cds_service.fhir.paging import Ending, follow_pages
from cds_service.fhir.payload import Failure, Obtained
from cds_service.fhir.urls import parse_base

BASE = parse_base("https://fhir.example.org/r4")
FIRST = "https://fhir.example.org/r4/Observation?patient=p1"


def chain(count: int) -> dict[str, Obtained]:
    """``count`` pages, each linking to the next by absolute URL; the last links nowhere."""
    urls = [FIRST] + [f"https://fhir.example.org/r4/Observation?page={n}" for n in range(2, count + 1)]
    return {url: Obtained([{"resourceType": "Observation", "id": f"o{n}"}], next_url=urls[n] if n < count else None)
            for n, url in enumerate(urls, start=1)}


class Server:
    """A fake ``fetch``: answers from ``pages``, records every URL asked for."""

    def __init__(self, pages: dict):
        self.pages = pages
        self.asked: list[str] = []

    def __call__(self, url: str):
        self.asked.append(url)
        answer = self.pages[url]
        if isinstance(answer, Exception):
            raise answer
        return answer


def ids(paged) -> list[str]:
    return [r["id"] for page in paged.pages for r in page.resources]


def test_every_page_is_read_when_each_link_stays_on_the_server():
    server = Server(chain(3))
    paged = follow_pages(server, BASE, max_pages=5, url=FIRST)
    assert paged.ending is Ending.COMPLETE
    assert ids(paged) == ["o1", "o2", "o3"]
    assert server.asked == list(chain(3))


def test_exactly_at_the_page_limit_the_search_is_complete():
    server = Server(chain(3))
    paged = follow_pages(server, BASE, max_pages=3, url=FIRST)
    assert paged.ending is Ending.COMPLETE and ids(paged) == ["o1", "o2", "o3"]


def test_one_page_over_the_limit_stops_without_asking_for_it():
    server = Server(chain(4))
    paged = follow_pages(server, BASE, max_pages=3, url=FIRST)
    assert paged.ending is Ending.PAGE_LIMIT and ids(paged) == ["o1", "o2", "o3"]
    assert len(server.asked) == 3


def test_a_limit_of_one_page_reads_only_the_first():
    server = Server(chain(2))
    paged = follow_pages(server, BASE, max_pages=1, url=FIRST)
    assert paged.ending is Ending.PAGE_LIMIT and server.asked == [FIRST]


@pytest.mark.parametrize("link, reason", [
    ("https://attacker.example/r4/Observation?page=2", "another host"),
    ("https://fhir.example.org\\@attacker.example/r4/Observation?page=2", "backslash in the URL"),
    ("https://fhir.example.org/admin?page=2", "outside the fhirServer path"),
    ("../admin?page=2", "dot segment in the path"),
])
def test_a_link_off_the_server_is_refused_and_never_asked_for(link, reason):
    pages = chain(1)
    pages[FIRST].next_url = link
    server = Server(pages)
    paged = follow_pages(server, BASE, max_pages=5, url=FIRST)
    assert paged.ending is Ending.REFUSED_LINK and paged.refused.reason == reason
    assert ids(paged) == ["o1"] and server.asked == [FIRST]


def test_a_failing_second_page_keeps_the_first_and_says_which_page_failed():
    pages = chain(3)
    second = pages[FIRST].next_url
    pages[second] = Failure("http-error", "HTTP 500")
    server = Server(pages)
    paged = follow_pages(server, BASE, max_pages=5, url=FIRST)
    assert paged.ending is Ending.FAILED_PAGE and paged.failure == Failure("http-error", "HTTP 500")
    assert ids(paged) == ["o1"] and paged.unread_page == 2
    assert server.asked == [FIRST, second]


def test_a_failing_first_page_gives_no_pages():
    server = Server({FIRST: Failure("timeout", "timeout after 2s")})
    paged = follow_pages(server, BASE, max_pages=5, url=FIRST)
    assert paged.ending is Ending.FAILED_PAGE and paged.pages == [] and paged.unread_page == 1


def test_what_fetch_raises_passes_through():
    pages = chain(2)
    pages[pages[FIRST].next_url] = RuntimeError("no answer")
    with pytest.raises(RuntimeError, match="no answer"):
        follow_pages(Server(pages), BASE, max_pages=5, url=FIRST)


def test_the_deadline_stops_before_the_next_request():
    server = Server(chain(3))
    asked_to_stop = iter([False, True])   # the clock runs out after the first page
    paged = follow_pages(server, BASE, max_pages=5, url=FIRST, stop=lambda: next(asked_to_stop))
    assert paged.ending is Ending.DEADLINE and ids(paged) == ["o1"] and paged.unread_page == 2
    assert server.asked == [FIRST]


def test_a_deadline_already_past_asks_for_nothing():
    server = Server(chain(2))
    paged = follow_pages(server, BASE, max_pages=5, url=FIRST, stop=lambda: True)
    assert paged.ending is Ending.DEADLINE and paged.pages == [] and server.asked == []


def test_the_deadline_is_not_asked_about_once_the_last_page_is_read():
    server = Server(chain(2))
    asked_to_stop = iter([False, False])   # a third question would raise StopIteration
    paged = follow_pages(server, BASE, max_pages=5, url=FIRST, stop=lambda: next(asked_to_stop))
    assert paged.ending is Ending.COMPLETE and ids(paged) == ["o1", "o2"]


def test_a_link_back_to_a_page_already_read_ends_the_search():
    pages = chain(2)
    pages[pages[FIRST].next_url].next_url = FIRST
    server = Server(pages)
    paged = follow_pages(server, BASE, max_pages=5, url=FIRST)
    assert paged.ending is Ending.COMPLETE and ids(paged) == ["o1", "o2"] and len(server.asked) == 2


def test_relative_links_are_read_against_the_page_they_came_from():
    server = Server({FIRST: Obtained([{"id": "o1"}], next_url="Observation?page=2"),
                     "https://fhir.example.org/r4/Observation?page=2": Obtained([{"id": "o2"}])})
    paged = follow_pages(server, BASE, max_pages=5, url=FIRST)
    assert ids(paged) == ["o1", "o2"]


def test_a_page_already_fetched_is_not_asked_for_again():
    pages = chain(3)
    server = Server(pages)
    paged = follow_pages(server, BASE, max_pages=3, url=FIRST, first=pages[FIRST])
    assert paged.ending is Ending.COMPLETE and ids(paged) == ["o1", "o2", "o3"]
    assert server.asked == list(pages)[1:]


def test_without_its_url_a_first_page_s_relative_link_is_read_against_the_base():
    first = Obtained([{"id": "o1"}], next_url="Observation?page=2")
    server = Server({"https://fhir.example.org/r4/Observation?page=2": Obtained([{"id": "o2"}])})
    paged = follow_pages(server, BASE, max_pages=2, first=first)
    assert ids(paged) == ["o1", "o2"]


def test_a_first_page_counts_toward_the_limit():
    pages = chain(3)
    server = Server(pages)
    paged = follow_pages(server, BASE, max_pages=2, url=FIRST, first=pages[FIRST])
    assert paged.ending is Ending.PAGE_LIMIT and ids(paged) == ["o1", "o2"] and len(server.asked) == 1


# --- the service's reads: how each ending becomes a ReadResult ----------------------------------------

def searchset(rid: str, next_url: str | None = None) -> dict:
    bundle = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": {"resourceType": "Observation", "id": rid}}]}
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


class Clock:
    """``time.monotonic`` for the reader, moved on by hand (nothing here is timed)."""

    def __init__(self):
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(reader, "time", fake)
    return fake


def read(url=FIRST, max_pages=5, deadline=2000.0) -> reader.ReadResult:
    session = reader._new_session()
    return reader.read_paged(session, url, BASE, "tok", reader.ReadLimits(2.0, deadline, max_pages))


@responses.activate
def test_the_reader_reports_a_deadline_past_before_the_first_page_as_a_failure(clock):
    result = read(deadline=clock.now)
    assert result.failure == Failure("deadline", "timeout after 2s") and result.resources == []
    assert len(responses.calls) == 0


@responses.activate
def test_the_reader_keeps_the_pages_read_before_the_deadline(clock):
    second = "https://fhir.example.org/r4/Observation?page=2"

    def first_page(request):
        clock.now = 1001.5   # the phase's time runs out just as page 1 arrives (still within its own time)
        return 200, {}, json.dumps(searchset("o1", second))

    responses.add_callback(responses.GET, FIRST, callback=first_page)
    result = read(deadline=1001.5)
    assert [r["id"] for r in result.resources] == ["o1"]
    assert result.failure == Failure("deadline", "page 2: timeout after 2s")
    assert [c.request.url for c in responses.calls] == [FIRST]


@responses.activate
def test_the_reader_says_where_it_stopped(clock):
    second = "https://fhir.example.org/r4/Observation?page=2"
    responses.get(FIRST, json=searchset("o1", second))
    responses.get(second, json=searchset("o2", "https://attacker.example/r4/Observation?page=3"))
    assert read(max_pages=1).incomplete == "stopped after 1 pages"
    refused = read(max_pages=2)
    assert refused.incomplete == "next page not followed: another host" and refused.failure is None
    assert [r["id"] for r in refused.resources] == ["o1", "o2"]
