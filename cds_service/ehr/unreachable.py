"""Why a server the user named (FHIR server or CDS service) gave no answer, in a few words for one error line."""

from __future__ import annotations


def why_unreachable(exc: Exception) -> str:
    """"connection refused", "host not found", or the exception's first line (requests' are long)."""
    text = str(exc)
    if "refused" in text:
        return "connection refused"
    if "Name or service not known" in text or "getaddrinfo" in text or "Failed to resolve" in text:
        return "host not found"
    return text.splitlines()[0][:160] if text else type(exc).__name__
