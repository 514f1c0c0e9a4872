"""Answer our prefetch templates from a patient Bundle, the way a FHIR server would.

Used by the end-to-end tests twice: to build a full ``prefetch`` (what an EHR
sends) and to answer the service's fallback reads through ``responses``. The
search itself is the one ``iron-cds fire`` uses (``cds_service.ehr.bundle_search``):
only the features our templates use, and anything else raises, so a template
change it cannot honour fails loudly instead of silently returning too much.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

from cds_service.ehr.bundle_search import search_bundle
from cds_service.fhir.templates import resolve


def resources_of(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle.get("entry") or [] if isinstance(e, dict) and "resource" in e]


def prefetch_for(bundle: dict, templates: dict[str, str], context: dict) -> dict:
    """key -> the resource (read) or searchset Bundle (search), as an EHR would prefetch it."""
    resources = resources_of(bundle)
    return {key: answer(resources, resolve(template, context).url) for key, template in templates.items()}


def answer(resources: list[dict], relative_url: str) -> dict | None:
    """The server's answer to a relative read (``Type/id``) or search (``Type?params``)."""
    parts = urlsplit(relative_url)
    path = parts.path.strip("/")
    if "/" in path:                                    # read
        rtype, rid = path.split("/", 1)
        rid = unquote(rid)
        return next((r for r in resources if r.get("resourceType") == rtype and r.get("id") == rid), None)
    return search_bundle(resources, path, parse_qsl(parts.query, keep_blank_values=True))
