"""Observations indexed once by code, with their times and numeric values.

A record can hold hundreds of Observations; every reader asks the index for
one code instead of scanning the list again. Entered-in-error and cancelled
Observations are dropped here, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cds_service.engine.fhir_values import codings, effective_span, reference_of, system_kind
from cds_service.engine.units import quantity_value

SKIPPED_STATUS = {"entered-in-error", "cancelled"}


@dataclass(frozen=True)
class Reading:
    """One numeric value of an Observation (or of one of its components)."""

    value: float
    quantity: dict              # the valueQuantity (or {"value": n} for valueInteger), for unit conversion
    when: datetime | None
    when_text: str | None
    reference: str | None
    resource: dict


def _codes(concept: object) -> list[str]:
    # LOINC codes; codings without a system are accepted (some feeds omit it)
    return [c["code"] for c in codings(concept)
            if isinstance(c.get("code"), str) and system_kind(c.get("system")) in ("loinc", None)]


def _reading(holder: dict, obs: dict, when: datetime | None, when_text: str | None) -> Reading | None:
    if isinstance(holder.get("valueQuantity"), dict):
        quantity = holder["valueQuantity"]
    elif "valueInteger" in holder:
        quantity = {"value": holder.get("valueInteger")}
    else:
        return None
    value = quantity_value(quantity)
    if value is None:
        return None
    return Reading(value, quantity, when, when_text, reference_of(obs), obs)


class ObservationIndex:
    def __init__(self, observations: list[dict]) -> None:
        self._by_code: dict[str, list[dict]] = {}
        self._components: dict[str, list[tuple[dict, dict]]] = {}
        self._readings: dict[tuple[str, bool], tuple[Reading, ...]] = {}   # several readers ask for one code
        self._spans: dict[int, tuple] = {}                                # date parsing is the costly part
        for obs in observations:
            if not isinstance(obs, dict) or (isinstance(obs.get("status"), str) and obs["status"] in SKIPPED_STATUS):
                continue
            for code in set(_codes(obs.get("code"))):
                self._by_code.setdefault(code, []).append(obs)
            components = obs.get("component")
            if isinstance(components, list):
                for component in components:
                    if isinstance(component, dict):
                        for code in set(_codes(component.get("code"))):
                            self._components.setdefault(code, []).append((obs, component))

    def resources(self, code: str) -> list[dict]:
        return self._by_code.get(code, [])

    def readings(self, code: str, *, components: bool = False) -> tuple[Reading, ...]:
        """Numeric readings of ``code``, newest first (undated last); with ``components``, panel components too."""
        key = (code, components)
        if key not in self._readings:
            out: list[Reading] = []
            for obs in self._by_code.get(code, ()):
                text, start, _ = self._span(obs)
                reading = _reading(obs, obs, start, text)
                if reading is not None:
                    out.append(reading)
            if components:
                for obs, component in self._components.get(code, ()):
                    text, start, _ = self._span(obs)
                    reading = _reading(component, obs, start, text)
                    if reading is not None:
                        out.append(reading)
            out.sort(key=lambda r: r.when.timestamp() if r.when else float("-inf"), reverse=True)
            self._readings[key] = tuple(out)
        return self._readings[key]

    def _span(self, obs: dict) -> tuple:
        span = self._spans.get(id(obs))
        if span is None:
            span = self._spans[id(obs)] = effective_span(obs)
        return span
