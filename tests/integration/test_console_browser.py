"""The console in a real browser: Playwright driving Debian's headless Chromium against a live server.

Screenshots go to artifacts/console/. tests/run.sh installs Chromium; without it these tests
skip, except under CI, where they must run.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from datetime import datetime, timezone

import pytest
from werkzeug.serving import make_server

from cds_service.app import create_app
from cds_service.config import Config
from support.paths import FIXTURES, ROOT
from support.store_fill import give_feedback, issue

TOKEN = "browser-console-token-42-0123456789ab"
ARTIFACTS = ROOT / "artifacts" / "console"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

if not CHROMIUM and not os.environ.get("CI"):
    pytest.skip("Chromium is not installed (tests/run.sh installs it; CI always runs these)", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def live_console(tmp_path_factory):
    db = tmp_path_factory.mktemp("console") / "console.db"
    app = create_app(Config(auth="off", database_url=f"sqlite:///{db}", console_token=TOKEN))
    _seed_feedback(app.extensions["iron_cds"].store)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # "localhost" (not 127.0.0.1): the session cookie is Secure, which browsers honour on http://localhost.
    yield f"http://localhost:{server.server_port}"
    server.shutdown()


def _seed_feedback(store) -> None:
    issue(store, "iv-iron-order-check", "order-sign", [
        {"uuid": f"seed-{i}", "indicator": "warning", "source": {"topic": {"code": "dose-limit"}}} for i in range(4)])
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    give_feedback(store, "iv-iron-order-check", [
        {"card": "seed-0", "outcome": "accepted", "acceptedSuggestions": [{"id": "x"}], "outcomeTimestamp": now},
        {"card": "seed-1", "outcome": "accepted", "acceptedSuggestions": [{"id": "x"}], "outcomeTimestamp": now},
        {"card": "seed-2", "outcome": "overridden", "outcomeTimestamp": now,
         "overrideReason": {"reason": {"system": "urn:iron-cds:override-reason", "code": "benefit-outweighs-risk",
                                       "display": "Benefit outweighs the risk"}}},
    ])


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(page, base: str) -> None:
    page.goto(f"{base}/console")
    assert "/console/login" in page.url
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_console_refuses_a_browser_without_the_token(page, live_console):
    page.goto(f"{live_console}/console/knowledge")
    assert "/console/login" in page.url
    page.fill("#token", "not-the-token")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "That token is not right."
    shot(page, "login-refused")
    response = page.request.get(f"{live_console}/console/feedback", headers={"Accept": "application/json"})
    assert response.status == 401


def test_every_page_loads_after_logging_in(page, live_console):
    log_in(page, live_console)
    assert page.locator("h1").inner_text() == "Overview"
    shot(page, "overview")
    for path, heading in (("preview", "Card preview"), ("knowledge", "Knowledge"), ("feedback", "Feedback")):
        page.goto(f"{live_console}/console/{path}")
        assert page.locator("h1").inner_text() == heading
        shot(page, path)


def test_preview_of_a_fixture_scenario_renders_its_cards(page, live_console):
    scenarios = json.loads((FIXTURES / "scenarios.json").read_text())
    scenarios = scenarios.get("scenarios", scenarios)
    name, spec = next((n, s) for n, s in scenarios.items() if s.get("expected") or s.get("expect"))
    log_in(page, live_console)
    page.goto(f"{live_console}/console/preview")
    page.select_option("#scenario", name)
    page.click("#run-scenario")
    page.wait_for_selector("#cards")
    topics = page.eval_on_selector_all("#cards article.card", "cards => cards.map(c => c.dataset.topic)")
    assert "observation-period" in topics, topics
    first = page.locator("#cards article.card").first
    assert first.locator(".summary").inner_text().strip()
    assert first.locator(".indicator").inner_text().strip().lower() in {"info", "warning", "critical"}
    shot(page, "preview-scenario")


def test_feedback_chart_shows_the_seeded_feedback(page, live_console):
    log_in(page, live_console)
    page.goto(f"{live_console}/console/feedback")
    topic = page.locator("#topic-dose-limit")
    assert topic.locator("b.issued").inner_text() == "4"
    assert topic.locator("b.accepted").inner_text() == "2"
    assert topic.locator("b.overridden").inner_text() == "1"
    assert topic.locator("b.rate").inner_text() == "66.7%"
    today = datetime.now(timezone.utc).date().isoformat()
    bar = topic.locator(f'svg rect.bar.issued[data-day="{today}"]')
    assert bar.get_attribute("data-value") == "4"
    assert "Benefit outweighs the risk" in topic.locator("table.reasons").inner_text()
    shot(page, "feedback-chart")
