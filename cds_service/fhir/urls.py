"""Where the EHR's access token may go: the one home for "is this URL on fhirServer".

Every outgoing FHIR URL is either ``fhirServer`` plus a relative part we build
(``Base.join``) or a Bundle ``next`` link that passes ``resolve_link``. Both are
judged after the URL went through the same code that will connect (requests'
preparation, then urllib3's ``parse_url``): ``urlsplit`` and urllib3 disagree on
links such as ``http://a:1\\@b:2/`` (urlsplit sees host ``b``, urllib3 connects
to ``a``), so a check made with one parser and a request made with the other
sends the token to a host nobody allowed.

A link is refused outright when it holds anything a real server's link never
needs and that parsers read differently: a backslash, user info, whitespace,
control or non-ASCII characters, or a ``.`` or ``..`` path segment (also
percent-encoded, or behind an encoded ``/``). What is left must have
the base's scheme, host and port, and a path under the base's path.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote, urljoin, urlsplit

import requests
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

log = logging.getLogger("iron_cds.fhir")

MAX_URL_CHARS = 8192
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")


class Refused(ValueError):
    """A URL the token must not go to; ``reason`` is short, fixed text (never the URL)."""

    def __init__(self, reason: str, target: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.target = target   # scheme://host:port of the refused URL, when it could be read


@dataclass(frozen=True)
class Base:
    """A parsed ``fhirServer``: what every outgoing URL must match."""

    scheme: str
    host: str        # lower case; IPv6 in brackets; IDNA-encoded
    port: int        # explicit, the default filled in
    path: str        # without a trailing slash; "" for the server's root

    @property
    def url(self) -> str:
        port = "" if self.port == _DEFAULT_PORTS[self.scheme] else f":{self.port}"
        return f"{self.scheme}://{self.host}{port}{self.path}"

    def join(self, relative: str) -> str:
        """``fhirServer/relative``, checked like a link: ``Patient/..`` cannot climb out of the base."""
        return resolve_link(f"{self.url}/{relative.lstrip('/')}", self)

    def owns(self, url: str) -> bool:
        try:
            resolve_link(url, self)
        except Refused:
            return False
        return True


def parse_base(server: object) -> Base | None:
    """``fhirServer`` as a ``Base``; None for anything but a plain http(s) URL without user info,
    query or fragment."""
    if not isinstance(server, str):
        return None
    return _parsed_base(server)


# A pure function of the string, whose Base is frozen, so one answer can serve every call that names the
# server: preparing the URL as requests will costs more than the rest of a call without IV iron, and a
# deployment sees a few fhirServers (tests/unit/fhir/test_parse_base_cache.py: equal to the uncached parse).
@lru_cache(maxsize=64)
def _parsed_base(server: str) -> Base | None:
    try:
        parsed = _prepared(server.strip())
    except Refused:
        return None
    if parsed.query is not None or parsed.fragment is not None:
        return None
    scheme, host, port, path = _origin_and_path(parsed)
    return Base(scheme, host, port, path.rstrip("/"))


def resolve_link(link: object, base: Base, page_url: str | None = None) -> str:
    """The URL to request for ``link`` (relative links are read against ``page_url``); raises
    ``Refused`` unless it is on ``base``'s scheme, host and port and under its path."""
    if not isinstance(link, str):
        raise Refused("not a URL")
    if not _SCHEME.match(link):
        _check_characters(link)
        _check_path(link.split("?", 1)[0].split("#", 1)[0])   # before urljoin quietly removes dot segments
        link = urljoin(page_url or base.url + "/", link)
    parsed = _prepared(link)
    scheme, host, port, path = _origin_and_path(parsed)
    target = f"{scheme}://{host}:{port}"
    if (scheme, host, port) != (base.scheme, base.host, base.port):
        raise Refused("another host", target)
    if not (path == base.path or path.startswith(base.path + "/")):
        raise Refused("outside the fhirServer path", target)
    return parsed.url


def log_refusal(refused: Refused, where: str, **extra) -> None:
    """The refusal, its reason and the host it named; never the path or query (ids live there)."""
    log.warning("URL outside fhirServer refused; the access token was not sent",
                extra={"event": "fhir-url-refused", "where": where, "reason": refused.reason,
                       "target": refused.target, **extra})


def _prepared(url: str):
    """``url`` as requests will send it, parsed by urllib3 (the library that connects)."""
    _check_characters(url)
    try:
        split = urlsplit(url)
        split_port = split.port
    except ValueError:
        raise Refused("unreadable URL") from None
    if split.username is not None or split.password is not None or "@" in split.netloc:
        raise Refused("user info in the URL")
    _check_path(split.path)
    try:
        prepared = requests.Request("GET", url).prepare().url
        parsed = parse_url(prepared)
    except (requests.RequestException, LocationParseError, ValueError, UnicodeError):
        raise Refused("unreadable URL") from None
    scheme = (parsed.scheme or "").lower()
    if scheme not in _DEFAULT_PORTS or not parsed.host:
        raise Refused("not an http(s) URL")
    if parsed.auth is not None:
        raise Refused("user info in the URL")
    _check_path(parsed.path or "")   # preparation decodes %2E: look again at what will be sent
    # Both parsers must name the same host and port, or one of them is being fooled.
    if ((split.hostname or "").lower() != parsed.host.lower().strip("[]")
            or (split_port or _DEFAULT_PORTS[scheme]) != (parsed.port or _DEFAULT_PORTS[scheme])):
        raise Refused("ambiguous host")
    return parsed


def _origin_and_path(parsed) -> tuple[str, str, int, str]:
    scheme = parsed.scheme.lower()
    return scheme, parsed.host.lower(), parsed.port or _DEFAULT_PORTS[scheme], parsed.path or ""


def _check_characters(url: str) -> None:
    if len(url) > MAX_URL_CHARS:
        raise Refused("URL too long")
    if "\\" in url:
        raise Refused("backslash in the URL")
    if any(not "\x21" <= ch <= "\x7e" for ch in url):
        raise Refused("whitespace, control or non-ASCII character in the URL")


def _check_path(path: str) -> None:
    # Decoded, and split again at encoded separators: a server that decodes %2F before it
    # resolves dot segments reads "..%2Fadmin" as "../admin".
    for segment in path.split("/"):
        decoded = unquote(segment).replace("\\", "/")
        if any(part in (".", "..") for part in decoded.split("/")):
            raise Refused("dot segment in the path")
