"""Cards as a prescriber would read them, for the terminal (``iron-cds fire`` without ``--json``)."""

from __future__ import annotations

import re
import textwrap

from cds_service.engine.model import urgency

_INDICATOR = {"critical": "CRITICAL", "warning": "WARNING", "info": "INFO"}


def render_response(response: dict, width: int = 100) -> str:
    cards = response.get("cards") or []
    lines: list[str] = []
    if not cards:
        lines.append("No cards: nothing to say about these orders.")
    else:
        lines.append(f"{len(cards)} card{'s' if len(cards) != 1 else ''}:")
    for number, card in enumerate(sorted(cards, key=lambda c: urgency(c.get("indicator"))), start=1):
        lines.append("")
        lines.extend(_card(number, card, width))
    for action in response.get("systemActions") or []:
        lines.append("")
        lines.append(f"system action: {_action(action)}")
    return "\n".join(lines) + "\n"


def _card(number: int, card: dict, width: int) -> list[str]:
    indicator = _INDICATOR.get(card.get("indicator"), str(card.get("indicator")).upper())
    source = card.get("source") or {}
    topic = (source.get("topic") or {}).get("code")
    lines = [f"{number}. [{indicator}] {card.get('summary', '')}"]
    meta = ", ".join(x for x in (f"topic {topic}" if topic else "", source.get("label", "")) if x)
    if meta:
        lines.append(f"   ({meta})")
    for block in _markdown_blocks(card.get("detail") or ""):
        if not block:
            lines.append("")
            continue
        bullet = _BULLET.match(block)
        hang = "   " + " " * (bullet.end() if bullet else 0)
        lines.extend(textwrap.wrap(block, width=width, initial_indent="   ", subsequent_indent=hang))
    suggestions = card.get("suggestions") or []
    if suggestions:
        lines.append(f"   Suggestions ({card.get('selectionBehavior', '?')}):")
        for suggestion in suggestions:
            star = " [recommended]" if suggestion.get("isRecommended") else ""
            lines.append(f"   * {suggestion.get('label', '')}{star}")
            for action in suggestion.get("actions") or []:
                lines.append(f"       - {_action(action, suggestion.get('label'))}")
    reasons = [r.get("display") or r.get("code") for r in card.get("overrideReasons") or []]
    if reasons:
        lines.extend(textwrap.wrap("Override reasons: " + "; ".join(str(r) for r in reasons), width=width,
                                   initial_indent="   ", subsequent_indent="     "))
    for link in card.get("links") or []:
        lines.append(f"   link: {link.get('label', '')} <{link.get('url', '')}>")
    return lines


_BULLET = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")


def _markdown_blocks(detail: str) -> list[str]:
    """Paragraphs and list items of a markdown detail, each on one line ("" between paragraphs)."""
    blocks: list[str] = []
    current: list[str] = []
    for raw in detail.strip().splitlines():
        line = raw.strip()
        starts_block = not line or _BULLET.match(raw) or line.startswith("#") or (
            line.startswith("**") and line.endswith("**"))
        if starts_block and current:
            blocks.append(" ".join(current))
            current = []
        if not line:
            if blocks and blocks[-1] != "":
                blocks.append("")
            continue
        current.append(line)
    if current:
        blocks.append(" ".join(current))
    return blocks


def _action(action: dict, label: str | None = None) -> str:
    kind = action.get("type", "?")
    resource = action.get("resource")
    target = action.get("resourceId") or ""
    if isinstance(resource, dict):
        target = resource.get("resourceType", "?")
        if resource.get("id"):
            target = f"{target}/{resource['id']}"
        summary = describe_resource(resource)
        text = f"{kind} {target}: {summary}" if summary else f"{kind} {target}"
    else:
        text = f"{kind} {target}".rstrip()
    description = action.get("description")
    return f"{text}  ({description})" if description and description != label else text


def describe_resource(resource: dict) -> str:
    """One compact line: what is ordered, how much, how fast, when."""
    parts: list[str] = []
    concept = resource.get("medicationCodeableConcept") or resource.get("code")
    name = _concept_text(concept)
    if name:
        parts.append(name)
    for dosage in resource.get("dosageInstruction") or []:
        parts.extend(_dosage(dosage))
    if resource.get("status"):
        parts.append(f"status {resource['status']}")
    for note in resource.get("note") or []:
        if isinstance(note, dict) and note.get("text"):
            parts.append(f"note: {note['text']}")
    return "; ".join(parts)


def _concept_text(concept) -> str:
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"])
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and (coding.get("display") or coding.get("code")):
            return str(coding.get("display") or coding.get("code"))
    return ""


def _quantity(q) -> str:
    if not isinstance(q, dict) or q.get("value") is None:
        return ""
    if not isinstance(q["value"], (int, float)):
        return str(q["value"])
    return f"{q['value']:g} {q.get('unit') or q.get('code') or ''}".strip()


def _dosage(dosage: dict) -> list[str]:
    parts: list[str] = []
    if not isinstance(dosage, dict):
        return parts
    if dosage.get("text"):
        parts.append(f'text "{dosage["text"]}"')      # quoted: it may disagree with the coded fields
    route = _concept_text(dosage.get("route"))
    for dose_and_rate in dosage.get("doseAndRate") or []:
        if not isinstance(dose_and_rate, dict):
            continue
        dose = _quantity(dose_and_rate.get("doseQuantity"))
        if dose:
            parts.append(f"dose {dose}")
        rate = _quantity(dose_and_rate.get("rateQuantity"))
        if rate:
            parts.append(f"rate {rate}")
    if route:
        parts.append(f"route {route}")
    repeat = ((dosage.get("timing") or {}).get("repeat") or {}) if isinstance(dosage.get("timing"), dict) else {}
    if repeat.get("duration") is not None:
        parts.append(f"over {repeat['duration']:g} {repeat.get('durationUnit', '')}".rstrip()
                     if isinstance(repeat["duration"], (int, float)) else f"over {repeat['duration']}")
    for premed in dosage.get("additionalInstruction") or []:
        text = _concept_text(premed)
        if text:
            parts.append(text)
    return parts
