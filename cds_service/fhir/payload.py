"""What a FHIR JSON value (a prefetch value or a read's answer) gives us: resources, or why not.

Lenient on what we only read: entries that are not resources are counted and
skipped, search-outcome entries dropped. Strict on errors: an OperationOutcome,
or a Bundle that carries an error-level issue or nothing but OperationOutcomes
(except Epic's coded "no results"), means the data was *not obtained* -- treating
it as "no history" would hide a failed query behind a reassuring silence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ERROR_SEVERITIES = ("error", "fatal")
_SAFE_CODE = re.compile(r"^[a-z][a-z-]{0,29}$")
_MAX_NESTING = 2   # a batch-response Bundle of searchset Bundles is as deep as we go


@dataclass
class Obtained:
    resources: list[dict] = field(default_factory=list)
    skipped: int = 0               # entries that were not readable resources
    next_url: str | None = None    # Bundle link[relation=next], when there is more


@dataclass(frozen=True)
class Failure:
    outcome: str   # failure class for metrics: timeout, http-error, not-json, not-fhir, operation-outcome, ...
    reason: str    # short text for the record and the log; never holds tokens, URLs or identifiers


def interpret(value, depth: int = 0) -> Obtained | Failure:
    """Turn one FHIR JSON value into the resources it holds, or a Failure."""
    if not isinstance(value, dict):
        return Failure("not-fhir", "not a FHIR resource")
    rtype = value.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        return Failure("not-fhir", "not a FHIR resource (no resourceType)")
    if rtype == "OperationOutcome":
        return Failure("operation-outcome", _outcome_reason(value))
    if rtype != "Bundle":
        return Obtained([value])
    return _bundle(value, depth)


def _bundle(bundle: dict, depth: int) -> Obtained | Failure:
    # R5 puts search-level issues in Bundle.issues; an R4 server may send them too.
    issues = bundle.get("issues")
    if isinstance(issues, dict) and _has_error(issues):
        return Failure("operation-outcome", _outcome_reason(issues))
    entries = bundle.get("entry", [])
    if entries is None:
        entries = []
    if not isinstance(entries, list):
        return Failure("not-fhir", "Bundle.entry is not a list")

    result = Obtained(next_url=next_link(bundle))
    resources = result.resources
    outcomes: list[dict] = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        rtype = resource.get("resourceType") if isinstance(resource, dict) else None
        if not isinstance(rtype, str):
            result.skipped += 1
            continue
        search = entry.get("search")
        if rtype == "OperationOutcome" or (isinstance(search, dict) and search.get("mode") == "outcome"):
            if rtype == "OperationOutcome":
                outcomes.append(resource)
            continue
        if rtype == "Bundle" and depth < _MAX_NESTING:
            inner = _bundle(resource, depth + 1)
            if isinstance(inner, Failure):
                return inner
            resources.extend(inner.resources)
            result.skipped += inner.skipped
            continue
        resources.append(resource)

    errors = [o for o in outcomes if _has_error(o)]
    if errors:
        return Failure("operation-outcome", _outcome_reason(errors[0]))
    if outcomes and not result.resources and not any(_says_no_results(o) for o in outcomes):
        return Failure("operation-outcome", _outcome_reason(outcomes[0]))
    return result


# Epic answers a search that matched nothing with a searchset holding only an OperationOutcome, severity
# warning, coded 4101 "Resource request returns no results." in a system under Epic's OID root
# (urn:oid:1.2.840.114350.1.13.<instance>...657369), instead of an empty Bundle: that is "no data", not a
# failed query. Any other outcome-only answer (too-costly, an unknown warning) still means not obtained.
_EPIC_OID_ROOT = "urn:oid:1.2.840.114350."
_EPIC_NO_RESULTS = "4101"


def _says_no_results(outcome: dict) -> bool:
    issues = outcome.get("issue")
    if not isinstance(issues, list):
        return False
    for issue in issues:
        details = issue.get("details") if isinstance(issue, dict) else None
        codings = details.get("coding") if isinstance(details, dict) else None
        if isinstance(codings, list) and any(
                isinstance(c, dict) and c.get("code") == _EPIC_NO_RESULTS
                and isinstance(c.get("system"), str) and c["system"].startswith(_EPIC_OID_ROOT)
                for c in codings):
            return True
    return False


def _has_error(outcome: dict) -> bool:
    issues = outcome.get("issue")
    if not isinstance(issues, list):
        return False
    return any(isinstance(i, dict) and i.get("severity") in _ERROR_SEVERITIES for i in issues)


def _outcome_reason(outcome: dict) -> str:
    """"OperationOutcome (not-found)": the issue code only -- diagnostics text may quote identifiers."""
    issues = outcome.get("issue")
    if isinstance(issues, list):
        for issue in issues:
            code = issue.get("code") if isinstance(issue, dict) else None
            if isinstance(code, str) and _SAFE_CODE.match(code):
                return f"OperationOutcome ({code})"
    return "OperationOutcome"


def next_link(bundle: dict) -> str | None:
    """A searchset Bundle's ``next`` link (unchecked: ``fhir.urls.resolve_link`` decides if it may be followed)."""
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            if isinstance(url, str) and url.strip():
                return url.strip()
    return None
