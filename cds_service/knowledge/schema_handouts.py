"""Validation of cards/handouts.yaml: every language complete, numbers only through placeholders.

A digit written into the wording would go stale when a label changes, so the text may hold none: numbers
come from the facts through the placeholders below (cds_service/handouts/content.py fills them).
"""

from __future__ import annotations

import re
import string
from typing import Any, Iterator

PLACEHOLDERS = ("product", "infusion_minutes", "observation_minutes", "mri_months", "phosphate_months")
# A product note is keyed by the label risk it explains; the value names its placeholder and the risk's field.
NOTE_WINDOWS = {"mri-interference": ("mri_months", "duration_days"),
                "hypophosphataemia": ("phosphate_months", "redose_within_days")}
TEXT_KEYS = ("name", "link_label", "title", "intro", "product_heading", "footer")
_DIGIT = re.compile(r"\d")

Problem = tuple[tuple, str]


def handout_problems(handouts: Any, sources: dict) -> list[Problem]:
    if not isinstance(handouts, dict):
        return [((), "Must be a mapping (default_language, link_on_card, sources, languages).")]
    problems: list[Problem] = []
    blocks = handouts.get("languages")
    if not isinstance(blocks, dict) or not blocks:
        return [(("languages",), "Must list at least one language.")]
    if handouts.get("default_language") not in blocks:
        problems.append((("default_language",), f"Must be one of the languages listed ({', '.join(sorted(blocks))})."))
    if not isinstance(handouts.get("link_on_card", True), bool):
        problems.append((("link_on_card",), "Must be true or false."))
    for index, cited in enumerate(handouts.get("sources") or ()):
        if cited not in sources:
            problems.append((("sources", index), f"Unknown source id {cited!r}: add it to sources.yaml or fix the id."))
    for code, block in blocks.items():
        problems += [(("languages", code) + path, message) for path, message in _language_problems(block)]
    return problems


def _language_problems(block: Any) -> Iterator[Problem]:
    if not isinstance(block, dict):
        yield (), "Must be a mapping of texts."
        return
    for key in TEXT_KEYS:
        if not isinstance(block.get(key), str) or not block[key].strip():
            yield (key,), "Missing text."
    sections = block.get("sections")
    if not isinstance(sections, list) or not sections:
        yield ("sections",), "Must be a non-empty list of {heading, paragraphs, bullets}."
        sections = []
    for index, section in enumerate(sections):
        if not isinstance(section, dict) or not isinstance(section.get("heading"), str):
            yield ("sections", index), "Each section needs a heading."
    notes = block.get("product_notes") or {}
    if not isinstance(notes, dict):
        yield ("product_notes",), "Must map a label risk code to a note."
        notes = {}
    for code in notes:
        if code not in NOTE_WINDOWS:
            yield ("product_notes", code), f"Unknown risk code (expected one of: {', '.join(sorted(NOTE_WINDOWS))})."
    for path, text in _texts(block):
        yield from _text_problems(path, text)


def _texts(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _texts(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _texts(value, path + (index,))


def _text_problems(path: tuple, text: str) -> Iterator[Problem]:
    if _DIGIT.search(text):
        yield path, "A number is written into the text: numbers must come from the facts through a placeholder."
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}
    except ValueError as exc:
        yield path, f"Not a valid text template ({exc})."
        return
    unknown = names - set(PLACEHOLDERS)
    if unknown:
        yield path, f"Unknown placeholder {', '.join(sorted(unknown))} (allowed: {', '.join(PLACEHOLDERS)})."
