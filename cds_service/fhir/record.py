"""The patient's data for one hook call, as plain FHIR dicts grouped by type.

FHIR access (prefetch + fallback reads) produces a ``PatientRecord``; the
engine reads it. Plain dicts keep parsing off the hot path (``json.loads``
is ~20x faster than full fhir.resources models on a large Bundle).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class PatientRecord:
    # resourceType -> resources (each a dict), deduplicated by id, in arrival order
    resources: dict[str, list[dict]] = field(default_factory=dict)
    # prefetch key -> where its data came from: "prefetch", "fhir", "null" (client said: no data);
    # also "medication:<id>" -> "fhir" for Medications read because a draft order references them
    sources: dict[str, str] = field(default_factory=dict)
    # prefetch key (or "medication:<id>") -> why it could not be obtained ("no fhirServer given",
    # "timeout after 3s", "HTTP 500", "not JSON", ...). A key may be in both maps when a later page failed:
    # what earlier pages gave is kept, but the key counts as not obtained.
    unavailable: dict[str, str] = field(default_factory=dict)
    # key -> why its data may be partial although it was read (page cap, next page on another host)
    incomplete: dict[str, str] = field(default_factory=dict)
    _seen: set[tuple[str, str]] = field(default_factory=set, repr=False)
    # Readings worked out from this call's data and reused within the call (engine.order.read_orders):
    # the triage reads the draft orders before the history, the engine reads them again after it.
    derived: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def patient(self) -> dict | None:
        patients = self.resources.get("Patient") or []
        return patients[0] if patients else None

    def of_type(self, resource_type: str) -> list[dict]:
        return self.resources.get(resource_type, [])

    def add(self, resource: dict) -> None:
        """Add one resource, ignoring a second copy of the same type/id."""
        rtype = resource.get("resourceType")
        if not isinstance(rtype, str):
            return
        rid = resource.get("id")
        if isinstance(rid, str):
            if (rtype, rid) in self._seen:
                return
            self._seen.add((rtype, rid))
        self.resources.setdefault(rtype, []).append(resource)
