"""Shared test fixtures: an app built from a Config (no environment needed). Builders live in support/."""

from __future__ import annotations

from dataclasses import replace

import pytest

from cds_service.app import create_app
from cds_service.config import Config

pytest_plugins = ["support.fhir_server_plugin", "support.postgres_plugin"]


@pytest.fixture
def make_app(tmp_path):
    """Build an app; keyword arguments override Config fields (auth is off unless asked). Each app's store is
    disposed after the test, so its audit writer thread does not outlive it (hundreds would slow the suite)."""
    made = []

    def _make(**overrides):
        config = Config(auth="off", database_url=f"sqlite:///{tmp_path / 'iron-cds.db'}")
        made.append(create_app(replace(config, **overrides)))
        return made[-1]

    yield _make
    for app in made:
        app.extensions["iron_cds"].store.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()
