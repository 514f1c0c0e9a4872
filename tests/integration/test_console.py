"""The console through the Flask test client: access control and what each page shows."""

import re
from datetime import datetime, timezone

import pytest

from support.store_fill import give_feedback, issue

TOKEN = "console-test-token-0123456789-abcdef"
HTML = {"Accept": "text/html"}
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def console(make_app):
    return make_app(console_token=TOKEN).test_client()


def test_console_is_disabled_without_a_token_and_says_how_to_enable_it(client):
    response = client.get("/console", headers=HTML)
    assert response.status_code == 503
    assert b"IRON_CDS_CONSOLE_TOKEN" in response.data


@pytest.mark.parametrize("path", ["/console", "/console/preview", "/console/knowledge", "/console/feedback"])
def test_every_page_refuses_without_the_credential(console, path):
    assert console.get(path).status_code == 401
    assert console.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    browser = console.get(path, headers=HTML)
    assert browser.status_code == 302 and browser.headers["Location"].startswith("/console/login")


@pytest.mark.parametrize("path", ["/console", "/console/preview", "/console/knowledge", "/console/feedback"])
def test_every_page_opens_with_the_bearer_token(console, path):
    response = console.get(path, headers=BEARER)
    assert response.status_code == 200
    assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none': no script at all


def test_login_sets_a_secure_http_only_cookie_and_rejects_a_wrong_token(console):
    assert console.post("/console/login", data={"token": "nope"}).status_code == 401
    response = console.post("/console/login?next=/console/knowledge", data={"token": TOKEN},
                            base_url="https://localhost")
    assert response.status_code == 302 and response.headers["Location"] == "/console/knowledge"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=Strict" in cookie
    assert console.get("/console/knowledge", base_url="https://localhost").status_code == 200
    console.post("/console/logout", base_url="https://localhost")
    assert console.get("/console/knowledge", base_url="https://localhost").status_code == 401


def test_login_never_redirects_off_the_console(console):
    response = console.post("/console/login?next=https://evil.example/", data={"token": TOKEN},
                            base_url="https://localhost")
    assert response.headers["Location"] in ("/console", "/console/")


def test_knowledge_page_shows_every_product_with_sources_and_statuses(console, app):
    knowledge = app.extensions["iron_cds"].knowledge
    page = console.get("/console/knowledge", headers=BEARER).get_data(as_text=True)
    for product in knowledge.products.values():
        assert f'id="product-{product.key}"' in page
        for label in product.labels.values():
            assert label.source in page
    assert "check-knowledge: " in page


def test_knowledge_page_lists_the_unverified_and_local_values_each_card_topic_rests_on(console, app):
    page = console.get("/console/knowledge", headers=BEARER).get_data(as_text=True)
    section = page[page.index('id="caveats"'):page.index('id="product-')]
    assert "protocol: rate_after_reaction_factor" in section and "institutional" in section
    assert "unconfirmed-conservative" in section
    assert "Infusion rate" in section and "Post-infusion observation" in section


def test_knowledge_page_shows_the_version_in_force_and_who_signed_each_file(console, app):
    knowledge = app.extensions["iron_cds"].knowledge
    page = console.get("/console/knowledge", headers=BEARER).get_data(as_text=True)
    assert f'<b id="knowledge-version">{knowledge.version}</b>' in page
    for name, meta in knowledge.signoffs.items():
        assert f"cards/{name}" in page and meta["reviewed_on"] in page


def test_knowledge_page_shows_exactly_what_check_knowledge_reports(console, tmp_path, monkeypatch):
    """Same files, same validation: the page lists the command's problem lines, one for one."""
    import html
    from dataclasses import replace

    from click.testing import CliRunner

    from cds_service.cli import main

    bad = tmp_path / "hospital.yaml"
    bad.write_text("protocol:\n  observation:\n"
                   "    default_minutes: {value: 15, unit: min, source: S-NOWHERE, status: institutional}\n"
                   "premedications:\n  acetaminophen: {display: 1}\n", encoding="utf-8")
    state = console.application.extensions["iron_cds"]
    monkeypatch.setattr(state, "config", replace(state.config, knowledge_path=str(bad)))
    monkeypatch.delenv("IRON_CDS_KNOWLEDGE", raising=False)
    result = CliRunner().invoke(main, ["check-knowledge", "--file", str(bad)])
    assert result.exit_code == 1
    reported = [line.strip() for line in result.output.splitlines()]
    response = console.get("/console/knowledge", headers=BEARER)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    shown = [html.unescape(item) for item in re.findall(r"<li><code>(.*?)</code></li>", page)]
    assert f"check-knowledge: {reported[0]}" in html.unescape(page)
    assert shown == reported[1:] and len(shown) >= 3


def test_knowledge_page_says_ok_with_the_same_summary_as_check_knowledge(console, monkeypatch):
    from click.testing import CliRunner

    from cds_service.cli import main

    monkeypatch.delenv("IRON_CDS_KNOWLEDGE", raising=False)
    summary = CliRunner().invoke(main, ["check-knowledge"]).output.splitlines()[0]
    page = console.get("/console/knowledge", headers=BEARER).get_data(as_text=True)
    assert f'<p class="ok">check-knowledge: {summary}</p>' in page


def test_preview_renders_cards_from_pasted_data_without_raw_html(console):
    import json

    from support.hook_requests import medication_request

    order = medication_request(dose_mg=750, minutes=15)
    order["note"] = [{"text": "<script>alert(1)</script>"}]
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": {"resourceType": "Patient", "id": "pat-1", "birthDate": "1970-01-01"}}]}
    response = console.post("/console/preview", headers=BEARER,
                            data={"patient_bundle": json.dumps(bundle), "order": json.dumps(order),
                                  "hook": "order-sign"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-topic="observation-period"' in page
    assert "<script>" not in page


def test_preview_explains_bad_input(console):
    response = console.post("/console/preview", headers=BEARER, data={"patient_bundle": "{not json", "order": "{}"})
    assert response.status_code == 400
    assert "not valid JSON" in response.get_data(as_text=True)


def test_feedback_page_counts_and_exports_seeded_feedback(console, app):
    store = app.extensions["iron_cds"].store
    issue(store, "iv-iron-order-check", "order-sign", [
        {"uuid": f"card-{i}", "indicator": "warning",
         "source": {"topic": {"code": "infusion-rate"}}} for i in range(3)])
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    give_feedback(store, "iv-iron-order-check", [
        {"card": "card-0", "outcome": "accepted", "acceptedSuggestions": [{"id": "s"}], "outcomeTimestamp": now},
        {"card": "card-1", "outcome": "overridden", "outcomeTimestamp": now,
         "overrideReason": {"reason": {"system": "urn:iron-cds:override-reason", "code": "patient-tolerated-rate",
                                       "display": "Patient tolerated this rate before"}}},
    ])
    page = console.get("/console/feedback", headers=BEARER).get_data(as_text=True)
    assert 'id="topic-infusion-rate"' in page
    assert '<b class="issued">3</b>' in page and '<b class="accepted">1</b>' in page
    assert '<b class="overridden">1</b>' in page
    assert '<b class="rate">50.0%</b>' in page
    assert "Patient tolerated this rate before" in page
    assert 'class="bar issued"' in page
    csv_text = console.get("/console/feedback?format=csv", headers=BEARER).get_data(as_text=True)
    today = datetime.now(timezone.utc).date().isoformat()
    assert f"{today},infusion-rate,3,1,1" in csv_text


def test_feedback_date_filter_excludes_other_days_and_rejects_bad_dates(console, app):
    store = app.extensions["iron_cds"].store
    issue(store, "iv-iron-order-check", "order-sign",
                        [{"uuid": "c1", "indicator": "info", "source": {"topic": {"code": "observation-period"}}}])
    assert 'id="topic-observation-period"' not in console.get(
        "/console/feedback?from=2020-01-01&to=2020-01-31", headers=BEARER).get_data(as_text=True)
    bad = console.get("/console/feedback?from=yesterday", headers=BEARER)
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.get_data(as_text=True)


def test_preview_lists_every_products_handout_in_every_language(console):
    from cds_service.knowledge.loader import load_knowledge

    knowledge = load_knowledge()
    page = console.get("/console/preview", headers=BEARER).get_data(as_text=True)
    for key in knowledge.products:
        for language in knowledge.handouts["languages"]:
            assert f"/handouts/iv-iron?product={key}&amp;lang={language}" in page
