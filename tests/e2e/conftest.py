"""Fixtures the end-to-end tests share."""

import pytest

from support.e2e import clients_by_jurisdiction, pin_now


@pytest.fixture
def service_for(make_app, monkeypatch):
    """``service_for(name)``: a client of a service configured for the scenario's jurisdiction, clock pinned."""
    pin_now(monkeypatch)
    return clients_by_jurisdiction(lambda jurisdiction: make_app(jurisdiction=jurisdiction).test_client())
