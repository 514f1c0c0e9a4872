"""The handout printed by a real browser (Debian's headless Chromium through Playwright) fits one page.

Every product in every language, on A4 and on US Letter. PDFs go to artifacts/handouts/. tests/run.sh
installs Chromium; without it these tests skip, except under CI, where they must run.
"""

from __future__ import annotations

import os
import re
import shutil
import threading

import pytest
from werkzeug.serving import make_server

from cds_service.app import create_app
from cds_service.config import Config
from cds_service.knowledge.loader import load_knowledge
from support.paths import ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if not CHROMIUM and not os.environ.get("CI"):
    pytest.skip("Chromium is not installed (tests/run.sh installs it; CI always runs these)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")

ARTIFACTS = ROOT / "artifacts" / "handouts"
KNOWLEDGE = load_knowledge()
CASES = [(p, lang) for p in sorted(KNOWLEDGE.products) for lang in sorted(KNOWLEDGE.handouts["languages"])]
# One page object per page in the PDF ("/Type /Pages" is the page tree, not a page).
PAGE_OBJECT = re.compile(rb"/Type\s*/Page(?![a-zA-Z])")


@pytest.fixture(scope="module")
def live_service(tmp_path_factory):
    db = tmp_path_factory.mktemp("handouts") / "handouts.db"
    server = make_server("127.0.0.1", 0, create_app(Config(auth="off", database_url=f"sqlite:///{db}")), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    page = browser.new_page()
    yield page
    page.close()


def test_the_page_counter_sees_a_second_page(page):
    page.set_content("<p style='page-break-after: always'>one</p><p>two</p>")
    assert len(PAGE_OBJECT.findall(page.pdf(format="A4"))) == 2


@pytest.mark.parametrize("product,lang", CASES)
def test_the_handout_prints_on_one_page(live_service, page, product, lang):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    requests_made = []
    page.on("request", lambda r: requests_made.append(r.url))
    page.goto(f"{live_service}/handouts/iv-iron?product={product}&lang={lang}")
    assert page.locator("h1").inner_text()
    for paper in ("A4", "Letter"):
        pdf = page.pdf(format=paper, print_background=False)
        (ARTIFACTS / f"{product}-{lang}-{paper}.pdf").write_bytes(pdf)
        assert len(PAGE_OBJECT.findall(pdf)) == 1, f"{product} ({lang}) needs more than one {paper} page"
    # everything the page loaded came from the service itself (the stylesheet), nothing external
    assert requests_made and all(url.startswith(live_service) for url in requests_made)
