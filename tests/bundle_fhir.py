"""Answer our prefetch templates from a patient Bundle, the way a FHIR server would.

Used by the end-to-end tests twice: to build a full ``prefetch`` (what an EHR
sends) and to answer the service's fallback reads through ``responses``. Only
the search features our templates use are implemented (``patient``/``subject``,
token ``code`` and ``clinical-status`` with ``system|code`` and comma = OR,
``_sort`` on the resource's date, ``_count``); anything else raises, so a
template change that this helper cannot honour fails loudly instead of
silently returning too much.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, unquote, urlsplit

_TOKEN = re.compile(r"\{\{\s*context\.(\w+)\s*\}\}")

# search parameter -> how to read the matching values from each resource type
_DATE_PATHS = {
    "Observation": ("effectiveDateTime", "effectivePeriod.start", "issued"),
    "MedicationAdministration": ("effectiveDateTime", "effectivePeriod.start"),
    "AllergyIntolerance": ("recordedDate", "onsetDateTime"),
    "Condition": ("recordedDate", "onsetDateTime"),
    "AdverseEvent": ("date",),
}
_CODE_PATHS = {
    "Observation": ("code",),
    "MedicationAdministration": ("medicationCodeableConcept",),
    "AllergyIntolerance": ("code",),
    "Condition": ("code",),
    "AdverseEvent": ("event",),
}
_PATIENT_PATHS = {
    "Observation": "subject", "MedicationAdministration": "subject", "Condition": "subject",
    "AdverseEvent": "subject", "AllergyIntolerance": "patient",
}


class UnsupportedSearch(ValueError):
    """The query uses a search feature this helper does not implement."""


def resources_of(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle.get("entry") or [] if isinstance(e, dict) and "resource" in e]


def fill(template: str, context: dict) -> str:
    """Replace ``{{context.x}}`` tokens (the only ones our templates use)."""
    return _TOKEN.sub(lambda m: str(context[m.group(1)]), template)


def prefetch_for(bundle: dict, templates: dict[str, str], context: dict) -> dict:
    """key -> the resource (read) or searchset Bundle (search), as an EHR would prefetch it."""
    resources = resources_of(bundle)
    return {key: answer(resources, fill(template, context)) for key, template in templates.items()}


def answer(resources: list[dict], relative_url: str) -> dict | None:
    """The server's answer to a relative read (``Type/id``) or search (``Type?params``)."""
    parts = urlsplit(relative_url)
    path = parts.path.strip("/")
    if "/" in path:                                    # read
        rtype, rid = path.split("/", 1)
        rid = unquote(rid)
        for resource in resources:
            if resource.get("resourceType") == rtype and resource.get("id") == rid:
                return resource
        return None
    return search(resources, path, parse_qsl(parts.query, keep_blank_values=True))


def search(resources: list[dict], rtype: str, params: list[tuple[str, str]]) -> dict:
    matches = [r for r in resources if r.get("resourceType") == rtype]
    sort, count = None, None
    for name, value in params:
        if name in ("patient", "subject"):
            wanted = value if "/" in value else f"Patient/{value}"
            matches = [r for r in matches if _reference(r, _PATIENT_PATHS.get(rtype, name)) == wanted]
        elif name == "code":
            matches = [r for r in matches if _token_match(_codings(r, _CODE_PATHS[rtype]), value)]
        elif name == "clinical-status":
            matches = [r for r in matches if _token_match(_codings(r, ("clinicalStatus",)), value)]
        elif name == "_sort":
            sort = value
        elif name == "_count":
            count = int(value)
        else:
            raise UnsupportedSearch(f"{rtype}?{name}= is not implemented by the test helper")
    if sort:
        descending = sort.startswith("-")
        key = sort.lstrip("-")
        if key not in ("date", "effective-time"):
            raise UnsupportedSearch(f"_sort={sort} is not implemented by the test helper")
        matches.sort(key=lambda r: _date(r) or "", reverse=descending)
    total = len(matches)
    if count is not None:
        matches = matches[:count]
    return searchset(matches, total)


def searchset(resources: list[dict], total: int | None = None) -> dict:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources) if total is None else total,
        "entry": [{"fullUrl": f"https://fhir.example.org/r4/{r['resourceType']}/{r['id']}", "resource": r,
                   "search": {"mode": "match"}} for r in resources],
    }


def _reference(resource: dict, path: str) -> str | None:
    value = resource.get(path)
    return value.get("reference") if isinstance(value, dict) else None


def _codings(resource: dict, paths: tuple[str, ...]) -> list[dict]:
    out = []
    for path in paths:
        concept = resource.get(path)
        if isinstance(concept, dict):
            out.extend(c for c in concept.get("coding") or [] if isinstance(c, dict))
    return out


def _token_match(codings: list[dict], value: str) -> bool:
    for alternative in value.split(","):
        system, sep, code = alternative.rpartition("|")
        for coding in codings:
            if coding.get("code") == code and (not sep or not system or coding.get("system") == system):
                return True
    return False


def _date(resource: dict) -> str | None:
    for path in _DATE_PATHS.get(resource.get("resourceType"), ()):
        value = resource
        for step in path.split("."):
            value = value.get(step) if isinstance(value, dict) else None
        if isinstance(value, str):
            return value
    return None
