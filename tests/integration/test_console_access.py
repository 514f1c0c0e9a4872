"""Console access holds against guessing and stolen cookies (issue 10, finding 10).

Token length checked at start; failed logins wait longer each time; logout kills the
session on the server (a copied cookie stops working); the cookie key comes from HKDF
over the token and a per-deployment salt kept in the store.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys

import pytest
from itsdangerous import BadSignature, URLSafeTimedSerializer

from cds_service.config import Config, ConfigError
from cds_service.console import access
from cds_service.ops.rate_limit import GrowingDelay
from cds_service.store import Store

TOKEN = "console-access-token-0123456789abcdef"
HTTPS = "https://localhost"


@pytest.fixture
def app(make_app, database_url):
    app = make_app(database_url=database_url, console_token=TOKEN)
    yield app
    app.extensions["iron_cds"].store.dispose()


def login(client, token=TOKEN, **kwargs):
    return client.post("/console/login", data={"token": token}, base_url=HTTPS, **kwargs)


def cookie_of(client) -> str:
    return client.get_cookie("iron_cds_console", domain="localhost", path="/console").value


# ---------------------------------------------------------------- token length at start
def test_a_short_token_stops_the_start_with_one_line():
    with pytest.raises(ConfigError, match="at least 32 characters"):
        Config.from_env({"IRON_CDS_CONSOLE_TOKEN": "x" * 31})
    assert Config.from_env({"IRON_CDS_CONSOLE_TOKEN": "x" * 32}).console_token == "x" * 32


def test_a_short_token_in_a_config_built_in_code_is_refused_too(make_app):
    with pytest.raises(ConfigError):
        make_app(console_token="short-token")


def test_the_service_exits_with_one_line_for_a_short_token(tmp_path):
    env = {"IRON_CDS_CONSOLE_TOKEN": "too-short", "IRON_CDS_AUTH": "off", "PATH": "/usr/bin:/bin",
           "IRON_CDS_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"}
    result = subprocess.run([sys.executable, "-c", "from cds_service.app import create_app; create_app()"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert result.stderr.strip().count("\n") == 0 and "at least 32 characters" in result.stderr


# ---------------------------------------------------------------- login rate limit
def test_failed_logins_wait_longer_each_time_and_a_success_resets(app):
    now = [1000.0]
    delay = GrowingDelay(clock=lambda: now[0])
    app.extensions["iron_cds"].extras["console_login_delay"] = delay
    client = app.test_client()
    assert login(client, "wrong").status_code == 401            # a typo costs nothing
    assert login(client, "wrong").status_code == 401            # now 1 s
    refused = login(client, TOKEN)                               # even the right token waits
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "1"
    waits = []
    for _ in range(4):
        now[0] += 3600
        assert login(client, "wrong").status_code == 401
        waits.append(int(login(client, "wrong").headers["Retry-After"]))
    assert waits == sorted(waits) and waits[-1] > waits[0]       # growing
    now[0] += 3600
    assert login(client, TOKEN).status_code == 302               # after waiting, the right token works
    assert delay.wait("127.0.0.1") is None                       # and the slate is clean


def test_wrong_bearer_tokens_count_as_failed_logins(app):
    app.extensions["iron_cds"].extras["console_login_delay"] = GrowingDelay(clock=lambda: 0.0)
    client = app.test_client()
    for _ in range(2):
        assert client.get("/console/knowledge", headers={"Authorization": "Bearer nope"}).status_code == 401
    limited = client.get("/console/knowledge", headers={"Authorization": f"Bearer {TOKEN}"})
    assert limited.status_code == 429 and limited.headers["Retry-After"]


def test_the_delay_caps_and_counts_per_address():
    now = [0.0]
    delay = GrowingDelay(base=1.0, ceiling=900.0, clock=lambda: now[0])
    assert [delay.failed("a") for _ in range(14)][-1] == 900.0
    assert delay.wait("b") is None


# ---------------------------------------------------------------- logout ends the session on the server
def test_a_copied_cookie_stops_working_after_logout(app):
    browser = app.test_client()
    assert login(browser).status_code == 302
    copied = cookie_of(browser)
    thief = app.test_client()
    thief.set_cookie("iron_cds_console", copied, domain="localhost", path="/console")
    assert thief.get("/console/knowledge", base_url=HTTPS).status_code == 200
    assert browser.post("/console/logout", base_url=HTTPS).status_code == 302
    assert thief.get("/console/knowledge", base_url=HTTPS).status_code == 401
    assert browser.get("/console/knowledge", base_url=HTTPS).status_code == 401


def test_a_session_is_seen_by_another_worker_on_the_same_store(app, make_app, database_url):
    browser = app.test_client()
    login(browser)
    other_worker = make_app(database_url=database_url, console_token=TOKEN).test_client()
    other_worker.set_cookie("iron_cds_console", cookie_of(browser), domain="localhost", path="/console")
    assert other_worker.get("/console/knowledge", base_url=HTTPS).status_code == 200
    browser.post("/console/logout", base_url=HTTPS)
    assert other_worker.get("/console/knowledge", base_url=HTTPS).status_code == 401


# ---------------------------------------------------------------- the cookie key
def test_the_cookie_key_is_hkdf_of_the_token_and_the_stored_salt(app, database_url):
    store = Store(database_url)
    salt = store.deployment_secret(access.SALT_NAME)
    assert len(bytes.fromhex(salt)) == 32 and store.deployment_secret(access.SALT_NAME) == salt   # made once
    store.dispose()
    assert app.secret_key == access.cookie_key(TOKEN, salt)
    bare_hash = hashlib.sha256(b"iron-cds-console\x00" + TOKEN.encode()).hexdigest()
    assert app.secret_key not in (bare_hash, bare_hash.encode())


def test_a_cookie_cannot_be_checked_against_token_guesses_without_the_salt(app):
    client = app.test_client()
    login(client)
    cookie = cookie_of(client)
    guesses = [TOKEN, "wrong-token-" + "x" * 30]
    # what an attacker with the cookie alone could try: the token itself or its bare hash as the key
    for guess in guesses:
        for key in (guess, hashlib.sha256(b"iron-cds-console\x00" + guess.encode()).hexdigest()):
            serializer = URLSafeTimedSerializer(key, salt="cookie-session", signer_kwargs={
                "key_derivation": "hmac", "digest_method": hashlib.sha1})
            with pytest.raises(BadSignature):
                serializer.loads(cookie)
    payload = base64.urlsafe_b64decode(cookie.split(".")[0] + "==")
    assert TOKEN.encode() not in payload                           # the cookie carries a session id only


def test_each_deployment_has_its_own_salt(tmp_path):
    first, second = Store(f"sqlite:///{tmp_path / 'a.db'}"), Store(f"sqlite:///{tmp_path / 'b.db'}")
    try:
        assert first.deployment_secret(access.SALT_NAME) != second.deployment_secret(access.SALT_NAME)
    finally:
        first.dispose()
        second.dispose()
