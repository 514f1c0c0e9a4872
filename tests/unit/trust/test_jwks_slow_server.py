"""Key sets from a slow key server: a REAL local server that trickles its answer (issue 10, finding 3).

The server sends a byte every 20 ms for far longer than any test runs; the per-socket-read
timeout therefore never trips, and only a total deadline ends the fetch. No timing asserts:
bounded time is shown by calls that return (with a join guard a hundred times the deadline,
far below the trickle's length) and by the server seeing its connection cut; single flight by
the number of requests the server received; the rate limit by an injected clock.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cds_service.config import TrustedIssuer
from cds_service.trust.deadline_get import FetchFailed, deadline_get, guarded_session
from cds_service.trust.jwks import IssuerKeys, KeyRegistry
from support.jwt_keys import EPIC_ISS, HOOK_PATH, Signer, bearer, claims, jwks
from support.local_http import local_server, send_json

SIGNER = Signer("ES384")
GUARD = 30.0          # seconds a call may take before the test calls it unbounded (the deadline is 1 s)
DEADLINE = 1.0
TRICKLE_BYTES = 5000  # x 20 ms = 100 s: far longer than any call may take


class Trickle:
    """A handler that answers slowly; ``cut`` is set when the client hung up mid-answer."""

    def __init__(self, phase: str):
        self.phase = phase       # "headers": trickle the status line and headers; "body": a slow body
        self.cut = threading.Event()
        self.stop = threading.Event()
        self.started = threading.Event()

    def __call__(self, handler):
        self.started.set()
        if self.phase == "headers":
            head, payload = b"HTTP/1.1 200 OK\r\nX-Padding: ", b"a" * TRICKLE_BYTES
        else:
            body = json.dumps(jwks(SIGNER)).encode().ljust(TRICKLE_BYTES)
            head = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
            payload = body
        try:
            handler.wfile.write(head)
            for index in range(len(payload)):
                if self.stop.wait(0.02):
                    return
                handler.wfile.write(payload[index:index + 1])
        except OSError:
            self.cut.set()
        handler.close_connection = True


@pytest.fixture
def trickle_server(request):
    trickle = Trickle(request.param if hasattr(request, "param") else "body")
    with local_server(trickle) as server:
        server.trickle = trickle
        yield server
        trickle.stop.set()


def _issuer(server, iss=EPIC_ISS) -> TrustedIssuer:
    return TrustedIssuer(issuer=iss, jwks_url=f"{server.origin}/jwks.json")


def _in_threads(count, call):
    """Run ``call`` in ``count`` threads started together; returns their results and whether all ended."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(index):
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(GUARD)
    return results, not any(thread.is_alive() for thread in threads)


@pytest.mark.parametrize("trickle_server", ["headers", "body"], indirect=True)
def test_a_trickling_key_server_is_cut_off_at_the_deadline(trickle_server):
    keys = IssuerKeys(_issuer(trickle_server), timeout=DEADLINE)
    results, all_ended = _in_threads(1, lambda: keys.get(SIGNER.kid))
    assert all_ended and results == [None]
    # The fetch itself ended (its socket was shut), not just the caller's wait.
    assert trickle_server.trickle.cut.wait(GUARD)
    assert len(trickle_server.seen) == 1


def test_many_concurrent_callers_share_one_fetch_and_wait_at_most_the_deadline(trickle_server):
    keys = IssuerKeys(_issuer(trickle_server), timeout=DEADLINE)
    results, all_ended = _in_threads(20, lambda: keys.get(SIGNER.kid))
    assert all_ended and results == [None] * 20
    assert keys.fetch_count == 1             # one fetch for all twenty
    assert len(trickle_server.seen) <= 1


def _eventually(condition) -> bool:
    ended = threading.Event()
    for _ in range(int(GUARD / 0.01)):
        if condition():
            return True
        ended.wait(0.01)
    return condition()


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_the_next_attempt_counts_from_the_end_of_the_last(trickle_server):
    clock = Clock()
    keys = IssuerKeys(_issuer(trickle_server), timeout=DEADLINE, min_refresh_interval=60, clock=clock)

    def first_call():
        return keys.get(SIGNER.kid)

    caller = threading.Thread(target=first_call, daemon=True)
    caller.start()
    assert trickle_server.trickle.started.wait(GUARD)
    clock.now = 1070.0                      # the fetch "took" 70 s: it ends at 1070
    caller.join(GUARD)
    assert not caller.is_alive() and _eventually(lambda: not keys.fetching)
    clock.now = 1100.0                      # 100 s after the start, but only 30 s after the end
    assert keys.get(SIGNER.kid) is None
    assert keys.fetch_count == 1 and len(trickle_server.seen) == 1
    clock.now = 1131.0                      # 61 s after the end: one more attempt
    keys.get(SIGNER.kid)
    assert _eventually(lambda: keys.fetch_count == 2)


def test_calls_for_other_issuers_do_not_wait_for_a_slow_one(trickle_server):
    other_iss = "https://other-ehr.example.org"
    with local_server(lambda handler: send_json(handler, jwks(SIGNER), content_type="application/json")) as fast:
        registry = KeyRegistry({EPIC_ISS: _issuer(trickle_server), other_iss: _issuer(fast, other_iss)},
                               timeout=20.0)   # the slow issuer's fetch stays in flight for the whole test
        slow_callers = [threading.Thread(target=registry.key, args=(EPIC_ISS, SIGNER.kid), daemon=True)
                        for _ in range(10)]
        for thread in slow_callers:
            thread.start()
        assert trickle_server.trickle.started.wait(GUARD)
        results, all_ended = _in_threads(5, lambda: registry.key(other_iss, SIGNER.kid))
        assert all_ended and all(result and result["kid"] == SIGNER.kid for result in results)
        assert any(thread.is_alive() for thread in slow_callers)   # ... while the slow fetch is still going
        assert len(trickle_server.seen) == 1 and len(fast.seen) == 1
        trickle_server.trickle.stop.set()


def _unsigned(token: str) -> str:
    header, payload, _ = token.split(".")
    return f"{header}.{payload}."


@pytest.mark.parametrize("make_token", [
    lambda: _unsigned(SIGNER.token(claims())),
    lambda: SIGNER.token(claims())[:-20],             # a cut-off signature
    lambda: SIGNER.token(claims()).rsplit(".", 1)[0] + ".%%%%",
    lambda: "eyJhbGciOiJFUzM4NCJ9.not-json.",
], ids=["unsigned", "truncated", "not-base64url", "unparseable"])
def test_unsigned_or_unparseable_tokens_never_trigger_a_fetch(make_app, make_token):
    with local_server(lambda handler: send_json(handler, jwks(SIGNER), content_type="application/json")) as keys:
        app = make_app(auth="jwt", trusted_issuers={EPIC_ISS: _issuer(keys)})
        client = app.test_client()
        for _ in range(5):
            response = client.post(HOOK_PATH, json={}, headers=bearer(make_token()))
            assert response.status_code == 401
        assert keys.seen == []


def _self_signed(directory) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    (directory / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                          serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(directory / "cert.pem", directory / "key.pem")
    return context


def test_the_deadline_also_cuts_a_tls_connection_that_trickles_its_headers(tmp_path):
    """Key URLs are https: the timer must shut the TLS socket too, not only plain ones."""
    context = _self_signed(tmp_path)
    listener = socket.create_server(("127.0.0.1", 0))
    cut, stop = threading.Event(), threading.Event()

    def serve():
        connection, _ = listener.accept()
        with context.wrap_socket(connection, server_side=True) as tls:
            tls.recv(4096)
            try:
                tls.sendall(b"HTTP/1.1 200 OK\r\nX-Padding: ")
                for _ in range(TRICKLE_BYTES):
                    if stop.wait(0.02):
                        return
                    tls.sendall(b"a")
            except OSError:
                cut.set()

    threading.Thread(target=serve, daemon=True).start()
    session = guarded_session()
    session.verify, session.trust_env = str(tmp_path / "cert.pem"), False   # trust the test's own certificate
    try:
        with pytest.raises(FetchFailed, match="deadline"):
            deadline_get(session, f"https://127.0.0.1:{listener.getsockname()[1]}/jwks.json", seconds=DEADLINE,
                         max_bytes=4096, headers={})
        assert cut.wait(GUARD)
    finally:
        stop.set()
        listener.close()
