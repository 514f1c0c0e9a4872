"""Patient text in card markdown shows as text: no link, image, HTML or emphasis (issue 10, finding 5).

The hostile texts go in where an EHR puts free text (a Condition's name, an allergy's
manifestation, a stop reason, the order's medication text and route, a unit); the card
detail is then rendered the way an EHR would (markdown-it, GFM-like, raw HTML allowed), and
the console preview is checked for live links.
"""

from __future__ import annotations

import json

import pytest
from markdown_it import MarkdownIt

from cds_service.console.preview import knowledge_links, render_markdown
from cds_service.engine.markdown import markdown_text, plain_text
from cds_service.knowledge.loader import load_knowledge
from support.hook_requests import HOOK_URL, hook_request, medication_request

PHISH = "[phish](https://evil.example/login)"
IMAGE = "![x](http://e/i.png)"
SCRIPT = "<script>alert(1)</script>"
EMPHASIS = "**urgent** _now_"
HOSTILE = [PHISH, IMAGE, SCRIPT, EMPHASIS, "<https://evil.example>", "# heading", "1. list item"]

# How an EHR might render the detail: GitHub-like, raw HTML on (the worst case).
EHR_RENDERER = MarkdownIt("gfm-like", {"html": True, "linkify": False})


def rendered(markdown: str) -> str:
    return EHR_RENDERER.render(markdown)


def assert_inert(html: str) -> None:
    for markup in ("<a ", "<img", "<script", "<strong>", "<em>", "<h1", "<ol"):
        assert markup not in html, (markup, html)


# ---------------------------------------------------------------- the one escaping function
@pytest.mark.parametrize("text", HOSTILE + ["a\\*b", "x | y", "www.evil.example", "&lt;b&gt;", "~~gone~~"])
def test_escaped_text_renders_as_exactly_that_text(text):
    escaped = markdown_text(text)
    html = rendered(f"- {escaped}")
    assert_inert(html)
    assert plain_text(escaped) == text


def test_control_characters_and_line_breaks_do_not_survive():
    escaped = markdown_text("asthma\n# heading\x1b[31m red")
    assert "\n" not in escaped and "\x1b" not in escaped
    assert "<h1" not in rendered(f"- {escaped}")


@pytest.mark.parametrize("limit", range(40, 46))
def test_a_limit_never_ends_on_half_an_escape(limit):
    escaped = markdown_text("a" + "*" * 500, limit=limit)
    assert len(escaped) <= limit and escaped.endswith("\u2026")
    assert "<strong>ours</strong>" in rendered(f"{escaped} **ours**")   # our own markup after it is intact


# ---------------------------------------------------------------- through a hook call
def condition(text, rid):
    return {"resourceType": "Condition", "id": rid, "subject": {"reference": "Patient/pat-1"},
            "clinicalStatus": {"coding": [{"code": "active"}]}, "code": {"text": text}}


def bundle(*resources):
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def hostile_call():
    conditions = [condition(f"Asthma {text}", f"c-{n}") for n, text in enumerate(HOSTILE)]
    allergy = {"resourceType": "AllergyIntolerance", "id": "al-1", "patient": {"reference": "Patient/pat-1"},
               "category": ["medication"], "code": {"text": "Venofer"},
               "clinicalStatus": {"coding": [{"code": "active"}]},
               "reaction": [{"manifestation": [{"text": f"{IMAGE} {SCRIPT}"}]}]}
    stopped = {"resourceType": "MedicationAdministration", "id": "ma-1", "status": "stopped",
               "subject": {"reference": "Patient/pat-1"},
               "medicationCodeableConcept": {"text": "Venofer"}, "statusReason": [{"text": f"reaction {PHISH}"}],
               "effectivePeriod": {"start": "2026-10-01T10:00:00Z", "end": "2026-10-01T10:10:00Z"},
               "dosage": {"route": {"text": "Intravenous"}, "dose": {"value": 200, "unit": "mg", "code": "mg"}}}
    order = medication_request(dose_mg=750, minutes=15)
    order["dosageInstruction"][0]["timing"]["repeat"]["durationUnit"] = f"min{PHISH}"
    return hook_request(order, prefetch={
        "patient": {"resourceType": "Patient", "id": "pat-1", "birthDate": "1980-01-15"},
        "conditions": bundle(*conditions), "allergies": bundle(allergy), "ironAdministrations": bundle(stopped),
    })


def test_hostile_patient_text_reaches_the_card_as_literal_text(client):
    response = client.post(HOOK_URL, json=hostile_call())
    assert response.status_code == 200
    cards = response.get_json()["cards"]
    details = "\n".join(card.get("detail", "") for card in cards)
    assert "Asthma" in details and "statusReason" not in details
    html = rendered(details)
    assert "evil.example" in html and "e/i.png" in html       # shown, as text
    assert 'href="https://evil.example' not in html and "<img" not in html and "<script" not in html
    assert "<strong>urgent</strong>" not in html
    for card in cards:
        assert "\\" not in card["summary"]                    # the summary is plain text: no escapes shown


def test_an_unknown_products_own_name_and_route_are_escaped(client):
    order = medication_request(code="0000000", display=f"IV iron {PHISH}", dose_mg=200, minutes=15)
    order["medicationCodeableConcept"] = {"text": f"IV iron {PHISH}"}
    order["dosageInstruction"][0]["route"] = {"text": f"IV {IMAGE}"}
    response = client.post(HOOK_URL, json=hook_request(order, prefetch={
        "patient": {"resourceType": "Patient", "id": "pat-1", "birthDate": "1980-01-15"}}))
    assert response.status_code == 200
    cards = response.get_json()["cards"]
    assert cards, "an IV-iron order by class gets cards"
    html = rendered("\n\n".join(card.get("detail", "") for card in cards))
    assert "<a " not in html and "<img" not in html


# ---------------------------------------------------------------- the console preview
TOKEN = "console-test-token-0123456789-abcdef"


def test_console_preview_renders_no_live_link_from_patient_text(make_app):
    console = make_app(console_token=TOKEN).test_client()
    call = hostile_call()
    entries = [{"resource": call["prefetch"]["patient"]}]
    for key in ("conditions", "allergies", "ironAdministrations"):
        entries += call["prefetch"][key]["entry"]
    page = console.post("/console/preview", headers={"Authorization": f"Bearer {TOKEN}"},
                        data={"patient_bundle": json.dumps({"resourceType": "Bundle", "entry": entries}),
                              "order": json.dumps(call["context"]["draftOrders"]["entry"][0]["resource"]),
                              "hook": "order-sign"}).get_data(as_text=True)
    assert "Asthma" in page
    assert 'href="https://evil.example' not in page and 'src="http://e/i.png"' not in page
    assert "<script>alert" not in page


def test_console_markdown_keeps_only_links_to_our_sources():
    knowledge = load_knowledge()
    allowed = knowledge_links(knowledge)
    ours = next(iter(s.url for s in knowledge.sources.values() if s.url))
    html = render_markdown(f"See [the label]({ours}), {PHISH}, {IMAGE} and <https://evil.example/x>.", allowed)
    assert html.count("<a ") == 1 and "evil.example/login" in html and "<img" not in html
    assert 'href="https://evil.example' not in html
    assert "[phish](https://evil.example/login)" in html                # shown as it was written
