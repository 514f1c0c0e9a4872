"""A real HTTP server on 127.0.0.1 (ephemeral port) for tests where the attack is a connection.

Each request is recorded as ``(path, headers)`` before ``respond(handler)`` answers it, so a
test can prove that a host received nothing, or nothing with an ``Authorization`` header.
"""

from __future__ import annotations

import json
import socket
import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):  # noqa: N802 (http.server's naming)
        with self.server.lock:
            self.server.seen.append((self.path, dict(self.headers)))
        self.server.respond(self)

    def log_message(self, *args):
        pass


class LocalServer(ThreadingHTTPServer):
    daemon_threads = True

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def paths(self) -> list[str]:
        with self.lock:
            return [path for path, _ in self.seen]

    def tokens(self) -> list[str]:
        """The Authorization headers this server received (any capitalisation of the name)."""
        with self.lock:
            return [value for _, headers in self.seen for name, value in headers.items()
                    if name.lower() == "authorization"]


def send_json(handler, data, status: int = 200, content_type: str = "application/fhir+json") -> None:
    body = json.dumps(data).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def not_found(handler) -> None:
    send_json(handler, {"resourceType": "OperationOutcome", "issue": []}, status=404)


@contextmanager
def local_server(respond=not_found):
    server = LocalServer(("127.0.0.1", 0), _Handler)
    server.respond = respond
    server.seen = []
    server.lock = threading.Lock()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
