"""The patient handout: served per product and language, numbers from the facts, linked from the card."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
import yaml

from cds_service.knowledge.loader import load_knowledge, validate
from support.hook_requests import hook_request, hook_url, medication_request

KNOWLEDGE = load_knowledge()
PRODUCTS = sorted(KNOWLEDGE.products)
LANGUAGES = sorted(KNOWLEDGE.handouts["languages"])


def _get(client, product, lang):
    return client.get(f"/handouts/iv-iron?product={product}&lang={lang}")


def _expected_minutes(product: str, jurisdiction: str = "US") -> tuple[str, str]:
    label = KNOWLEDGE.products[product].labels[jurisdiction]
    infusion = min(b.min_minutes for b in label.time_bands if b.method in ("infusion", "any"))
    observation = max(float(label.observation_minutes.value),
                      float(KNOWLEDGE.protocol.observation.default_minutes.value))
    return f"{infusion:g}", f"{observation:g}"


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("product", PRODUCTS)
def test_every_product_and_language_renders_with_the_products_own_times(client, product, lang):
    response = _get(client, product, lang)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    infusion, observation = _expected_minutes(product)
    assert f'<html lang="{lang}">' in page
    assert KNOWLEDGE.products[product].display in page
    assert re.search(rf"\b{re.escape(infusion)} (minutes|minutos)\b", page), infusion
    assert re.search(rf"\b{re.escape(observation)} (minutes|minutos)\b", page), observation


def test_the_eu_label_gives_its_own_times(make_app):
    # ferric carboxymaltose: the US label's shortest infusion is 15 minutes, the EU SmPC's 6
    us, eu = make_app().test_client(), make_app(jurisdiction="EU").test_client()
    assert _expected_minutes("ferric_carboxymaltose", "EU")[0] != _expected_minutes("ferric_carboxymaltose", "US")[0]
    for client, jurisdiction in ((us, "US"), (eu, "EU")):
        infusion, _ = _expected_minutes("ferric_carboxymaltose", jurisdiction)
        assert f"at least {infusion} minutes" in _get(client, "ferric_carboxymaltose", "en").get_data(as_text=True)


def test_product_notes_follow_the_labels_risks(client):
    ferumoxytol = _get(client, "ferumoxytol", "en").get_data(as_text=True)
    carboxymaltose = _get(client, "ferric_carboxymaltose", "en").get_data(as_text=True)
    sucrose = _get(client, "iron_sucrose", "en").get_data(as_text=True)
    assert "MRI" in ferumoxytol and "3 months" in ferumoxytol          # label: up to 90 days
    assert "phosphate" in carboxymaltose and "MRI" not in carboxymaltose
    assert "MRI" not in sucrose and "phosphate" not in sucrose


def test_no_script_no_external_resource_and_the_console_policy(client):
    response = _get(client, "iron_sucrose", "es")
    page = response.get_data(as_text=True)
    assert "<script" not in page.lower()
    for attribute in re.findall(r'(?:src|href)="([^"]*)"', page):
        assert not urlsplit(attribute).netloc and not attribute.startswith("//"), attribute
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy


def test_the_page_carries_no_patient_data_and_echoes_nothing(client):
    page = client.get("/handouts/iv-iron?product=iron_sucrose&lang=en&patient=Patient/icds-secret-42"
                      ).get_data(as_text=True)
    assert "icds-secret-42" not in page


@pytest.mark.parametrize("query", ["product=no-such-product&lang=en", "product=iron_sucrose&lang=fr", "",
                                   "product=%3Cscript%3E&lang=en"])
def test_an_unknown_product_or_language_is_a_404_that_says_what_exists(client, query):
    response = client.get(f"/handouts/iv-iron?{query}")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "<script>" not in page and "Traceback" not in page
    assert "iron_sucrose" in page or "en" in page


def _observation_card(client, **order):
    body = hook_request(medication_request(**order))
    cards = client.post(hook_url("order-sign"), json=body).get_json()["cards"]
    return next(c for c in cards if c["source"]["topic"]["code"] == "observation-period")


def test_the_observation_card_links_the_handout_for_the_ordered_product(client):
    card = _observation_card(client)                  # the default draft is ferric carboxymaltose 750 mg
    [link] = card["links"]
    assert link["type"] == "absolute" and link["label"] == "Patient handout (print)"
    parts = urlsplit(link["url"])
    assert parts.scheme in ("http", "https") and parts.netloc
    page = client.get(f"{parts.path}?{parts.query}")
    assert page.status_code == 200 and "ferric carboxymaltose" in page.get_data(as_text=True)


def test_the_link_is_built_from_the_public_base_url(make_app):
    client = make_app(public_base_url="https://cds.example.org/iron").test_client()
    [link] = _observation_card(client)["links"]
    assert link["url"] == "https://cds.example.org/iron/handouts/iv-iron?product=ferric_carboxymaltose&lang=en"


def test_only_the_observation_card_carries_the_link(client):
    cards = client.post(hook_url("order-sign"), json=hook_request(medication_request(minutes=2))).get_json()["cards"]
    assert len(cards) > 1
    assert [c["source"]["topic"]["code"] for c in cards if c.get("links")] == ["observation-period"]


def test_with_the_observation_already_drafted_the_remaining_card_carries_the_link(client):
    observation = {"resourceType": "ServiceRequest", "id": "sr-1", "status": "draft", "intent": "order",
                   "code": {"coding": [{"system": "http://snomed.info/sct", "code": "61746007"}]},
                   "subject": {"reference": "Patient/pat-1"}}
    body = hook_request(medication_request(minutes=2), observation)
    cards = client.post(hook_url("order-sign"), json=body).get_json()["cards"]
    assert "observation-period" not in [c["source"]["topic"]["code"] for c in cards]
    assert [c["source"]["topic"]["code"] for c in cards if c.get("links")] == ["infusion-rate"]


def test_a_protocol_switch_turns_the_link_off(make_app, tmp_path):
    override = tmp_path / "local.yaml"
    override.write_text(yaml.safe_dump({"handouts": {"link_on_card": False}}))
    client = make_app(knowledge_path=str(override)).test_client()
    assert "links" not in _observation_card(client)


def _problems(tmp_path, handouts: dict) -> list[str]:
    override = tmp_path / "override.yaml"
    override.write_text(yaml.safe_dump({"handouts": handouts}, allow_unicode=True))
    return validate(str(override))[1]


def test_check_knowledge_accepts_the_packaged_handouts():
    assert validate()[1] == []


def test_a_number_written_into_the_text_is_refused(tmp_path):
    problems = _problems(tmp_path, {"languages": {"en": {"intro": "The drip takes 15 minutes."}}})
    assert any("languages.en.intro" in p and "placeholder" in p for p in problems), problems


def test_an_unknown_placeholder_is_refused(tmp_path):
    problems = _problems(tmp_path, {"languages": {"en": {"footer": "About {dose_mg}."}}})
    assert any("languages.en.footer" in p and "dose_mg" in p for p in problems), problems


def test_a_language_added_by_an_institution_must_be_complete(tmp_path):
    problems = _problems(tmp_path, {"languages": {"fr": {"name": "Français", "title": "Votre perfusion de fer"}}})
    assert any("languages.fr.intro" in p for p in problems), problems
    assert any("languages.fr.sections" in p for p in problems), problems


def test_the_default_language_must_be_listed(tmp_path):
    problems = _problems(tmp_path, {"default_language": "de"})
    assert any("default_language" in p for p in problems), problems


def test_a_complete_added_language_is_served(make_app, tmp_path):
    english = KNOWLEDGE.handouts["languages"]["en"]
    override = tmp_path / "local.yaml"
    override.write_text(yaml.safe_dump({"handouts": {"languages": {"xx": dict(english, name="Test language")}}}))
    assert validate(str(override))[1] == []
    client = make_app(knowledge_path=str(override)).test_client()
    assert _get(client, "iron_sucrose", "xx").status_code == 200
