"""One HTTP GET with a TOTAL deadline: connect, headers and body together, and a size cap.

requests' timeouts are per socket operation: a server that sends one byte every
couple of seconds (in the headers or the body) never trips them, and a fetch can
last minutes. Here a timer shuts the connection's socket down at the deadline,
whatever phase the request is in, so the blocked read returns at once. The
connection is opened for this request only (``Connection: close``), so the timer
always knows its socket. Name resolution is not covered by any timeout, and a
request through an HTTP(S)_PROXY from the environment goes through requests' proxy
manager, whose sockets the timer does not see (only the per-read timeouts bound it):
callers that must not wait past the deadline run this in a thread of its own (``jwks.py``).
"""

from __future__ import annotations

import http.client
import socket
import threading
import time

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()   # the deadline of the request this thread is making, if any


class FetchFailed(Exception):
    """The body could not be had in time or within the size cap; the message is short and fixed."""


def deadline_get(session: requests.Session, url: str, *, seconds: float, max_bytes: int, headers: dict) -> bytes:
    """The body of a 200 answer to ``GET url``; raises ``FetchFailed`` otherwise. No redirects."""
    deadline = _Deadline(time.monotonic() + seconds)
    with deadline:
        try:
            body = _get(session, url, deadline, max_bytes, headers)
        except FetchFailed:
            raise
        except (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
            raise FetchFailed("deadline" if deadline.fired else type(exc).__name__) from None
    if deadline.fired:
        raise FetchFailed("deadline")
    return body


def guarded_session() -> requests.Session:
    """A session whose new connections report their socket to the deadline of the request."""
    session = requests.Session()
    adapter = _GuardedAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _get(session, url: str, deadline: _Deadline, max_bytes: int, headers: dict) -> bytes:
    per_operation = max(0.001, deadline.at - time.monotonic())
    with session.get(url, timeout=(per_operation, per_operation), allow_redirects=False, stream=True,
                     headers={**headers, "Connection": "close"}) as response:
        if response.status_code != 200:
            raise FetchFailed(f"HTTP {response.status_code}")
        chunks, size = [], 0
        for chunk in response.iter_content(chunk_size=16384):
            size += len(chunk)
            if size > max_bytes:
                raise FetchFailed("too large")
            if deadline.fired or time.monotonic() > deadline.at:
                raise FetchFailed("deadline")
            chunks.append(chunk)
        return b"".join(chunks)


class _Deadline:
    def __init__(self, at: float):
        self.at = at
        self.fired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def __enter__(self):
        _current.deadline = self
        self._timer = threading.Timer(max(0.0, self.at - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc_info):
        _current.deadline = None
        self._timer.cancel()

    def watch(self, sock) -> None:
        with self._lock:
            if not self.fired:
                self._sockets.append(sock)
                return
        _shut(sock)

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)


def _shut(sock) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)   # a read blocked on this socket returns now
    except OSError:
        pass


class _Watched:
    def connect(self):
        super().connect()
        deadline = getattr(_current, "deadline", None)
        if deadline is not None and self.sock is not None:
            deadline.watch(self.sock)


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
