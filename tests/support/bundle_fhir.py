"""Answer our prefetch templates from a patient Bundle, the way a FHIR server would.

Used by the end-to-end tests twice: to build a full ``prefetch`` (what an EHR sends) and to answer
the service's fallback reads through ``responses``. Both go through ``iron-cds fire``'s own
``BundleSource`` (read or search in memory): only the features our templates use, and anything else
raises, so a template change it cannot honour fails loudly instead of silently returning too much.
"""

from __future__ import annotations

from cds_service.ehr.prefetch import BundleSource
from cds_service.fhir.templates import resolve


def prefetch_for(bundle: dict, templates: dict[str, str], context: dict) -> dict:
    """key -> the resource (read) or searchset Bundle (search), as an EHR would prefetch it."""
    source = BundleSource(bundle)
    return {key: source.fetch(resolve(template, context).url) for key, template in templates.items()}
