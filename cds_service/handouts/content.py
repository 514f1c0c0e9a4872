"""The patient handout for one product in one language, built from the knowledge (pure: no Flask).

Every number on the page comes from the facts (the label's shortest infusion time, the observation
period, the MRI and phosphate windows of the label's risks); the wording comes from cards/handouts.yaml.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass

from cds_service.knowledge.model import Knowledge, LabelLimits, Product
from cds_service.knowledge.schema_handouts import NOTE_WINDOWS

DAYS_PER_MONTH = 30


class HandoutUnavailable(LookupError):
    """No handout for that product or language (the message says which exist)."""


@dataclass(frozen=True)
class Section:
    heading: str
    paragraphs: tuple[str, ...]      # before the list
    bullets: tuple[str, ...]
    closing: tuple[str, ...]         # after the list


@dataclass(frozen=True)
class Handout:
    product_key: str
    language: str
    title: str
    intro: str
    sections: tuple[Section, ...]
    product_heading: str
    product_notes: tuple[str, ...]
    footer: str


def languages(knowledge: Knowledge) -> dict[str, str]:
    """Language code -> its own name, as listed in the knowledge."""
    return {code: block.get("name", code) for code, block in (knowledge.handouts.get("languages") or {}).items()}


def default_language(knowledge: Knowledge) -> str:
    return knowledge.handouts.get("default_language", "en")


def link_label(knowledge: Knowledge, language: str | None = None) -> str:
    block = (knowledge.handouts.get("languages") or {}).get(language or default_language(knowledge)) or {}
    return block.get("link_label", "Patient handout (print)")


def build_handout(knowledge: Knowledge, product_key: str, language: str, jurisdiction: str) -> Handout:
    product = knowledge.products.get(product_key)
    if product is None or jurisdiction not in product.labels:
        known = ", ".join(sorted(knowledge.products))
        raise HandoutUnavailable(f"no handout for product {product_key!r}; products: {known}")
    block = (knowledge.handouts.get("languages") or {}).get(language)
    if block is None:
        known = ", ".join(sorted(languages(knowledge)))
        raise HandoutUnavailable(f"no handout in language {language!r}; languages: {known}")
    label = product.labels[jurisdiction]
    values = facts_for(knowledge, product, label)
    fill = _filler(values)
    sections = tuple(
        Section(heading=fill(s["heading"]), paragraphs=tuple(fill(p) for p in s.get("paragraphs") or ()),
                bullets=tuple(fill(b) for b in s.get("bullets") or ()),
                closing=tuple(fill(c) for c in s.get("closing") or ()))
        for s in block["sections"]
    )
    notes = tuple(fill(text) for code, text in (block.get("product_notes") or {}).items()
                  if NOTE_WINDOWS.get(code, (None,))[0] in values)
    return Handout(product_key=product_key, language=language, title=fill(block["title"]), intro=fill(block["intro"]),
                   sections=sections, product_heading=fill(block.get("product_heading", "")), product_notes=notes,
                   footer=fill(block.get("footer", "")))


def facts_for(knowledge: Knowledge, product: Product, label: LabelLimits) -> dict[str, str]:
    """The numbers this product's handout may show, each from the label or the protocol."""
    # The generic name only: brand names differ between jurisdictions and a patient may know either.
    name = product.display
    infusion = [band.min_minutes for band in label.time_bands if band.method in ("infusion", "any")]
    observation = [float(label.observation_minutes.value),
                   float(knowledge.protocol.observation.default_minutes.value)]
    values = {"product": name, "observation_minutes": _number(max(observation))}
    if infusion:
        values["infusion_minutes"] = _number(min(infusion))
    for risk in label.risks:
        window = NOTE_WINDOWS.get(risk.get("code"))
        if window and risk.get(window[1]):
            values[window[0]] = _number(math.ceil(risk[window[1]] / DAYS_PER_MONTH))
    return values


def placeholders_in(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def _filler(values: dict[str, str]):
    def fill(text: str) -> str:
        missing = placeholders_in(text) - set(values)
        if missing:
            needed = ", ".join(sorted(missing))
            raise HandoutUnavailable(f"the handout needs {needed}, which this product's label does not give")
        return text.format(**values)
    return fill


def _number(value: float) -> str:
    return f"{value:g}"
