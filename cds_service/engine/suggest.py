"""Builders of the FHIR R4 resources our suggestions carry (plain dicts).

Every resource is a *draft* order tied to the patient and encounter of the
call, coded (RxNorm for drugs, LOINC/SNOMED or the protocol's code for
services) and marked with our identifier system so that a later call can
recognise an order that came from one of our cards. Updates are deep copies of
the prescriber's draft with the same id: only the element we mean to change
changes. Validation against fhir.resources models happens in the tests, not
here (it is slow and this runs on every hook call).
"""

from __future__ import annotations

import math

from cds_service.engine import suggest_text
from cds_service.engine.fhir_values import items
from cds_service.engine.method import bag_volume_ml
from cds_service.engine.model import EvaluationContext, IronOrder
from cds_service.ids import uuid4
from cds_service.knowledge.model import CodingFact, MedicationSpec

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
# Identifier system on every order we suggest: "<topic>/<iron order id>[/<what>]".
SUGGESTION_SYSTEM = "urn:iron-cds:suggested-order"
# Extension on a test dose's Dosage: how long to wait (and observe) before the rest of the dose.
WAIT_BEFORE_REST = "urn:iron-cds:extension:wait-before-rest-of-dose"

_REQUESTER_TYPES = ("Practitioner", "PractitionerRole", "Organization", "Patient", "RelatedPerson", "Device")

# rate units we can recompute: unit -> (quantity it is per, minutes per time unit)
_RATE_UNITS = {
    "mg/min": ("mg", 1.0), "mg/h": ("mg", 60.0), "mg/hr": ("mg", 60.0),
    "ml/min": ("ml", 1.0), "ml/h": ("ml", 60.0), "ml/hr": ("ml", 60.0),
}


def json_copy(node):
    """A deep copy of JSON data (dicts, lists, scalars), as the EHR's resources are: several times cheaper than
    ``copy.deepcopy``, whose memo for shared and cyclic references parsed JSON never needs."""
    if isinstance(node, dict):
        return {key: json_copy(value) for key, value in node.items()}
    if isinstance(node, list):
        return [json_copy(value) for value in node]
    if isinstance(node, tuple):
        return tuple(json_copy(value) for value in node)
    return node


def new_id() -> str:
    return uuid4()


def marker(topic: str, order_id: str, what: str | None = None) -> dict:
    value = f"{topic}/{order_id}" + (f"/{what}" if what else "")
    return {"system": SUGGESTION_SYSTEM, "value": value}


def has_marker(resource: dict, topic: str) -> bool:
    """True when ``resource`` is an order one of our ``topic`` cards suggested."""
    for ident in items(resource.get("identifier")):
        if isinstance(ident, dict) and ident.get("system") == SUGGESTION_SYSTEM \
                and str(ident.get("value", "")).startswith(f"{topic}/"):
            return True
    return False


def _context(ctx: EvaluationContext, *, requester_key: str = "requester") -> dict:
    out: dict = {"subject": {"reference": f"Patient/{ctx.patient_id}"}}
    if ctx.encounter_id:
        out["encounter"] = {"reference": f"Encounter/{ctx.encounter_id}"}
    user = ctx.user_id or ""
    if "/" in user and user.split("/", 1)[0] in _REQUESTER_TYPES:
        out[requester_key] = {"reference": user}
    return out


def _iron_link(order: IronOrder) -> dict:
    return {"reference": f"MedicationRequest/{order.request_id}"}


def _mg(value: float) -> dict:
    return {"value": _number(value), "unit": "mg", "system": UCUM, "code": "mg"}


def _number(value: float):
    return int(value) if float(value).is_integer() else round(float(value), 3)


# --- updates of the prescriber's draft -------------------------------------------------

def _first_dosage(resource: dict) -> dict:
    dosages = resource.get("dosageInstruction")
    if not isinstance(dosages, list) or not dosages or not isinstance(dosages[0], dict):
        resource["dosageInstruction"] = [{}]
    return resource["dosageInstruction"][0]


def _rate_key(quantity: dict) -> str | None:
    unit = str(quantity.get("code") or quantity.get("unit") or "").strip().lower()
    return unit if unit in _RATE_UNITS else None


def _floor1(value: float) -> float:
    return math.floor(value * 10 + 1e-9) / 10


def with_duration(order: IronOrder, minutes: float) -> dict:
    """The draft with ``timing.repeat.duration`` = ``minutes`` (dose unchanged).

    A ``rateQuantity`` in mg or mL per minute/hour is recomputed for the new time
    (rounded down: slower); an mL rate fits the bag the order names ("in 100 mL"),
    else the ordered volume. Any rate we cannot recompute consistently (unknown
    volume, ratio, range) is removed so the order never states two different
    speeds. The free text keeps its method, diluent and other words; only the time
    and rate in it are restated.
    """
    resource = json_copy(order.resource)
    dosage = _first_dosage(resource)
    timing = dosage.setdefault("timing", {})
    if not isinstance(timing, dict):
        timing = dosage["timing"] = {}
    repeat = timing.setdefault("repeat", {})
    if not isinstance(repeat, dict):
        repeat = timing["repeat"] = {}
    repeat["duration"] = _number(minutes)
    repeat["durationUnit"] = "min"
    repeat.pop("durationMax", None)
    volume = bag_volume_ml(dosage) or order.volume_ml
    new_rates = {"mg": order.dose_mg / minutes if order.dose_mg else None,
                 "ml": volume / minutes if volume else None}   # per minute
    for entry in items(dosage.get("doseAndRate")):
        if not isinstance(entry, dict):
            continue
        quantity = entry.get("rateQuantity")
        entry.pop("rateRatio", None)
        entry.pop("rateRange", None)
        if not isinstance(quantity, dict):
            entry.pop("rateQuantity", None)
            continue
        key = _rate_key(quantity)
        per_minute = new_rates.get(_RATE_UNITS[key][0]) if key else None
        if per_minute:
            quantity["value"] = _number(_floor1(per_minute * _RATE_UNITS[key][1]))
        else:
            entry.pop("rateQuantity")
    if isinstance(dosage.get("text"), str):
        text = suggest_text.with_time(dosage["text"], minutes)
        for kind, per_minute in new_rates.items():
            text = _restate_rates(text, kind, per_minute)
        dosage["text"] = text
    return resource


def _restate_rates(text: str, kind: str, per_minute: float | None) -> str:
    """Each rate of ``kind`` (mg or mL) the text states, at the new speed in its own time unit; removed if unknown."""
    for _, unit in suggest_text.stated_rates(text):
        key = unit.lower().replace(" ", "").replace("per", "/").replace("//", "/")
        key = {"ml/hour": "ml/h", "mg/hour": "mg/h", "ml/minute": "ml/min", "mg/minute": "mg/min"}.get(key, key)
        if not key.startswith(kind):
            continue
        value = _floor1(per_minute * _RATE_UNITS[key][1]) if per_minute and key in _RATE_UNITS else None
        text = suggest_text.with_rate(text, kind, value)
    return text


def with_dose(order: IronOrder, dose_mg: float) -> dict:
    """The draft with the dose set to ``dose_mg`` (in mg); the administration time is kept.

    A rate in mg per time is recomputed so the ordered time stays the same; a rate
    in mL per time is left as ordered (it follows the diluent volume, which we do
    not change). The free text keeps every word but the dose (and an mg rate).
    """
    resource = json_copy(order.resource)
    dosage = _first_dosage(resource)
    entries = dosage.get("doseAndRate")
    if not isinstance(entries, list) or not entries:
        entries = dosage["doseAndRate"] = [{}]
    target = next((e for e in entries if isinstance(e, dict) and ("doseQuantity" in e or "doseRange" in e)), None)
    if target is None:
        target = entries[0] if isinstance(entries[0], dict) else {}
        if target is not entries[0]:
            entries[0] = target
    target.pop("doseRange", None)
    target["doseQuantity"] = _mg(dose_mg)
    for entry in entries:
        quantity = entry.get("rateQuantity") if isinstance(entry, dict) else None
        if isinstance(quantity, dict) and _rate_key(quantity) in ("mg/min", "mg/h", "mg/hr") and order.minutes:
            per_minutes = _RATE_UNITS[_rate_key(quantity)][1]
            quantity["value"] = _number(_floor1(dose_mg / order.minutes * per_minutes))
    if isinstance(dosage.get("text"), str):
        text = suggest_text.with_dose(dosage["text"], order.dose_mg, dose_mg)
        dosage["text"] = _restate_rates(text, "mg", dose_mg / order.minutes if order.minutes else None)
    return resource


# --- new orders -------------------------------------------------------------------------

def observation_request(ctx: EvaluationContext, order: IronOrder, service_code: CodingFact, minutes: int,
                        note: str, nurse_note: str | None = None) -> dict:
    """The observation ServiceRequest; ``nurse_note`` (what to do if pain or a reaction starts) is a second note."""
    return {
        "resourceType": "ServiceRequest",
        "id": new_id(),
        "identifier": [marker("observation-period", order.request_id)],
        "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": service_code.system, "code": service_code.code,
                             "display": service_code.display}], "text": service_code.display},
        **_context(ctx),
        "occurrenceTiming": {"repeat": {"count": 1, "duration": minutes, "durationUnit": "min"}},
        "supportingInfo": [_iron_link(order)],
        "note": [{"text": note}] + ([{"text": nurse_note}] if nurse_note else []),
    }


def lab_request(ctx: EvaluationContext, order: IronOrder, topic: str, loinc: str, display: str, note: str) -> dict:
    return {
        "resourceType": "ServiceRequest",
        "id": new_id(),
        "identifier": [marker(topic, order.request_id, loinc)],
        "status": "draft",
        "intent": "order",
        "code": {"coding": [{"system": LOINC, "code": loinc, "display": display}], "text": display},
        **_context(ctx),
        "supportingInfo": [_iron_link(order)],
        "note": [{"text": note}],
    }


def premedication_request(ctx: EvaluationContext, order: IronOrder, spec: MedicationSpec, note: str) -> dict:
    return {
        "resourceType": "MedicationRequest",
        "id": new_id(),
        "identifier": [marker("premedication", order.request_id, spec.key)],
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": {
            "coding": [{"system": RXNORM, "code": str(spec.rxnorm), "display": spec.rxnorm_display}],
            "text": spec.display,
        },
        **_context(ctx),
        "supportingInformation": [_iron_link(order)],
        "note": [{"text": note}],
        "dosageInstruction": [{
            "text": f"{spec.display}, {spec.timing_text}",
            "timing": {"repeat": {"count": 1}},
            "route": {"coding": [{"system": SNOMED, "code": str(spec.route_code), "display": spec.route_display}],
                      "text": spec.route_display},
            "doseAndRate": [{"doseQuantity": {"value": _number(spec.dose_value), "unit": spec.dose_unit,
                                              "system": UCUM, "code": spec.dose_unit}}],
        }],
    }


def test_dose_request(ctx: EvaluationContext, order: IronOrder, dose_mg: float, route_coding: dict,
                      instruction: str, note: str, *, seconds: float | None = None, wait_minutes: float | None = None,
                      method_coding: dict | None = None) -> dict:
    """A separate draft order for the label's test dose, same product as the iron order.

    It carries its own administration time (``seconds``: the label's "over at least 30
    seconds") and the wait before the rest of the dose (``wait_minutes``) in structured
    fields as well as in its text, so a later call reads it as the labelled test dose
    (no rate card, no rewritten text that loses the wait).
    """
    source = order.resource
    resource: dict = {
        "resourceType": "MedicationRequest",
        "id": new_id(),
        "identifier": [marker("formulation", order.request_id, "test-dose")],
        "status": "draft",
        "intent": "order",
    }
    if isinstance(source.get("medicationCodeableConcept"), dict):
        resource["medicationCodeableConcept"] = json_copy(source["medicationCodeableConcept"])
    elif isinstance(source.get("medicationReference"), dict):
        reference = json_copy(source["medicationReference"])
        resource["medicationReference"] = reference
        ref = str(reference.get("reference", ""))
        if ref.startswith("#"):
            contained = [c for c in items(source.get("contained")) if isinstance(c, dict) and f"#{c.get('id')}" == ref]
            if contained:
                resource["contained"] = json_copy(contained)
    resource.update(_context(ctx))
    resource["supportingInformation"] = [_iron_link(order)]
    resource["note"] = [{"text": note}]
    repeat: dict = {"count": 1}
    if seconds:
        repeat.update({"duration": _number(seconds), "durationUnit": "s"})
    dosage: dict = {
        "text": instruction,
        "timing": {"repeat": repeat},
        "route": {"coding": [route_coding], "text": route_coding.get("display")},
        "doseAndRate": [{"doseQuantity": _mg(dose_mg)}],
    }
    if method_coding:
        dosage["method"] = {"coding": [method_coding], "text": method_coding.get("display")}
    if wait_minutes:
        dosage["extension"] = [{"url": WAIT_BEFORE_REST, "valueDuration": {
            "value": _number(wait_minutes), "unit": "min", "system": UCUM, "code": "min"}}]
    resource["dosageInstruction"] = [dosage]
    return resource
