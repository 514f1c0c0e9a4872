"""Card text from ``cards/wording.yaml``: templates, data-point lists and source lines.

Wording is data a pharmacist edits; the rules only choose which template to use
and fill in the fields. A template that names a field the rule does not supply
raises (the rule then fails visibly instead of printing a half sentence).
"""

from __future__ import annotations

from typing import Any, Iterable

from cds_service.engine.compiled import per_knowledge
from cds_service.engine.facts import MissingKnowledge, minutes_phrase  # noqa: F401 (re-exported for rules)
from cds_service.engine.fhir_values import day
from cds_service.engine.markdown import markdown_text, plain_text
from cds_service.engine.model import Evidence
from cds_service.knowledge.model import Fact, Knowledge

SUMMARY_LIMIT = 140  # CDS Hooks: summary "<140 characters"
EVIDENCE_LIMIT = 300  # characters of one data point's text on a card (a 50 kB Condition name is not a data point)
ELLIPSIS = "\u2026"


def topic_wording(knowledge: Knowledge, topic: str) -> dict:
    topics = knowledge.wording.get("topics") or {}
    if topic not in topics:
        raise MissingKnowledge(f"wording for topic {topic!r} is missing from cards/wording.yaml")
    return topics[topic]


def phrase(knowledge: Knowledge, topic: str, *path: str, **fields: Any) -> str:
    """The template at ``topics.<topic>.<path>`` filled with ``fields``."""
    return fill(_template(knowledge, "topics", topic, *path), **fields)


def common(knowledge: Knowledge, *path: str, **fields: Any) -> str:
    return fill(_template(knowledge, "common", *path), **fields)


def _template(knowledge: Knowledge, *path: str) -> str:
    """The wording at ``path`` (``topics``/``common`` first): looked up once per Knowledge, since every
    card names a dozen of them and the wording does not change while the service runs."""
    templates = _templates_of(knowledge)
    template = templates.get(path)
    if template is None:
        template = templates[path] = _lookup(knowledge, path)
    return template


def _lookup(knowledge: Knowledge, path: tuple[str, ...]) -> str:
    section, *rest = path
    if section == "topics":
        node: Any = topic_wording(knowledge, rest[0])
        rest = rest[1:]
    else:
        node = knowledge.wording.get(section) or {}
    for key in rest:
        if not isinstance(node, dict) or key not in node:
            raise MissingKnowledge(f"wording {'.'.join(path)} is missing from cards/wording.yaml")
        node = node[key]
    return str(node)


_templates_of = per_knowledge(lambda knowledge: {})   # wording path -> template, for one Knowledge


def fill(template: str, **fields: Any) -> str:
    return template.format(**fields).strip()


def summary(text: str) -> str:
    """Keep the summary under the CDS Hooks limit (templates aim well below it).

    The summary is plain text: patient text escaped for the detail (``markdown_text``) is shown unescaped.
    """
    # Only a backslash starts an escape: most summaries have none and skip the substitution.
    return fit_summary(plain_text(text) if "\\" in text else text)


def fit_summary(text: str, limit: int = SUMMARY_LIMIT) -> str:
    """At most ``limit - 1`` characters; a cut ends on a word boundary with an ellipsis.
    The card builder applies it again to whatever a finding carries."""
    text = " ".join((text or "").split())
    if len(text) < limit:
        return text
    room = limit - 2                     # leave space for the ellipsis
    cut = text[:room + 1]
    space = cut.rfind(" ")
    head = cut[:space] if space > 0 else text[:room]
    return head.rstrip(" ,;:.-") + ELLIPSIS


def citation(knowledge: Knowledge, source_id: str | None, status: str | None, section: str | None = None) -> str:
    """How a card names where a value comes from: the source and its section, or the local protocol.

    The verification status is for the console and ``check-knowledge``, not for prescribers, so a card
    never shows it; a local choice is named as the local protocol (with the source it rests on).
    """
    src = knowledge.sources.get(source_id) if source_id else None
    title = src.title if src else "source not recorded"
    if section:
        title = common(knowledge, "section_citation", title=title, section=section)
    if status == "institutional":
        key = "local_citation" if source_id in local_protocol_ids(knowledge) else "local_based_on"
        return common(knowledge, key, title=title)
    return title


def _local_protocol_ids(knowledge: Knowledge) -> tuple[str, ...]:
    """Source ids that stand for the institution's own protocol document (wording common.local_protocol_sources)."""
    ids = (knowledge.wording.get("common") or {}).get("local_protocol_sources") or ()
    return tuple(str(i) for i in ids)


local_protocol_ids = per_knowledge(_local_protocol_ids)   # asked for every local source line


def unit_text(knowledge: Knowledge, unit: str) -> str:
    """A UCUM unit as a reader writes it after a number: " days" for d, "%" for % (wording common.unit_names)."""
    names = (knowledge.wording.get("common") or {}).get("unit_names") or {}
    shown = str(names.get(unit, unit))
    return shown if shown.startswith("%") else f" {shown}"


def source_line(knowledge: Knowledge, what: str, fact: Fact | None = None, *, value: str | None = None,
                source: str | None = None, status: str | None = None, note: str | None = None,
                section: str | None = None) -> str:
    """One line of the Sources block: what the value is and where it comes from (``note`` stays in the data)."""
    source_id = fact.source if fact else source
    status = fact.status if fact else status
    section = (getattr(fact, "section", None) if fact else None) or section
    if value is None and fact is not None:
        value = f"{fact.value:,g}" if isinstance(fact.value, (int, float)) else str(fact.value)
        if fact.unit:
            value += unit_text(knowledge, fact.unit)
    cited = citation(knowledge, source_id, status, section)
    if not value:
        return common(knowledge, "source_line_no_value", what=what, citation=cited)
    return common(knowledge, "source_line", what=what, value=value, citation=cited)


def evidence_block(knowledge: Knowledge, evidence: Iterable[Evidence]) -> str:
    """The data points as a markdown list. Evidence text and dates are plain text that carries patient
    data (a Condition's name, a stop reason): escaped, so they show as text and never as markup."""
    lines = []
    for item in evidence:
        date = display_date(item.date) or common(knowledge, "no_date")
        shown = markdown_text(item.text, EVIDENCE_LIMIT)
        # the text often names the day already ("given on 20 Jul 2026"): say it once
        lines.append(f"- {shown}" if date in item.text else f"- {shown} ({markdown_text(date)})")
    if not lines:
        return ""
    return common(knowledge, "data_points_heading") + "\n" + "\n".join(lines)


def sources_heading(knowledge: Knowledge) -> str:
    """The heading of a card's Sources block (the card builder looks for it before adding its own list)."""
    heading = ((knowledge.wording or {}).get("common") or {}).get("sources_heading")
    return str(heading or "**Sources**").strip()


def sources_block(knowledge: Knowledge, lines: Iterable[str]) -> str:
    unique = list(dict.fromkeys(lines))
    if not unique:
        return ""
    return sources_heading(knowledge) + "\n" + "\n".join(unique)


def display_date(value: str | None) -> str | None:
    """An ISO date or date-time as prescribers read it: "20 Jul 2026"."""
    return day(value)


def natural_list(items: Iterable[str], conjunction: str = "and") -> str:
    """ "a", "a and b", "a, b and c" """
    words = [str(i) for i in items if i]
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"


def compose(*parts: str) -> str:
    """Markdown detail from paragraphs, skipping empty ones."""
    return "\n\n".join(p.strip() for p in parts if p and p.strip())


def bullet_list(items: Iterable[str]) -> str:
    return "\n".join(f"- {item}" for item in items if item)


class Citations:
    """Collects the Sources lines of a card and the source ids the finding cites.

    A rule cites each value as it decides, and most decide that the order is fine: the lines are
    therefore worded only when a card asks for its ``block`` (the ids, which are cheap, at once).
    """

    def __init__(self, knowledge: Knowledge):
        self.knowledge = knowledge
        self.ids: list[str] = []
        self._cited: list[tuple[str, Fact | None, dict]] = []   # (what, fact, kwargs) in citation order

    def add(self, what: str, fact: Fact | None = None, **kwargs: Any) -> "Citations":
        """``kwargs``: value, source, status, note, section (when the value is not a Fact)."""
        source_id = fact.source if fact else kwargs.get("source")
        if source_id and source_id not in self.ids:
            self.ids.append(source_id)
        self._cited.append((what, fact, kwargs))
        return self

    @property
    def lines(self) -> list[str]:
        """Each Sources line once, in the order first cited."""
        return list(dict.fromkeys(self._line(what, fact, kwargs) for what, fact, kwargs in self._cited))

    def _line(self, what: str, fact: Fact | None, kwargs: dict) -> str:
        if fact is None or kwargs:
            return source_line(self.knowledge, what, fact, **kwargs)
        # A knowledge fact cited as it stands reads the same on every call: worded once per Knowledge
        # (the rules never make Facts, so these lines are as many as the knowledge's facts).
        lines = _fact_lines_of(self.knowledge)
        try:
            line = lines.get((what, fact))
        except TypeError:   # a fact whose value is a list is not hashable: worded each time
            return source_line(self.knowledge, what, fact)
        if line is None:
            line = lines[what, fact] = source_line(self.knowledge, what, fact)
        return line

    def block(self) -> str:
        return sources_block(self.knowledge, self.lines)


_fact_lines_of = per_knowledge(lambda knowledge: {})   # (what, fact) -> its Sources line, for one Knowledge


def not_checked(facts, topic: str, reason_key: str, problems: Iterable[str] = (), **fields: Any):
    """A warning card saying this check could not be done for this order (and why), never silence.

    ``problems``: what the order reader could not read, listed in the detail.
    """
    from cds_service.engine.model import Finding  # local: text helpers stay importable without the model

    knowledge = facts.knowledge
    display = topic_wording(knowledge, topic).get("display", topic)
    reason = common(knowledge, "not_checked_reasons", reason_key, **fields)
    detail = common(knowledge, "not_checked_detail", drug=facts.drug, topic=display, reason=reason)
    problems = "; ".join(p.rstrip(".") for p in problems if p)
    if problems:
        detail = compose(detail, common(knowledge, "not_checked_what", problems=problems))
    sources: tuple[str, ...] = ()
    if facts.identified:   # the label to check by hand is named, as on every other card
        label = facts.label
        cite = Citations(knowledge).add(display, value="", source=label.source, status="confirmed")
        detail, sources = compose(detail, cite.block()), tuple(cite.ids)
    return Finding(
        topic=topic, indicator="warning", order=facts.order,
        summary=summary(common(knowledge, "not_checked_summary", drug=facts.drug, topic=display, reason=reason)),
        detail=detail, sources=sources,
    )


def cite_from_wording(cite: Citations, topic: str, key: str) -> None:
    """Add the guideline citations listed under ``topics.<topic>.citations.<key>`` in the wording file."""
    entries = (topic_wording(cite.knowledge, topic).get("citations") or {}).get(key) or {}
    for entry in entries.values():
        cite.add(entry["what"], value=entry.get("value", ""), source=entry.get("source"),
                 status=entry.get("status"), note=entry.get("note"), section=entry.get("section"))
