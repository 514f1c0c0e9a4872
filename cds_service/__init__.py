"""iron-cds: a CDS Hooks 2.0 service that checks intravenous iron orders.

The public surface is small: ``create_app()`` (the WSGI app factory) and the
``iron-cds`` command line. Everything else is internal.
"""

__version__ = "0.1.0"

# One service id per hook: clients (the CDS Hooks sandbox among them) key services by id, so one id listed
# for two hooks loses one of them. The same checks run behind both.
SERVICE_IDS = {"order-select": "iv-iron-order-select", "order-sign": "iv-iron-order-sign"}
HOOKS = tuple(SERVICE_IDS)

# The single id of earlier releases: unlisted, it keeps answering both hooks for EHRs registered with it.
LEGACY_SERVICE_ID = "iv-iron-order-check"


def hooks_served(service_id: str) -> tuple[str, ...]:
    """The hooks ``service_id`` answers (empty for an id we do not know)."""
    if service_id == LEGACY_SERVICE_ID:
        return HOOKS
    return tuple(hook for hook, sid in SERVICE_IDS.items() if sid == service_id)
