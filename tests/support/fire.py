"""Helpers for the integration tests: our service on a real loopback port, recording what it was sent,
and the ``iron-cds`` command line run in-process."""

from __future__ import annotations

import io
import json
import threading
from contextlib import contextmanager
from pathlib import Path

from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from werkzeug.serving import make_server

from cds_service.cli import main
from cds_service.ehr.client_jwt import load_signing_key, public_jwks


class Recorder:
    """WSGI middleware keeping the JSON body of every POST (what the EHR really sent)."""

    def __init__(self, app):
        self.app = app
        self.bodies: list[dict] = []

    def __call__(self, environ, start_response):
        if environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(raw)
            try:
                self.bodies.append(json.loads(raw))
            except ValueError:
                self.bodies.append({"unparsable": True})
        return self.app(environ, start_response)


@contextmanager
def serve(app):
    """Our Flask app on 127.0.0.1:<free port> in a thread; yields (base_url, recorder)."""
    recorder = Recorder(app)
    server = make_server("127.0.0.1", 0, recorder, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", recorder
    finally:
        server.shutdown()
        thread.join(timeout=10)


def run_cli(*args: str):
    """``iron-cds ARGS`` in this process; the result has separate ``stdout`` and ``stderr``."""
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def error_line(result) -> str:
    """The command's own error line (app logs may precede it on stderr), checked to be exactly one."""
    ours = [line for line in result.stderr.splitlines() if line.startswith("iron-cds ")]
    assert len(ours) == 1, result.stderr
    assert result.stderr.rstrip().splitlines()[-1] == ours[0]
    return ours[0]


def write_key(directory: Path, kind: str) -> tuple[Path, Path]:
    """A private key (PEM) and the JWKS file a service would trust for it."""
    if kind == "ec":
        private = ec.generate_private_key(ec.SECP384R1())
    else:
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = directory / f"client-{kind}.pem"
    pem.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    jwks = directory / f"client-{kind}.jwks.json"
    jwks.write_text(json.dumps(public_jwks(load_signing_key(pem))))
    return pem, jwks


def card_signature(response: dict) -> list[tuple]:
    """What must agree between two ways of asking: topic, indicator, suggestion action types."""
    signature = []
    for card in response["cards"]:
        actions = tuple(sorted({a["type"] for s in card.get("suggestions") or [] for a in s.get("actions") or []}))
        signature.append((card["source"]["topic"]["code"], card["indicator"], actions))
    return sorted(signature)
