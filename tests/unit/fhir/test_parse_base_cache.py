"""``parse_base`` remembers its answer per fhirServer string: proven equal to parsing it afresh, for URLs at
the edges of what is refused and for arbitrary text, asked once and again (the second answer from memory)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.fhir import urls
from cds_service.fhir.urls import parse_base

EDGES = ["https://ehr.example.org/fhir", "http://localhost:8080/fhir", "http://ehr", "https://ehr.example.org/fhir/",
         "ftp://ehr/fhir", "https://user@ehr/fhir", "https://u:p@ehr/fhir", "https://ehr/a/../b", "https://ehr/%2e%2e/b",
         "https://ehr/fhir?x=1", "https://ehr/fhir#f", "https://ehr\\@evil/", "HTTPS://EHR.EXAMPLE.ORG/FHIR",
         " https://ehr/fhir ", "https://ehr/fh ir", "https://[::1]:8443/fhir", "https://ehr:99999/", "http:///fhir",
         "https://", "ehr.example.org/fhir", "/fhir", "https://ehré.org/", "http://1.2.3.4/", "http://ehr..org/",
         "http://-ehr/", "https://ehr/\x00", "https://a:1\\@b:2/", "javascript://ehr/%0a", "https://EHR:443/r4/",
         "http://ehr:80", "https://ehr.example.org:8443/fhir/r4//", "", " ", "https://ehr/%2F..%2Fx"]
PIECES = st.sampled_from(["http", "https", "HTTPS", "ftp", "://", ":", "/", "//", "@", "\\", "?", "#", "%2e", "%2F",
                          "..", ".", "ehr", "example.org", "[::1]", "443", "8080", "99999", "u:p", " ", "é", "\x00",
                          "fhir", "r4", "-"])
URLISH = st.lists(PIECES, max_size=10).map("".join)


def _fresh(server: str):
    return urls._parsed_base.__wrapped__(server)


def _check(server: str) -> None:
    expected = _fresh(server)
    assert parse_base(server) == expected
    assert parse_base(server) == expected   # from memory now


def test_edge_urls_parse_as_afresh():
    assert any(_fresh(u) is not None for u in EDGES) and any(_fresh(u) is None for u in EDGES)
    for server in EDGES:
        _check(server)


@settings(max_examples=400, deadline=None)
@given(st.one_of(URLISH, st.text(max_size=40)))
def test_any_text_parses_as_afresh(server):
    _check(server)


def test_what_is_not_a_string_is_no_base():
    for value in (None, 1, {"url": "https://ehr/fhir"}, ["https://ehr/fhir"], b"https://ehr/fhir"):
        assert parse_base(value) is None


def test_a_remembered_base_cannot_be_changed_by_one_caller_for_the_next():
    base = parse_base("https://ehr.example.org/fhir")
    try:
        base.host = "evil.example"
    except AttributeError:   # dataclasses.FrozenInstanceError
        pass
    assert parse_base("https://ehr.example.org/fhir").host == "ehr.example.org"
