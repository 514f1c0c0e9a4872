"""Card preview: run the real engine on a patient Bundle and a draft order, send nothing anywhere."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token

from cds_service.cds_hooks.hooks import run_engine
from cds_service.fhir.record import PatientRecord
from cds_service.paths import fixtures_dir

# CommonMark with raw HTML and images off: card detail comes from our data and the EHR's data,
# so nothing in it may become markup, script or a fetched image in the reviewer's browser.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").disable("image")


def render_markdown(text: str, allowed_links: frozenset[str] = frozenset()) -> str:
    """HTML of a card's markdown detail. A link stays a link only when its target is one of
    ``allowed_links`` (the source URLs of our knowledge files); any other link is shown as the
    text it was written as. Patient text is escaped by the engine; this holds even if it was not."""
    tokens = _markdown.parse(text or "")
    for token in tokens:
        if token.type == "inline" and token.children:
            token.children = _unlink(token.children, allowed_links)
    return _markdown.renderer.render(tokens, _markdown.options, {})


def _unlink(children: list[Token], allowed: frozenset[str]) -> list[Token]:
    out: list[Token] = []
    closing: list[str | None] = []   # per open link: the text that replaces its closing token (None: kept)
    for token in children:
        if token.type == "link_open":
            href = token.attrGet("href") or ""
            if href in allowed:
                closing.append(None)
                out.append(token)
                continue
            autolink = token.markup == "autolink"
            out.append(_text("<" if autolink else "["))
            closing.append(">" if autolink else f"]({href})")
        elif token.type == "link_close":
            replacement = closing.pop() if closing else None
            out.append(token if replacement is None else _text(replacement))
        else:
            out.append(token)
    return out


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token


def knowledge_links(knowledge) -> frozenset[str]:
    """Link targets a card's detail may show as links: the URLs of the sources in cards/sources.yaml."""
    urls = (s.url for s in (knowledge.sources or {}).values() if getattr(s, "url", None))
    return frozenset(_markdown.normalizeLink(url) for url in urls)   # as the parser writes a link's href


class PreviewError(ValueError):
    """The pasted input cannot be previewed; the message says why."""


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    patient_file: Path
    order_file: Path
    hook: str


def scenarios() -> list[Scenario]:
    index = fixtures_dir() / "scenarios.json"
    if not index.is_file():
        return []
    data = json.loads(index.read_text(encoding="utf-8"))
    items = data.get("scenarios", data) if isinstance(data, dict) else {}
    found = []
    for name, spec in items.items():
        if not isinstance(spec, dict):
            continue
        patient, order = spec.get("patient") or spec.get("patient_file"), spec.get("order") or spec.get("order_file")
        if not patient or not order:
            continue
        found.append(Scenario(
            name=name,
            description=spec.get("description") or spec.get("demonstrates") or "",
            patient_file=_fixture_path(patient, "patients"),
            order_file=_fixture_path(order, "orders"),
            hook=spec.get("hook", "order-sign"),
        ))
    return found


def _fixture_path(name: str, folder: str) -> Path:
    path = fixtures_dir() / name
    return path if path.is_file() else fixtures_dir() / folder / Path(name).name


def parse_json(text: str, what: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise PreviewError(f"The {what} is not valid JSON ({exc.msg}, line {exc.lineno}).") from None
    if not isinstance(value, dict):
        raise PreviewError(f"The {what} must be a JSON object.")
    return value


def draft_orders(order: dict) -> list[dict]:
    """A MedicationRequest, or a Bundle of draft orders."""
    if order.get("resourceType") == "Bundle":
        resources = [e.get("resource") for e in order.get("entry") or [] if isinstance(e, dict)]
        resources = [r for r in resources if isinstance(r, dict) and r.get("resourceType")]
    else:
        resources = [order]
    if not any(r.get("resourceType") == "MedicationRequest" for r in resources):
        raise PreviewError("The draft order must be a MedicationRequest (or a Bundle holding one).")
    return resources


def run(state, patient_bundle: dict, order: dict, hook: str = "order-sign") -> dict:
    """The CDS Hooks response an EHR would get for this patient and order."""
    if patient_bundle.get("resourceType") != "Bundle":
        raise PreviewError("The patient data must be a FHIR Bundle.")
    record = PatientRecord()
    for entry in patient_bundle.get("entry") or []:
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
            record.add(entry["resource"])
    for key in state.prefetch:
        record.sources[key.key] = "prefetch"
    resources = draft_orders(order)
    patient = record.patient or {}
    patient_id = patient.get("id") or _subject_id(resources) or "preview-patient"
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}
    selections = [f"{r['resourceType']}/{r.get('id')}" for r in resources] if hook == "order-select" else None
    # the same path as a hook call: the handout link is shown too, so the committee reviews what patients read
    return run_engine(state, hook, bundle, selections, record, patient_id, None, "Practitioner/console-preview")


def _subject_id(resources: list[dict]) -> str | None:
    for resource in resources:
        ref = (resource.get("subject") or {}).get("reference") or ""
        if ref.startswith("Patient/"):
            return ref.split("/", 1)[1]
    return None
