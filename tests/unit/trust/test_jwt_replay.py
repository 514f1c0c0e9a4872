"""Replay protection shared by every worker and instance: the jti table lives in the shared database."""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import responses

from cds_service.app import create_app
from cds_service.config import Config
from cds_service.store import Store
from support.hook_requests import hook_request
from support.jwt_keys import EPIC_ISS, EPIC_JWKS, HOOK_PATH, Signer, bearer, claims, epic_issuer, jwks

SIGNER = Signer("RS384")
POSTGRES_URL = os.environ.get("IRON_CDS_TEST_POSTGRES_URL")



@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}"
    if not POSTGRES_URL:
        pytest.skip("IRON_CDS_TEST_POSTGRES_URL is not set")
    return POSTGRES_URL


def _instance(database_url):
    config = Config(auth="jwt", trusted_issuers={EPIC_ISS: epic_issuer()}, database_url=database_url)
    return create_app(config).test_client()


def test_replay_is_refused_on_another_instance_sharing_the_database(database_url):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(EPIC_JWKS, json=jwks(SIGNER))
        first, second = _instance(database_url), _instance(database_url)
        token = SIGNER.token(claims())
        assert first.post(HOOK_PATH, json=hook_request(), headers=bearer(token)).status_code == 200
        replayed = second.post(HOOK_PATH, json=hook_request(), headers=bearer(token))
        assert replayed.status_code == 401
        assert replayed.get_json() == {"error": "unauthorized"}
        # a fresh token still works on both
        assert second.post(HOOK_PATH, json=hook_request(), headers=bearer(SIGNER.token(claims()))).status_code == 200


def test_same_jti_from_two_issuers_is_not_a_replay(database_url):
    store = Store(database_url)
    jti = str(uuid.uuid4())
    until = datetime.now(timezone.utc) + timedelta(minutes=5)
    assert store.remember_token("https://a.example", jti, until)
    assert store.remember_token("https://b.example", jti, until)
    assert not store.remember_token("https://a.example", jti, until)


def test_expired_jtis_are_purged(database_url):
    store = Store(database_url)
    jti = str(uuid.uuid4())
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    assert store.remember_token(EPIC_ISS, jti, past)
    # the next insertion purges rows past their expiry, so the old key is gone
    assert store.remember_token(EPIC_ISS, str(uuid.uuid4()), datetime.now(timezone.utc) + timedelta(minutes=5))
    assert store.remember_token(EPIC_ISS, jti, past + timedelta(minutes=10))


def test_replay_store_failure_fails_closed(make_app, monkeypatch):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(EPIC_JWKS, json=jwks(SIGNER))
        app = make_app(auth="jwt", trusted_issuers={EPIC_ISS: epic_issuer()})

        def broken(*_args):
            raise RuntimeError("database is down")

        monkeypatch.setattr(app.extensions["iron_cds"].store, "remember_token", broken)
        response = app.test_client().post(HOOK_PATH, json=hook_request(), headers=bearer(SIGNER.token(claims())))
        assert response.status_code == 401


def test_expired_ids_are_deleted_once_a_minute_not_on_every_call(database_url, monkeypatch):
    from sqlalchemy import event

    from cds_service import store as store_module

    store = Store(database_url)
    deletes = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, *args: deletes.append(1) if statement.lstrip().upper()
                 .startswith("DELETE") else None)
    clock = [1000.0]
    monkeypatch.setattr(store_module.time, "monotonic", lambda: clock[0])
    until = datetime.now(timezone.utc) + timedelta(minutes=5)
    for _ in range(3):
        assert store.remember_token(EPIC_ISS, str(uuid.uuid4()), until)
    assert len(deletes) == 1
    clock[0] += store_module.TOKEN_PURGE_SECONDS - 0.1
    assert store.remember_token(EPIC_ISS, str(uuid.uuid4()), until) and len(deletes) == 1
    clock[0] += 0.2
    assert store.remember_token(EPIC_ISS, str(uuid.uuid4()), until) and len(deletes) == 2


def test_an_id_whose_token_expired_may_be_used_again_before_any_purge(database_url, monkeypatch):
    from cds_service import store as store_module

    store = Store(database_url)
    monkeypatch.setattr(store_module.time, "monotonic", lambda: 0.0)   # no purge after the first call
    store._next_token_purge = 1.0
    jti, now = str(uuid.uuid4()), datetime.now(timezone.utc)
    assert store.remember_token(EPIC_ISS, jti, now - timedelta(seconds=1))
    assert store.remember_token(EPIC_ISS, jti, now + timedelta(minutes=5))       # expired on record: taken over
    assert not store.remember_token(EPIC_ISS, jti, now + timedelta(minutes=5))   # now a replay
