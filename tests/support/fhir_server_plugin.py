"""Pytest plugin: one real FHIR R4 server (tests/fhir_server/server.mjs) for the whole session.

Use it with ``pytest_plugins = ["fhir_server_plugin"]`` (or from conftest) and the ``fhir_server``
fixture, which yields a ``FhirTestServer`` (``.base_url``, ``.transaction(bundle)``, ``.get(path)``).

Skipping is allowed only on a developer machine without Node or without ``npm ci`` having run;
when ``CI`` is set the fixture fails loudly instead, so CI can never pass by skipping these tests.
"""

from __future__ import annotations

import os
import selectors
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from support.paths import TESTS

SERVER_DIR = TESTS / "fhir_server"
SERVER_SCRIPT = SERVER_DIR / "server.mjs"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0


def unavailable_reason() -> str | None:
    """Why the server cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "node is not installed (the FHIR test server needs Node >= 20)"
    if not (SERVER_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        return "tests/fhir_server/node_modules is missing: run `npm ci --prefix tests/fhir_server`"
    return None


def node_command(node: str = "node") -> list[str]:
    """Node 20/21 have WebSocket only behind a flag, and Medplum's core touches it at import."""
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    major = int(version.lstrip("v").split(".")[0] or 0)
    return [node, "--experimental-websocket"] if major < 22 else [node]


@dataclass
class FhirTestServer:
    base_url: str
    process: subprocess.Popen
    log_path: Path

    def get(self, path: str, **kwargs) -> requests.Response:
        return requests.get(f"{self.base_url}/{path.lstrip('/')}", timeout=10, **kwargs)

    def transaction(self, bundle: dict) -> dict:
        """POST a transaction Bundle; raise with the server's answer when it is refused."""
        response = requests.post(
            self.base_url, json=bundle, headers={"Content-Type": "application/fhir+json"}, timeout=30
        )
        if response.status_code != 200:
            raise AssertionError(f"transaction refused: {response.status_code} {response.text[:500]}")
        return response.json()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def start_server(extra_env: dict[str, str] | None = None) -> FhirTestServer:
    """Start server.mjs on a free loopback port and wait until /metadata answers (bounded)."""
    log_fd, log_name = tempfile.mkstemp(prefix="iron-cds-fhir-server-", suffix=".log")
    env = {**os.environ, "FHIR_SERVER_HOST": "127.0.0.1", "FHIR_SERVER_EXIT_WITH_STDIN": "1", **(extra_env or {})}
    process = subprocess.Popen(
        [*node_command(shutil.which("node") or "node"), str(SERVER_SCRIPT), "0"],
        cwd=SERVER_DIR,
        stdout=subprocess.PIPE,
        stderr=log_fd,
        stdin=subprocess.PIPE,          # held open for the server's life; closes if pytest dies
        env=env,
        text=True,
    )
    os.close(log_fd)
    log_path = Path(log_name)
    try:
        base_url = _read_listen_line(process, log_path)
        _wait_for_metadata(base_url, process, log_path)
    except BaseException:
        stop_server(process)
        raise
    return FhirTestServer(base_url=base_url, process=process, log_path=log_path)


def _read_listen_line(process: subprocess.Popen, log_path: Path) -> str:
    # Port 0 lets the OS choose, so no race between picking a port and binding it;
    # the server prints the real address as its first stdout line.
    deadline = time.monotonic() + START_TIMEOUT_S
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"FHIR test server exited with {process.returncode}:\n{log_path.read_text()[-2000:]}")
            if selector.select(timeout=0.2):
                line = process.stdout.readline().strip()
                if line.startswith("listening on "):
                    return line[len("listening on "):]
    raise RuntimeError(
        f"FHIR test server did not start within {START_TIMEOUT_S:.0f} s:\n{log_path.read_text()[-2000:]}")


def _wait_for_metadata(base_url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    last_error = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            response = requests.get(f"{base_url}/metadata", timeout=2)
            if response.status_code == 200 and response.json().get("resourceType") == "CapabilityStatement":
                return
            last_error = f"status {response.status_code}"
        except (requests.RequestException, ValueError) as exc:
            last_error = str(exc)
        time.sleep(0.1)
    raise RuntimeError(
        f"FHIR test server at {base_url} never answered /metadata ({last_error}):\n{log_path.read_text()[-2000:]}")


def stop_server(process: subprocess.Popen) -> None:
    """Stop our own child by PID: SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_S)
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()


def require_server_or_skip() -> None:
    reason = unavailable_reason()
    if reason is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"FHIR test server unavailable in CI (these tests must run there): {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def start_fhir_server():
    """Factory for an extra, private server (e.g. with FHIR_SERVER_TOKEN); stopped after the test."""
    started: list[FhirTestServer] = []

    def _start(extra_env: dict[str, str] | None = None) -> FhirTestServer:
        require_server_or_skip()
        server = start_server(extra_env)
        started.append(server)
        return server

    yield _start
    for server in started:
        stop_server(server.process)
        server.log_path.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def fhir_server():
    """The session's FHIR server; data persists for the session, so tests use their own patient ids."""
    require_server_or_skip()
    server = start_server()
    try:
        yield server
    finally:
        stop_server(server.process)
        server.log_path.unlink(missing_ok=True)
