"""Findings -> CDS Hooks 2.0 response: ``{"cards": [...]}``.

The engine decides *what* to say; this module only shapes it the way the
2.0 spec and our interface contract require (uuids, summary length, source and
topic, suggestions with ``selectionBehavior``, override reasons), and lists the
cited sources when the rule's detail does not already do so. Optional fields
without a value are left out, never sent as null / "" / [] (the spec forbids
empty optional values). Whatever the engine hands over, the response stays valid
2.0: a bad indicator is shown as a warning and an unusable suggestion is dropped,
both logged, because an EHR may reject a whole response for one bad card.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any, Iterable

from cds_service.engine import topics
from cds_service.engine.compiled import per_knowledge
from cds_service.engine.model import INDICATORS, Finding, SuggestionSpec, urgency
from cds_service.engine.text import fit_summary, sources_heading
from cds_service.handouts import content as handout_content
from cds_service.handouts import handout_path
from cds_service.ids import uuid4

TOPIC_SYSTEM = "urn:iron-cds:card-topic"
OVERRIDE_SYSTEM = "urn:iron-cds:override-reason"

DEFAULT_SERVICE_LABEL = "iron-cds IV iron order check"
_ACTIONS = ("create", "update", "delete")

log = logging.getLogger("iron_cds.cards")


def build_response(findings: Iterable[Finding], knowledge, handout_base: str | None = None,
                   jurisdiction: str | None = None) -> dict:
    """One card per finding, most urgent first (stable within an indicator).

    ``handout_base`` is the service's public base URL: with it, one card of each IV-iron order links to the
    patient handout for the ordered product (unless the knowledge turns the link off; see ``_handout_hosts``).
    ``jurisdiction`` picks the spelling the prescriber reads (wording ``spelling``: US text, UK words under EU).
    """
    findings = list(findings)
    hosts = _handout_hosts(findings)
    cards = []
    for finding in findings:
        card = localise_card(build_card(finding, knowledge), knowledge, jurisdiction)
        link = _handout_link(finding, knowledge, handout_base) if id(finding) in hosts else None
        if link:
            card["links"] = [link]
        cards.append(card)
    cards.sort(key=lambda card: urgency(card["indicator"]))
    return {"cards": cards}


def _handout_hosts(findings: list[Finding]) -> set[int]:
    """The card of each order that carries its handout link: the observation card, else (an observation
    order already drafted) the order's most urgent other card, so the handout stays one click away. None
    beside a critical card: a handout for an infusion the service asks not to give would read as going ahead."""
    by_order: dict[str, list[Finding]] = {}
    for finding in findings:
        if finding.order is not None:
            by_order.setdefault(finding.order.request_id, []).append(finding)
    hosts = set()
    for own in by_order.values():
        if any(f.indicator == "critical" for f in own):
            continue
        host = next((f for f in own if f.topic == "observation-period"), None) or \
            min(own, key=lambda f: urgency(f.indicator))
        hosts.add(id(host))
    return hosts


def _handout_link(finding: Finding, knowledge, base: str | None) -> dict | None:
    product_key = finding.order.product_key if finding.order else None
    if not base or product_key not in knowledge.products or not knowledge.handouts.get("link_on_card", True):
        return None
    language = handout_content.default_language(knowledge)
    return {"label": handout_content.link_label(knowledge, language),
            "url": base.rstrip("/") + handout_path(product_key, language), "type": "absolute"}


def build_card(finding: Finding, knowledge) -> dict:
    wording = knowledge.wording or {}
    topic_wording = (wording.get("topics") or {}).get(finding.topic) or {}
    display = topic_wording.get("display")
    if not display:   # the registry's display only when wording.yaml lacks one: a card must never lose its topic
        declared = topics.by_code(finding.topic)
        display = declared.display if declared else finding.topic
    card = {
        "uuid": uuid4(),
        # summary is required: a finding without one still gets a card that says where to look
        "summary": fit_summary(finding.summary) or fit_summary(f"{display}: see the details"),
        "indicator": _indicator(finding),
        "detail": _detail(finding, knowledge),
        "source": _compact({
            "label": _source_label(knowledge),
            "url": _service_url(wording) or _main_label_url(finding, knowledge),
            "topic": {
                "system": TOPIC_SYSTEM,
                "code": finding.topic,
                "display": display,
            },
        }),
    }
    suggestions = [_suggestion(spec) for spec in finding.suggestions if _usable(spec, finding.topic)]
    if suggestions:
        card["suggestions"] = suggestions
        # Each suggestion is independent (a rate change and a premedication can both be taken).
        card["selectionBehavior"] = "any"
    reasons = _override_reasons(topic_wording, wording, finding.override_reason_sets)
    if reasons:
        card["overrideReasons"] = reasons
    return _compact(card)


def source_label(knowledge) -> str:
    """The card's source label names the knowledge version that produced it (CDS Hooks 2.0: source.label is
    free text), so a card can be traced to the signed-off knowledge files."""
    wording = knowledge.wording or {}
    service = wording.get("service_label") or DEFAULT_SERVICE_LABEL
    version = getattr(knowledge, "version", None)
    template = wording.get("source_label") or "{service} (knowledge {version})"
    if not version:
        return service
    try:
        return template.format(service=service, version=version)
    except (KeyError, IndexError, ValueError):
        return f"{service} (knowledge {version})"


_source_label = per_knowledge(source_label)   # the same on every card: made once per Knowledge


def localise_card(card: dict, knowledge, jurisdiction: str | None) -> dict:
    """Apply the jurisdiction's spelling to what a prescriber reads (summary, detail, labels, reasons).

    Resources inside suggestions keep their coded displays; only the words shown on the card change."""
    spelling = ((knowledge.wording or {}).get("spelling") or {}).get(jurisdiction or "") or {}
    if not spelling:
        return card
    fix = functools.partial(respell, spelling)
    card["summary"] = fit_summary(fix(card["summary"]))
    if "detail" in card:
        card["detail"] = fix(card["detail"])
    for suggestion in card.get("suggestions", ()):
        suggestion["label"] = fix(suggestion["label"])
        for action in suggestion.get("actions", ()):
            if "description" in action:
                action["description"] = fix(action["description"])
    for reason in card.get("overrideReasons", ()):
        reason["display"] = fix(reason["display"])
    return card


@functools.lru_cache(maxsize=8)
def _spelling_pattern(words: tuple[str, ...]) -> re.Pattern:
    alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(r"\b(" + alternatives + r")\b", re.IGNORECASE)


def respell(spelling: dict, text: str) -> str:
    """Replace whole words (case of the first letter kept): {"anemia": "anaemia"}."""
    lower = {str(k).lower(): str(v) for k, v in spelling.items()}
    if not text or not lower:
        return text

    def swap(match: re.Match) -> str:
        word = match.group(0)
        new = lower[word.lower()]
        return new[:1].upper() + new[1:] if word[:1].isupper() else new

    return _spelling_pattern(tuple(lower)).sub(swap, text)


def _detail(finding: Finding, knowledge) -> str:
    detail = (finding.detail or "").strip()
    heading = sources_heading(knowledge)
    # The rules cite fact by fact when they can; add the source list only when they did not.
    if heading in detail:
        return detail
    block = sources_block(finding, knowledge)
    return "\n\n".join(part for part in (detail, block) if part)




def sources_block(finding: Finding, knowledge) -> str:
    """Markdown list of the cited sources (where each value comes from, never how sure we are of it:
    verification status belongs to the console and ``check-knowledge``)."""
    if not finding.sources:
        return ""
    lines = [sources_heading(knowledge)]
    for source_id in dict.fromkeys(finding.sources):
        source = knowledge.sources.get(source_id)
        if source is None:
            continue  # check-knowledge refuses unknown ids; never print a bare id to a prescriber
        title = source.title.replace("[", "(").replace("]", ")")
        lines.append(f"- [{title}]({source.url})" if source.url else f"- {title}")
    return "\n".join(lines) if len(lines) > 1 else ""


def _service_url(wording: dict) -> str | None:
    # Unset (the packaged default): the card points at the label it rests on instead.
    return wording.get("source_url") or None


def _main_label_url(finding: Finding, knowledge) -> str | None:
    """The ordered product's label when the card cites it, else the first cited source, else any label."""
    product = knowledge.products.get(finding.order.product_key) if finding.order is not None else None
    labels = [label.source for label in product.labels.values()] if product else []
    cited_first = [sid for sid in labels if sid in finding.sources] + list(finding.sources) + labels
    for source_id in cited_first:
        source = knowledge.sources.get(source_id)
        if source is not None and source.url:
            return source.url
    return None


def _indicator(finding: Finding) -> str:
    if finding.indicator in INDICATORS:
        return finding.indicator
    # An engine bug must not make the EHR reject every card: show it, loudly rather than quietly.
    log.error("finding with an invalid indicator shown as warning",
              extra={"event": "card-invalid-indicator", "topic": finding.topic})
    return "warning"


def _usable(spec: SuggestionSpec, topic: str) -> bool:
    """Only suggestions the EHR can apply; a broken one is dropped (and logged), never sent half-formed."""
    if spec.action not in _ACTIONS or not (spec.label or "").strip():
        ok = False
    elif spec.action == "delete":
        ok = bool(spec.resource_id or _reference_of(spec.resource))
    else:
        ok = isinstance(spec.resource, dict) and bool(spec.resource.get("resourceType"))
    if not ok:
        log.error("unusable suggestion dropped", extra={"event": "card-invalid-suggestion", "topic": topic,
                                                        "action": str(spec.action)})
    return ok


def _suggestion(spec: SuggestionSpec) -> dict:
    action: dict[str, Any] = {"type": spec.action, "description": (spec.description or "").strip() or spec.label}
    if spec.action == "delete":
        # 2.0: a delete names the resource by relative reference, never by carrying it.
        action["resourceId"] = spec.resource_id or _reference_of(spec.resource)
    else:
        action["resource"] = spec.resource
    suggestion = {"uuid": uuid4(), "label": spec.label, "actions": [_compact(action)]}
    if spec.is_recommended:
        suggestion["isRecommended"] = True
    return suggestion


def _reference_of(resource: dict | None) -> str | None:
    if resource and resource.get("resourceType") and resource.get("id"):
        return f"{resource['resourceType']}/{resource['id']}"
    return None


def _override_reasons(topic_wording: dict, wording: dict, sets: tuple[str, ...] = ()) -> list[dict]:
    if sets:
        reasons = [r for name in sets for r in (topic_wording.get(name) or ())]
    else:
        reasons = topic_wording.get("override_reasons")
    if reasons is None:
        reasons = wording.get("override_reasons") or ()
    codings = []
    seen: set[str] = set()
    for reason in reasons:
        if isinstance(reason, dict) and reason.get("code") and reason.get("display") and reason["code"] not in seen:
            seen.add(str(reason["code"]))
            codings.append({"system": OVERRIDE_SYSTEM, "code": str(reason["code"]), "display": str(reason["display"])})
    return codings


def _compact(obj: dict) -> dict:
    """Drop keys whose value is None, "" or an empty container (top level only)."""
    return {k: v for k, v in obj.items() if v is not None and v != "" and v != [] and v != {}}
