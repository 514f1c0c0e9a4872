"""Pytest plugin: run store-backed tests on SQLite and, when configured, on a real PostgreSQL.

Use it with ``pytest_plugins = ["postgres_plugin"]`` and one of the fixtures:

- ``database_url``: parametrised over ``sqlite`` and ``postgresql``; each test gets an empty store
  (a SQLite file in ``tmp_path``, or a fresh PostgreSQL schema).
- ``postgres_url``: an empty PostgreSQL store only (for tests about sharing one server).

PostgreSQL comes from ``IRON_CDS_TEST_POSTGRES_URL`` (tests/run.sh exports it). This session works in
its own database with a random name, created through that URL and dropped at the end, so parallel runs
and reruns never see each other's rows. Without the variable the PostgreSQL cases skip, except when
``CI`` is set: CI must cover both databases, so there they fail instead.
"""

from __future__ import annotations

import os
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

ENV = "IRON_CDS_TEST_POSTGRES_URL"


class PostgresScratch:
    """A throw-away database on the configured server; one schema per test inside it."""

    def __init__(self, admin_url: str):
        self.admin_url = make_url(admin_url)
        self.name = f"iron_cds_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self._admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT", pool_pre_ping=True)
        with self._admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        self.url: URL = self.admin_url.set(database=self.name)
        self._engine = create_engine(self.url, isolation_level="AUTOCOMMIT")

    def new_schema(self) -> tuple[str, str]:
        """(schema name, SQLAlchemy URL whose connections use only that schema)."""
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with self._engine.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = self.url.update_query_dict({"options": f"-csearch_path={schema}"})
        return schema, url.render_as_string(hide_password=False)

    def drop_schema(self, schema: str) -> None:
        # Apps built in the test keep pooled connections; end them so they do not pile up.
        with self._engine.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = :db AND pid <> pg_backend_pid()"),
                {"db": self.name},
            )
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))

    def close(self) -> None:
        self._engine.dispose()
        with self._admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self._admin.dispose()


def _missing_postgres() -> None:
    reason = f"{ENV} is not set: PostgreSQL cases need a server (tests/run.sh sets it up)"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; under CI they must run")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_scratch():
    admin_url = os.environ.get(ENV)
    if not admin_url:
        _missing_postgres()
    scratch = PostgresScratch(admin_url)
    yield scratch
    scratch.close()


@pytest.fixture
def postgres_url(request):
    scratch = request.getfixturevalue("postgres_scratch")
    schema, url = scratch.new_schema()
    yield url
    scratch.drop_schema(schema)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        yield request.getfixturevalue("postgres_url")
