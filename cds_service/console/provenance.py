"""What each card topic rests on that is not confirmed: the verification status reviewers need.

Cards name their sources but never how far a value was verified; the console does. Each topic declares
the label fields and protocol keys its values come from (``engine/topics.Topic``); this lists, per topic,
the values among them that are unverified (the stricter value kept) or a local choice, with their notes.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Any, Iterator

from cds_service.engine import topics

SHOWN = ("unconfirmed-conservative", "institutional")


def caveats(knowledge, jurisdiction: str) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """[(topic display, [(where, source id, status, note)])] for the label in force and the protocol."""
    out = []
    for topic in topics.registered():
        rows: dict[tuple, None] = {}
        for product in knowledge.products.values():
            label = product.labels.get(jurisdiction)
            for name in topic.label_fields if label is not None else ():
                for source, status, note in _facts_in(getattr(label, name, None)):
                    rows[(f"{product.display}: {name}", source, status, note or "")] = None
        for key in topic.protocol_keys:
            for source, status, note in _facts_in(knowledge.protocol.at(key)):
                rows[(f"protocol: {key}", source, status, note or "")] = None
        if topic.premedications:
            for spec in knowledge.premedications.values():
                rows[(f"premedication: {spec.key}", spec.source, spec.status, spec.note or "")] = None
        shown = [row for row in rows if row[2] in SHOWN]
        if shown:
            out.append((topic.display or topic.code, shown))
    return out


def _facts_in(obj: Any) -> Iterator[tuple[str, str, str | None]]:
    """(source, status, note) of every fact-like value inside ``obj`` (mappings, lists, Fact-like objects,
    and the dataclasses that group them, such as the protocol's)."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return
    if isinstance(obj, dict):
        if isinstance(obj.get("source"), str) and isinstance(obj.get("status"), str):
            yield obj["source"], obj["status"], obj.get("note")
        for value in obj.values():
            if isinstance(value, (dict, list, tuple)):
                yield from _facts_in(value)
        return
    if isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _facts_in(item)
        return
    source, status = getattr(obj, "source", None), getattr(obj, "status", None)
    if isinstance(source, str) and isinstance(status, str):
        yield source, status, getattr(obj, "note", None)
    elif is_dataclass(obj):
        for item in fields(obj):
            yield from _facts_in(getattr(obj, item.name))
