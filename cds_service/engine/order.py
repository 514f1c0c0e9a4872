"""Read the draft orders: which are IV-iron orders, and what each one asks for.

``read_orders`` walks the ``draftOrders`` Bundle. A MedicationRequest becomes
an ``IronOrder`` when its medication is an IV-iron product (by code, else by
name) and its route is intravenous or not stated. Oral iron, non-IV routes and
other drugs are not IV-iron orders; they come back with every other draft
resource so that rules can see, e.g., an observation order already drafted.

An IV order whose ``medicationReference`` could not be read (the Medication is
neither contained, in the draft Bundle nor in the record, e.g. its read failed)
and that carries no name either may well be IV iron: it becomes an IronOrder
with ``product_key=None`` and ``matched_by="unresolved"``, so the prescriber
is told it could not be checked instead of getting silence.
"""

from __future__ import annotations

from cds_service.engine.dosage import read_dose, read_time
from cds_service.engine.fhir_values import concept_label, items, reference_target
from cds_service.engine.identify import Identity, matcher_for
from cds_service.engine.model import IronOrder
from cds_service.engine.routes import RouteReading, route_matcher_for


def _bundle_resources(draft_orders: object) -> list[dict]:
    if not isinstance(draft_orders, dict):
        return []
    entries = draft_orders.get("entry")
    if not isinstance(entries, list):
        return []
    return [e["resource"] for e in entries
            if isinstance(e, dict) and isinstance(e.get("resource"),
                                                  dict) and isinstance(e["resource"].get("resourceType"), str)]


def medication_parts(holder: dict,
                     medications: dict[str, dict]) -> tuple[list[dict], list[str], list[dict], str | None] | None:
    """(code concepts, extra names, dose-form concepts, label) of medication[x] in a request or administration.

    ``medicationReference`` is resolved in the holder's ``contained`` resources
    ("#id") or in ``medications`` (id -> Medication from the record or the
    draft Bundle). None when no medication is given at all.
    """
    concept = holder.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        return [concept], [], [], concept_label(concept)
    reference = holder.get("medicationReference")
    if not isinstance(reference, dict):
        return None
    display = reference.get("display") if isinstance(reference.get("display"), str) else None
    rtype, rid = reference_target(reference)
    medication = None
    if rtype == "#":
        medication = next((c for c in items(holder.get("contained")) if isinstance(c, dict)
                           and c.get("resourceType") == "Medication" and c.get("id") == rid), None)
    elif rtype == "Medication" and rid:
        medication = medications.get(rid)
    extra = [display] if display else []
    if medication is None:
        return ([], extra, [], display) if extra else None
    concepts = [medication["code"]] if isinstance(medication.get("code"), dict) else []
    for ingredient in items(medication.get("ingredient")):
        if isinstance(ingredient, dict) and isinstance(ingredient.get("itemCodeableConcept"), dict):
            concepts.append(ingredient["itemCodeableConcept"])
    forms = [medication["form"]] if isinstance(medication.get("form"), dict) else []
    label = concept_label(medication.get("code")) or display
    return concepts, extra, forms, label


def identify_medication(holder: dict, medications: dict[str, dict], knowledge) -> tuple[Identity, str | None] | None:
    parts = medication_parts(holder, medications)
    if parts is None:
        return None
    concepts, extra, forms, label = parts
    identity = matcher_for(knowledge).identify(concepts, extra, forms)
    return (identity, label) if identity is not None else None


def medication_index(record, draft_resources: list[dict]) -> dict[str, dict]:
    index = {
        m["id"]: m for m in record.of_type("Medication") if isinstance(m.get("id"), str)} if record is not None else {}
    for resource in draft_resources:
        if resource.get("resourceType") == "Medication" and isinstance(resource.get("id"), str):
            index.setdefault(resource["id"], resource)
    return index


def _route(dosages: list[dict], knowledge) -> tuple[RouteReading, dict]:
    """The route of the order and the dosage it came from (an IV dosage wins over others)."""
    matcher = route_matcher_for(knowledge)
    readings = [(matcher.classify(d.get("route")), d) for d in dosages]
    for wanted in ("iv", "unknown", "non-iv"):
        for reading, dosage in readings:
            if reading.route == wanted:   # a non-IV dosage decides only when no dosage is IV or unstated
                return reading, dosage
    return RouteReading("unknown", None, False), {}


def _dose_and_time(dosage: dict, concentration: float | None):
    doses, rates = _dose_entries(dosage)
    dose = read_dose(doses, concentration)
    timing = dosage.get("timing") if isinstance(dosage.get("timing"), dict) else {}
    repeat = timing.get("repeat") if isinstance(timing.get("repeat"), dict) else None
    return dose, read_time(repeat, rates, dose.dose_mg, dose.volume_ml)


def _dose_entries(dosage: dict) -> tuple[list[tuple[str, dict]], list[tuple[str, dict]]]:
    doses: list[tuple[str, dict]] = []
    rates: list[tuple[str, dict]] = []
    for dar in items(dosage.get("doseAndRate")):
        if not isinstance(dar, dict):
            continue
        for element in ("doseQuantity", "doseRange"):
            if isinstance(dar.get(element), dict):
                doses.append((element, dar[element]))
        for element in ("rateQuantity", "rateRatio", "rateRange"):
            if isinstance(dar.get(element), dict):
                rates.append((element, dar[element]))
    return doses, rates


UNREADABLE_MEDICATION = "The medication could not be read, so it could not be checked"


def unread_reference(request: dict, medications: dict[str, dict]) -> str | None:
    """The address of a ``medicationReference`` that names no readable Medication and no drug; else None.

    None when the medication is given as a concept, when the reference carries a
    name (``display``: the name decides), or when the Medication was found.
    """
    if isinstance(request.get("medicationCodeableConcept"), dict):
        return None
    reference = request.get("medicationReference")
    if not isinstance(reference, dict):
        return None
    display = reference.get("display")
    if isinstance(display, str) and display.strip():
        return None
    rtype, rid = reference_target(reference)
    if rtype == "#":
        found = any(isinstance(c, dict) and c.get("resourceType") == "Medication" and c.get("id") == rid
                    for c in request.get("contained")) if isinstance(request.get("contained"), list) else False
    else:
        found = rtype == "Medication" and bool(rid) and rid in medications
    if found:
        return None
    address = reference.get("reference")
    return address.strip() if isinstance(address, str) and address.strip() else "a reference without an address"


def read_order(request: dict, medications: dict[str, dict], knowledge,
               unavailable: dict[str, str] | None = None) -> IronOrder | None:
    """One MedicationRequest as an IronOrder, or None when it is not an IV-iron order.

    ``unavailable``: the record's reads that failed ("medication:<id>" -> reason), named in ``matched_on``.
    """
    found = identify_medication(request, medications, knowledge)
    unread = unread_reference(request, medications) if found is None else None
    if found is None and unread is None:
        return None
    dosages = [d for d in items(request.get("dosageInstruction")) if isinstance(d, dict)] \
        if isinstance(request.get("dosageInstruction"), list) else []
    route, dosage = _route(dosages, knowledge)
    if route.route == "non-iv":
        return None
    if found is None:
        # Only a stated IV route gives reason to think an unreadable medication may be IV iron.
        return _unresolved_order(request, unread, route, dosage, unavailable or {}) if route.route == "iv" else None
    identity, label = found
    # Oral iron (ferrous salts, tablets...) never gets a card; an explicit IV route only overrides the
    # oral hint when a code names an injectable product (the ingredient 5992 also sits in a tablet).
    if identity.oral and not (route.route == "iv" and identity.injectable_code):
        return None
    problems: list[str] = []
    product = knowledge.products.get(identity.product_key) if identity.product_key else None
    if product is None:
        problems.append("The IV-iron product could not be identified (recognised only as IV iron by "
                        f"{identity.matched_on}), so the product's label limits could not be checked")
    if route.route == "unknown":
        problems.append(
            f"The route '{route.text}' was not recognised as intravenous or not; the order was checked as IV iron"
                        if route.stated else "The route was not stated in the order; it was checked as IV iron")
    concentration = None
    if product is not None and product.concentration_mg_per_ml is not None:
        concentration = float(product.concentration_mg_per_ml.value)
    dose, time = _dose_and_time(dosage, concentration)
    rid = request.get("id")
    return IronOrder(
        request_id=rid if isinstance(rid, str) else "",
        resource=request,
        product_key=identity.product_key,
        matched_by=identity.matched_by,
        route="iv" if route.route == "iv" else "unknown",
        dose_mg=dose.dose_mg,
        dose_source=dose.dose_source,
        minutes=time.minutes,
        minutes_source=time.minutes_source,
        volume_ml=dose.volume_ml,
        problems=tuple(problems + dose.problems + time.problems),
        rate_mg_per_min=time.rate_mg_per_min,
        medication_text=label,
        route_text=route.text,
        matched_on=identity.matched_on,
    )


def _unresolved_order(request: dict, address: str, route: RouteReading, dosage: dict,
                      unavailable: dict[str, str]) -> IronOrder:
    """An IV order of a medication we could not read: class-level, with the problem said."""
    rtype, rid = reference_target(request.get("medicationReference"))
    reason = unavailable.get(f"medication:{rid}") if rtype == "Medication" and rid else None
    dose, time = _dose_and_time(dosage, None)   # no product, so no concentration: a mL dose stays unknown
    rid_request = request.get("id")
    return IronOrder(
        request_id=rid_request if isinstance(rid_request, str) else "",
        resource=request,
        product_key=None,
        matched_by="unresolved",
        route="iv",
        dose_mg=dose.dose_mg,
        dose_source=dose.dose_source,
        minutes=time.minutes,
        minutes_source=time.minutes_source,
        volume_ml=dose.volume_ml,
        problems=(UNREADABLE_MEDICATION, *dose.problems, *time.problems),
        rate_mg_per_min=time.rate_mg_per_min,
        medication_text=None,
        route_text=route.text,
        matched_on=f"unreadable medication reference '{address}'" + (f" ({reason})" if reason else " (not found)"),
    )


def read_orders(draft_orders: dict, record, knowledge) -> tuple[list[IronOrder], list[dict]]:
    """(IV-iron orders, every other draft resource) of a draftOrders Bundle."""
    resources = _bundle_resources(draft_orders)
    medications = medication_index(record, resources)
    unavailable = getattr(record, "unavailable", None)
    unavailable = unavailable if isinstance(unavailable, dict) else {}
    orders: list[IronOrder] = []
    others: list[dict] = []
    for resource in resources:
        order = read_order(resource, medications, knowledge, unavailable) \
            if resource.get("resourceType") == "MedicationRequest" else None
        if order is None:
            others.append(resource)
        else:
            orders.append(order)
    return orders, others

