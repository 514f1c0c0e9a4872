"""Our CORS headers are flask-cors's: the same app, once with cds_hooks.cors and once with flask-cors configured
as the service was before, answers every request in a table (and random ones) with the same status and the
same header list, in the same order."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from flask_cors import CORS
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.app import create_app
from cds_service.cds_hooks import cors
from cds_service.config import Config
from support.hook_requests import HOOK_URL

CONFIGS = [
    {"cors_origins": ("*",)},
    {"cors_origins": ("*",), "auth": "jwt"},   # 401s too
    {"cors_origins": ("https://ehr.example.org",)},
    {"cors_origins": ("https://ehr.example.org", "https://sandbox.cds-hooks.org")},
    {"cors_origins": ("https://b.example", "https://a.example", "https://a.example")},   # unsorted, a repeat
    {"cors_origins": ("*", "https://a.example")},
    {"cors_origins": ("https://*.example.org",)},                                       # read as a pattern
    {"cors_origins": (r"https://[a-z]+\.example\.org", "https://x.example")},
]
PATHS = ["/cds-services", HOOK_URL, f"{HOOK_URL}/feedback", "/cds-services/unknown", "/cds-services/", "/cds-service",
         "/cds-servicesss", "/cds-services-own", "/%2563ds-services", "/Cds-services", "/openapi.json", "/no-such-path",
         "/iv-iron"]
METHODS = ["GET", "POST", "OPTIONS", "PUT", "HEAD"]
ORIGINS = [None, "", "https://ehr.example.org", "HTTPS://EHR.example.ORG", "https://sandbox.cds-hooks.org",
           "https://a.example", "https://a.example.evil", "https://x.example.org", "https://evil.example.com", "*",
           "null"]
PREFLIGHTS = [
    {},
    {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "Authorization, Content-Type"},
    {"Access-Control-Request-Method": "get", "Access-Control-Request-Headers": "content-type,X-Other, authorization"},
    {"Access-Control-Request-Method": "DELETE", "Access-Control-Request-Headers": "Authorization"},
    {"Access-Control-Request-Method": "T, O"},                                # a substring of the method list
    {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-other"},
    {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": ""},
    {"Access-Control-Request-Method": "", "Access-Control-Request-Private-Network": "true"},
    {"Access-Control-Request-Method": "OPTIONS", "Access-Control-Request-Private-Network": "false"},
    {"Access-Control-Request-Headers": " AUTHORIZATION , authorization,Content-Type "},
]


def flask_cors_as_before(app, origins):
    """How the service configured flask-cors before it answered CORS itself."""
    origins = list(origins)
    CORS(app, resources={r"/cds-services*": {"origins": "*" if origins == ["*"] else origins}},
         allow_headers=["Authorization", "Content-Type"], methods=["GET", "POST", "OPTIONS"], max_age=600)


def answers_cors_itself():
    return "", 200, {"Access-Control-Allow-Origin": "https://own.example"}


@pytest.fixture(scope="module")
def app_pairs(tmp_path_factory):
    """For each configuration: (ours, flask-cors's)."""
    pairs = []
    for index, overrides in enumerate(CONFIGS):
        config = replace(Config(auth="off", database_url=f"sqlite:///{tmp_path_factory.mktemp('db')}/{index}.db",
                                feedback_per_minute=10**9), **overrides)   # no 429 from one of the two first
        ours = create_app(config)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(cors, "init_app", flask_cors_as_before)
            theirs = create_app(config)
        for app in (ours, theirs):
            app.add_url_rule("/cds-services-own", "own", view_func=answers_cors_itself)
        pairs.append((ours.test_client(), theirs.test_client()))
    return pairs


def answer(client, method, path, headers):
    body = {"data": b"{}", "content_type": "application/json"} if method == "POST" else {}
    response = client.open(path, method=method, headers=headers, **body)
    return response.status_code, response.headers.to_wsgi_list()


def assert_same(pair, method, path, origin, preflight):
    headers = dict(preflight) | ({} if origin is None else {"Origin": origin})
    ours, theirs = (answer(client, method, path, headers) for client in pair)
    assert ours == theirs, (method, path, headers)
    return {key for key, _ in ours[1]}


def test_the_table_answers_alike(app_pairs):
    cors_headers_seen = set()
    for pair in app_pairs:
        combinations = itertools.product(METHODS, ORIGINS, PREFLIGHTS)
        for (method, origin, preflight), path in zip(combinations, itertools.cycle(PATHS)):
            names = assert_same(pair, method, path, origin, preflight)
            cors_headers_seen |= {name for name in names if name.startswith("Access-Control") or name == "Vary"}
    # the table reaches every header there is to give
    assert cors_headers_seen == {"Access-Control-Allow-Origin", "Access-Control-Allow-Headers",
                                 "Access-Control-Max-Age", "Access-Control-Allow-Methods",
                                 "Access-Control-Allow-Private-Network", "Vary"}


def header_value():
    return st.one_of(st.sampled_from(["POST", "get", "Authorization", "content-type", "true", "*", ""]),
                     st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=30))


@settings(max_examples=300, deadline=None)
@given(pair_index=st.integers(0, len(CONFIGS) - 1), method=st.sampled_from(METHODS),
       path=st.sampled_from(PATHS), origin=st.one_of(st.none(), st.sampled_from(ORIGINS[1:]), header_value()),
       preflight=st.dictionaries(st.sampled_from(["Access-Control-Request-Method", "Access-Control-Request-Headers",
                                                  "Access-Control-Request-Private-Network"]), header_value()))
def test_any_request_answers_alike(app_pairs, pair_index, method, path, origin, preflight):
    assert_same(app_pairs[pair_index], method, path, origin, preflight)
