"""Trusted-issuer settings from the environment (the forms the README documents)."""

from __future__ import annotations

import json

import pytest

from cds_service.config import Config, ConfigError


def _issuers(value) -> dict:
    return Config.from_env({"IRON_CDS_TRUSTED_ISSUERS": json.dumps(value)}).trusted_issuers


def test_url_form_and_object_form_with_fhir_servers():
    issuers = _issuers({
        "https://a.example": "https://a.example/jwks.json",
        "https://b.example": {"jwks_url": "https://b.example/keys", "fhir_servers": ["https://b.example/fhir/"]},
    })
    assert issuers["https://a.example"].jwks_url == "https://a.example/jwks.json"
    assert issuers["https://a.example"].fhir_servers == ()
    assert issuers["https://b.example"].fhir_servers == ("https://b.example/fhir",)


def test_file_with_the_jku_it_stands_for(tmp_path):
    path = tmp_path / "sandbox.json"
    path.write_text('{"keys": []}')
    issuer = _issuers({"https://sandbox.cds-hooks.org": {
        "jwks_file": str(path), "jwks_url": "https://sandbox.cds-hooks.org/.well-known/jwks.json"}})[
        "https://sandbox.cds-hooks.org"]
    assert issuer.jwks_file == str(path)
    assert issuer.jwks_url == "https://sandbox.cds-hooks.org/.well-known/jwks.json"


def test_file_alone_names_no_jku(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text('{"keys": []}')
    issuer = _issuers({"https://x.example": str(path)})["https://x.example"]
    assert (issuer.jwks_file, issuer.jwks_url) == (str(path), None)


@pytest.mark.parametrize("value, message", [
    ({"https://x.example": {"jwks_file": "/no/such/file.json"}}, "does not exist"),
    ({"https://x.example": {"fhir_servers": []}}, "needs 'jwks_url'"),
    ({"https://x.example": {"jwks_url": "https://x.example/k", "fhir_servers": "https://x.example/fhir"}},
     "must be a list"),
])
def test_bad_issuer_settings_fail_with_one_line(value, message):
    with pytest.raises(ConfigError, match=message):
        _issuers(value)


def test_bad_jku_beside_a_file_fails(tmp_path):
    path = tmp_path / "keys.json"
    path.write_text('{"keys": []}')
    with pytest.raises(ConfigError, match="must be an http"):
        _issuers({"https://x.example": {"jwks_file": str(path), "jwks_url": "ftp://x.example/keys"}})


def test_token_lifetime_and_skew_settings():
    config = Config.from_env({"IRON_CDS_MAX_TOKEN_LIFETIME": "600", "IRON_CDS_CLOCK_SKEW": "0"})
    assert (config.max_token_lifetime_seconds, config.clock_skew_seconds) == (600, 0)
    with pytest.raises(ConfigError):
        Config.from_env({"IRON_CDS_MAX_TOKEN_LIFETIME": "0"})
