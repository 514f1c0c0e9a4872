"""CORS for browser-based CDS clients (the CDS Hooks sandbox, EHR web UIs): discovery, hook and feedback."""

from __future__ import annotations

import pytest

from cds_service.config import Config
from support.hook_requests import HOOK_URL

URLS = ["/cds-services", HOOK_URL, f"{HOOK_URL}/feedback"]
SANDBOX = "https://sandbox.cds-hooks.org"


def preflight(client, url, origin, method=None):
    method = method or ("GET" if url == "/cds-services" else "POST")
    return client.options(url, headers={
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "Authorization, Content-Type",
    })


def allowed_headers(response):
    return {h.strip().lower() for h in response.headers.get("Access-Control-Allow-Headers", "").split(",") if h.strip()}


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("auth", ["off", "jwt"])
def test_preflight_allows_authorization_and_content_type_from_any_origin_by_default(make_app, url, auth):
    # a browser never sends credentials on a preflight, so it must pass even when JWTs are required
    client = make_app(auth=auth).test_client()
    response = preflight(client, url, SANDBOX)
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] in ("*", SANDBOX)
    assert {"authorization", "content-type"} <= allowed_headers(response)
    methods = response.headers["Access-Control-Allow-Methods"]
    assert ("GET" if url == "/cds-services" else "POST") in methods


@pytest.mark.parametrize("url", URLS)
def test_a_configured_origin_list_allows_its_origins_and_refuses_others(make_app, url):
    client = make_app(cors_origins=("https://ehr.example.org", SANDBOX)).test_client()
    for origin in ("https://ehr.example.org", SANDBOX):
        response = preflight(client, url, origin)
        assert response.headers.get("Access-Control-Allow-Origin") == origin
        assert {"authorization", "content-type"} <= allowed_headers(response)
        assert "Origin" in response.headers.get("Vary", "")
    refused = preflight(client, url, "https://evil.example.com")
    assert "Access-Control-Allow-Origin" not in refused.headers
    assert "Access-Control-Allow-Headers" not in refused.headers


def test_the_origin_list_comes_from_the_environment(make_app):
    config = Config.from_env({"IRON_CDS_CORS_ORIGINS": " https://a.example.org , https://b.example.org "})
    assert config.cors_origins == ("https://a.example.org", "https://b.example.org")
    assert Config.from_env({}).cors_origins == ("*",)
    client = make_app(cors_origins=config.cors_origins).test_client()
    assert preflight(client, "/cds-services", "https://b.example.org").headers["Access-Control-Allow-Origin"] \
        == "https://b.example.org"
    assert "Access-Control-Allow-Origin" not in preflight(client, "/cds-services", "https://c.example.org").headers


def test_actual_responses_carry_the_header_including_errors(make_app):
    client = make_app(auth="jwt").test_client()
    discovery = client.get("/cds-services", headers={"Origin": SANDBOX})
    assert discovery.status_code == 200
    assert discovery.headers["Access-Control-Allow-Origin"] in ("*", SANDBOX)
    # a browser client can only read why it failed if the error carries the header too
    unauthorized = client.post(HOOK_URL, json={}, headers={"Origin": SANDBOX})
    assert unauthorized.status_code == 401
    assert unauthorized.headers["Access-Control-Allow-Origin"] in ("*", SANDBOX)


def test_other_paths_get_no_cors_headers(client):
    response = client.get("/no-such-path", headers={"Origin": SANDBOX})
    assert "Access-Control-Allow-Origin" not in response.headers
