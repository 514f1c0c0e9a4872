"""Every fixture scenario's cards read as a pharmacy committee would accept them.

Over every card of every scenario (summary, detail, source label and address, suggestion labels and
action descriptions, override reasons): no development notes, no AI or aggregator sites, no verification
status, no raw ISO dates, units and lists that read naturally, US spelling under the US labels and UK
spelling under the EU ones, override reasons that fit the card, and source addresses from primary
publishers only.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from cds_service.app import create_app
from cds_service.config import Config
from cds_service.knowledge.loader import load_knowledge
from support.e2e import SCENARIOS, clients_by_jurisdiction, pin_now, request_with_prefetch, service_url

# Notes meant for developers or reviewers, never for a prescriber.
DEVELOPMENT_NOTES = re.compile(
    r"\bissue \d+|\brecalled\b|primary text not read|not (yet )?verified|weak corroboration|weak source|"
    r"confirmed in the source|unconfirmed|assumed to apply|clinical owners|\bTODO\b|\bFIXME\b|\bXXX\b|"
    r"\[S-[A-Z0-9-]+\]|\bS-[A-Z]{2,}(-[A-Z0-9]+)+\b|stricter value is used", re.IGNORECASE)
# AI question-and-answer sites and drug-information aggregators: never evidence.
AGGREGATORS = re.compile(
    r"droracle|inpharmd|drugs\.com|rxlist|medscape|webmd|thebloodproject|blood project|prescriberpoint|globalrph|"
    r"skyscape|epocrates|wikipedia|chatgpt|openai|perplexity|\.ai\b|mims\.com|drugbank|uptodate|lexicomp",
    re.IGNORECASE)
ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}(T\d{2}:\d{2})?")
SINGULAR_PLURAL = re.compile(r"(?<![\d.,])1 (minutes|seconds|hours|days|weeks|months|years)\b")
BARE_COMMA_PAIR = re.compile(r"blood pressure, pulse\b")
URL = re.compile(r"https?://[^\s)\]>\"']+")
# Publishers of labels, regulators' documents, guidelines, papers and terminologies.
PRIMARY_HOSTS = (
    "dailymed.nlm.nih.gov", "www.nlm.nih.gov", "www.ncbi.nlm.nih.gov", "pmc.ncbi.nlm.nih.gov", "api.fda.gov",
    "www.fda.gov", "precision.fda.gov", "www.ema.europa.eu", "www.medicines.org.uk", "www.gov.uk",
    "www.fachinfo.de", "doi.org", "ashpublications.org", "kdigo.org", "insights.ovid.com", "hl7.org",
    "loinc.org", "browser.ihtsdotools.org", "atcddd.fhi.no", "www.ehealth.fgov.be",
)
US_ONLY = re.compile(r"\b(hypophosphataemi\w*|anaemi\w*|haemoglobin|haemodialysis|oedema|paediatric)\b", re.IGNORECASE)
UK_ONLY = re.compile(r"\b(hypophosphatemi\w*|anemi\w*|hemoglobin|hemodialysis|edema|pediatric)\b", re.IGNORECASE)



@pytest.fixture(scope="module")
def scenario_cards(tmp_path_factory):
    """name -> (jurisdiction, cards) for every fixture scenario, prefetch complete (run once per module)."""
    out = {}
    database = tmp_path_factory.mktemp("wording") / "iron-cds.db"
    client_for = clients_by_jurisdiction(lambda jurisdiction: create_app(
        Config(auth="off", database_url=f"sqlite:///{database}", jurisdiction=jurisdiction)).test_client())
    with pytest.MonkeyPatch.context() as monkeypatch:
        pin_now(monkeypatch)
        for name in sorted(SCENARIOS):
            jurisdiction = SCENARIOS[name].get("jurisdiction", "US")
            client = client_for(name)
            body = request_with_prefetch(client, name)
            response = client.post(service_url(client, body["hook"]), json=body)
            assert response.status_code == 200, response.get_data(as_text=True)
            out[name] = (jurisdiction, response.get_json()["cards"])
    return out


def _texts(card: dict) -> list[tuple[str, str]]:
    """(where, text) of everything on the card a person reads."""
    texts = [("summary", card["summary"]), ("detail", card.get("detail", "")),
             ("source.label", card["source"].get("label", "")), ("source.url", card["source"].get("url", ""))]
    for suggestion in card.get("suggestions", ()):
        texts.append(("suggestion.label", suggestion["label"]))
        texts += [("action.description", a.get("description", "")) for a in suggestion.get("actions", ())]
    texts += [("link.label", link.get("label", "")) for link in card.get("links", ())]
    texts += [("overrideReason", r.get("display", "")) for r in card.get("overrideReasons", ())]
    return texts


def spelling_check(jurisdiction: str) -> tuple[str, re.Pattern]:
    if jurisdiction == "US":
        return "UK spelling under the US label", US_ONLY
    return "US spelling under the EU label", UK_ONLY


def _problems(jurisdiction: str, card: dict) -> list[str]:
    found = []
    for where, text in _texts(card):
        for name, pattern in (("development note", DEVELOPMENT_NOTES), ("aggregator/AI site", AGGREGATORS),
                              ("raw ISO date", ISO_DATE), ("'1 <plural>'", SINGULAR_PLURAL),
                              ("unjoined list", BARE_COMMA_PAIR),
                              spelling_check(jurisdiction)):
            match = pattern.search(text)
            if match:
                found.append(f"{where}: {name} {match.group(0)!r}")
        for url in URL.findall(text):
            if urlsplit(url).hostname not in PRIMARY_HOSTS:
                found.append(f"{where}: source address not from a primary publisher: {url}")
    return found


def test_scenarios_have_cards(scenario_cards):
    assert sum(len(cards) for _, cards in scenario_cards.values()) > 20


def test_no_card_shows_development_notes_aggregators_raw_dates_or_awkward_units(scenario_cards):
    problems = [f"{name} / {card['summary']!r}: {p}"
                for name, (jurisdiction, cards) in scenario_cards.items() for card in cards
                for p in _problems(jurisdiction, card)]
    assert not problems, "\n".join(problems)


def test_override_reasons_fit_the_card(scenario_cards):
    """An antihistamine reason only on a card about a drafted antihistamine; a premedication reason only
    on a card that suggests premedication."""
    misfits = []
    for name, (_, cards) in scenario_cards.items():
        for card in cards:
            summary = card["summary"].lower()
            for reason in card.get("overrideReasons", ()):
                display = reason["display"].lower()
                if "antihistamine" in display and "avoid" not in summary:
                    misfits.append(f"{name}: {reason['display']!r} on {card['summary']!r}")
                if display.startswith("premedication") and "premedicate" not in summary and "use " not in summary:
                    misfits.append(f"{name}: {reason['display']!r} on {card['summary']!r}")
    assert not misfits, "\n".join(misfits)


def test_every_card_names_the_knowledge_version(scenario_cards):
    """Each card's source says which signed-off knowledge version produced it (CDS Hooks 2.0: free-text label)."""
    version = load_knowledge().version
    assert version and "unsigned" not in version
    for _, cards in scenario_cards.values():
        for card in cards:
            assert card["source"]["label"] == f"iron-cds IV iron order check (knowledge {version})"


@pytest.mark.parametrize("text, expected", [
    ("from droracle.ai", "aggregator/AI site"),
    ("thresholds (issue 3: chosen by the clinical owners)", "development note"),
    ("60 minutes (recalled, primary text not read)", "development note"),
    ("given on 2026-07-20T09:10:00Z", "raw ISO date"),
    ("over 1 minutes", "'1 <plural>'"),
    ("checking blood pressure, pulse.", "unjoined list"),
    ("symptomatic hypophosphataemia", "UK spelling"),
])
def test_the_checks_catch_what_they_are_for(text, expected):
    card = {"summary": "x", "detail": text, "source": {"label": "iron-cds (knowledge 1)"}}
    assert any(expected in p for p in _problems("US", card))


def test_a_source_address_outside_the_primary_publishers_is_caught():
    card = {"summary": "x", "source": {"label": "x", "url": "https://www.thebloodproject.com/faq"}}
    assert any("primary publisher" in p for p in _problems("US", card))
    card = {"summary": "x", "source": {"label": "x", "url": "https://dailymed.nlm.nih.gov/dailymed/drugInfo.cfm?setid=1"}}
    assert _problems("US", card) == []
