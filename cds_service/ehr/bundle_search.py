"""FHIR searches evaluated over a list of resources, as a server would answer them.

Only what our prefetch templates use: reference ``patient``/``subject`` (bare id or ``Patient/id``),
token ``code`` lists with ``system|code`` (comma = OR), ``clinical-status``, ``status`` (a code list, comma = OR),
``_sort`` on the
resource's date (newest first with ``-``; undated last), ``_count``. Anything else raises
``UnsupportedSearch``: answering with more (or less) than a server would is worse than no answer.
"""

from __future__ import annotations

from typing import Callable, Iterable


class UnsupportedSearch(ValueError):
    """A search feature this in-memory evaluator does not implement (the key is then left out)."""


def _reference_matches(reference: object, wanted: str) -> bool:
    if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
        return False
    ref = reference["reference"].rstrip("/")
    wanted = wanted.rstrip("/")
    if "/" in wanted:                      # Patient/123 (or an absolute URL): compare the last two segments
        return ref.split("/")[-2:] == wanted.split("/")[-2:]
    return ref.split("/")[-2:] == ["Patient", wanted]   # a bare id, as our templates use for patients


def _codings(concept: object) -> list[dict]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or [] if isinstance(c, dict)]


def _token_matches(codings: list[dict], values: str) -> bool:
    for value in values.split(","):
        system, bar, code = value.rpartition("|")
        for coding in codings:
            if coding.get("code") != code:
                continue
            if not bar or coding.get("system") == (system or None) or (system == "" and not coding.get("system")):
                return True
    return False


# search parameter -> how to read it from each resource type we serve
_CODE_FIELDS = {
    "MedicationAdministration": "medicationCodeableConcept",
    "MedicationRequest": "medicationCodeableConcept",
    "MedicationStatement": "medicationCodeableConcept",
}
_DATE_FIELDS = {
    "date": ("effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued", "recordedDate",
             "date", "onsetDateTime", "authoredOn"),
    "effective-time": ("effectiveDateTime", "effectivePeriod.start"),
}


def _path(resource: dict, dotted: str):
    value = resource
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _matcher(resource_type: str, name: str, value: str) -> Callable[[dict], bool]:
    if name in ("patient", "subject"):
        return lambda r: _reference_matches(r.get("patient"), value) or _reference_matches(r.get("subject"), value)
    if name == "code":
        field_name = _CODE_FIELDS.get(resource_type, "code")
        return lambda r: _token_matches(_codings(r.get(field_name)), value)
    if name == "clinical-status":
        return lambda r: _token_matches(_codings(r.get("clinicalStatus")), value)
    if name == "status":   # a plain code (Observation.status and the like): any of the listed codes
        codes = {code.rpartition("|")[2] for code in value.split(",")}
        return lambda r: r.get("status") in codes
    raise UnsupportedSearch(f"search parameter {name!r} is not supported against a bundle")


def _sort_key(resource: dict, fields: Iterable[str]) -> str:
    for dotted in fields:
        value = _path(resource, dotted)
        if isinstance(value, str) and value:
            return value
    return ""


def search_bundle(resources: list[dict], resource_type: str, params: list[tuple[str, str]]) -> dict:
    """Evaluate a type-level search over ``resources``: a searchset Bundle, as a server returns."""
    matchers: list[Callable[[dict], bool]] = []
    sort: str | None = None
    count: int | None = None
    for name, value in params:
        if name == "_sort":
            sort = value
        elif name == "_count":
            try:
                count = max(0, int(value))
            except ValueError:
                raise UnsupportedSearch(f"_count={value!r} is not a number") from None
        else:
            matchers.append(_matcher(resource_type, name, value))
    found = [r for r in resources if r.get("resourceType") == resource_type and all(m(r) for m in matchers)]
    if sort:
        descending = sort.startswith("-")
        fields = _DATE_FIELDS.get(sort.lstrip("-"))
        if fields is None or "," in sort:
            raise UnsupportedSearch(f"_sort={sort!r} is not supported against a bundle")
        # Resources without the date go last either way, as servers tend to do.
        dated = sorted((r for r in found if _sort_key(r, fields)), key=lambda r: _sort_key(r, fields),
                       reverse=descending)
        found = dated + [r for r in found if not _sort_key(r, fields)]
    total = len(found)
    if count is not None:
        found = found[:count]
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "entry": [{"fullUrl": f"{r['resourceType']}/{r.get('id', '')}", "resource": r,
                   "search": {"mode": "match"}} for r in found],
    }
