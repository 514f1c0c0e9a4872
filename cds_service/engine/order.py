"""Read the draft orders: which are IV-iron orders, and what each one asks for.

``read_orders`` walks the ``draftOrders`` Bundle. A MedicationRequest (R4, or STU3 with its
Dosage-level dose) or a DSTU2 MedicationOrder becomes
an ``IronOrder`` when its medication is an IV-iron product (by code, else by
name) and its route is intravenous or not stated. The injectable product by
another route is one too: by a route its label allows (INFeD IM, ``route`` =
the route group) or, flagged as a contradiction, by one it does not. Oral iron,
other non-IV orders and other drugs are not IV-iron orders; they come back with
every other draft resource so that rules can see, e.g., an observation order
already drafted.

An IV order whose ``medicationReference`` could not be read (the Medication is
neither contained, in the draft Bundle nor in the record, e.g. its read failed)
and that carries no name either may well be IV iron: it becomes an IronOrder
with ``product_key=None`` and ``matched_by="unresolved"``, so the prescriber
is told it could not be checked instead of getting silence.
"""

from __future__ import annotations

from cds_service.engine import text as card_text
from cds_service.engine.dosage import DOSE_ELEMENTS, RATE_ELEMENTS
from cds_service.engine.fhir_values import (
    concept_label,
    items,
    reference_target,
)
from cds_service.engine.identify import Identity, matcher_for
from cds_service.engine.markdown import markdown_text
from cds_service.engine.model import IronOrder
from cds_service.engine.order_dosage import read_order_dosage
from cds_service.engine.routes import RouteReading, route_matcher_for


def _bundle_resources(draft_orders: object) -> list[dict]:
    if not isinstance(draft_orders, dict):
        return []
    entries = draft_orders.get("entry")
    if not isinstance(entries, list):
        return []
    return [
        e["resource"]
        for e in entries
        if isinstance(e, dict)
        and isinstance(e.get("resource"), dict)
        and isinstance(e["resource"].get("resourceType"), str)
    ]


def resolve_medication(holder: dict, medications: dict[str, dict]) -> dict | None:
    """The Medication a ``medicationReference`` names: contained ("#id") or in ``medications`` (id -> Medication)."""
    rtype, rid = reference_target(holder.get("medicationReference"))
    if rtype == "#":
        return _contained(holder, rid, "Medication")
    if rtype == "Medication" and rid:
        return medications.get(rid)
    return None


def _contained(holder: dict, rid: str | None, resource_type: str | None = None) -> dict | None:
    return next(
        (
            c
            for c in items(holder.get("contained"))
            if isinstance(c, dict)
            and c.get("id") == rid
            and (resource_type is None or c.get("resourceType") == resource_type)
        ),
        None,
    )


def ingredient_item(ingredient: dict, holder: dict, medications: dict[str, dict]) -> tuple[list[dict], list[str]]:
    """(code concepts, names) of one ``Medication.ingredient``: itemCodeableConcept, itemReference or R5 ``item``."""
    concepts: list[dict] = []
    names: list[str] = []
    item = ingredient.get("item") if isinstance(ingredient.get("item"), dict) else {}  # R5 CodeableReference
    for concept in (ingredient.get("itemCodeableConcept"), item.get("concept")):
        if isinstance(concept, dict):
            concepts.append(concept)
    for reference in (ingredient.get("itemReference"), item.get("reference")):
        if not isinstance(reference, dict):
            continue
        if isinstance(reference.get("display"), str) and reference["display"].strip():
            names.append(reference["display"])
        rtype, rid = reference_target(reference)
        target = _contained(holder, rid) if rtype == "#" else medications.get(rid) if rtype == "Medication" else None
        if isinstance(target, dict) and isinstance(target.get("code"), dict):
            concepts.append(target["code"])  # a contained Substance or Medication names the ingredient by its code
    return concepts, names


def medication_parts(
    holder: dict, medications: dict[str, dict]
) -> tuple[list[dict], list[str], list[dict], str | None] | None:
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
    medication = resolve_medication(holder, medications)
    extra = [display] if display else []
    if medication is None:
        return ([], extra, [], display) if extra else None
    concepts = [medication["code"]] if isinstance(medication.get("code"), dict) else []
    for ingredient in items(medication.get("ingredient")):
        if isinstance(ingredient, dict):
            item_concepts, names = ingredient_item(ingredient, holder, medications)
            concepts += item_concepts
            extra += names
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
    index = (
        {m["id"]: m for m in record.of_type("Medication") if isinstance(m.get("id"), str)} if record is not None else {}
    )
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
            if reading.route == wanted:  # a non-IV dosage decides only when no dosage is IV or unstated
                return reading, dosage
    return RouteReading("unknown", None, False), {}


def _ceiling(knowledge) -> float | None:
    """The dose above which a reading is taken as misread (protocol ``implausible_dose_mg``)."""
    fact = knowledge.protocol.implausible_dose_mg
    return float(fact.value) if fact is not None else None


def _iron_ingredient(knowledge):
    matcher = matcher_for(knowledge)

    def is_iron(ingredient: dict) -> bool:
        concepts, names = ingredient_item(ingredient, {}, {})
        return matcher.identify(concepts, names) is not None

    return is_iron


def _dose_and_time(
    request: dict, dosage: dict, medications: dict[str, dict], concentration: float | None, knowledge, patient=None
):
    medication = resolve_medication(request, medications)
    return read_order_dosage(
        dosage, medication, concentration, _ceiling(knowledge), knowledge, _iron_ingredient(knowledge), patient
    )


def _editable(request: dict, dosages: list[dict]) -> bool:
    """An update suggestion is written as R4 (a doseAndRate list): only for drafts already in that shape."""
    if request.get("resourceType") != "MedicationRequest":
        return False
    for dosage in dosages:
        if "doseAndRate" in dosage and not isinstance(dosage["doseAndRate"], list):
            return False
        if any(key in dosage for key in DOSE_ELEMENTS + RATE_ELEMENTS):
            return False
    return True


def labelled_routes(product) -> tuple[str, ...]:
    """The route groups (codes.yaml ``routes``) the product's labels allow; intravenous only when not stated."""
    return tuple(product.routes.value) if product is not None and product.routes is not None else ("iv",)


def labelled_routes_text(knowledge, product) -> str:
    """The product's labelled routes as the cards name them: "intravenous or intramuscular"."""
    return " or ".join(card_text.common(knowledge, "order_reading", "route_names", group)
                       for group in labelled_routes(product))


def labelled_non_iv_route(route_concept: object, product, knowledge) -> str | None:
    """The route group, other than IV, that the order's route is in and the product's label allows
    ("intramuscular" for INFeD IM); None when no label of the product allows the route (iron sucrose IM or SC,
    any injection by mouth)."""
    matcher = route_matcher_for(knowledge)
    return next((group for group in labelled_routes(product)
                 if group != "iv" and matcher.in_group(route_concept, group)), None)


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
        found = (
            any(
                isinstance(c, dict) and c.get("resourceType") == "Medication" and c.get("id") == rid
                for c in request.get("contained")
            )
            if isinstance(request.get("contained"), list)
            else False
        )
    else:
        found = rtype == "Medication" and bool(rid) and rid in medications
    if found:
        return None
    address = reference.get("reference")
    return address.strip() if isinstance(address, str) and address.strip() else "a reference without an address"


def read_order(
    request: dict, medications: dict[str, dict], knowledge, unavailable: dict[str, str] | None = None, patient=None
) -> IronOrder | None:
    """One MedicationRequest (R4 / STU3) or DSTU2 MedicationOrder as an IronOrder; None when it is not IV iron.

    ``unavailable``: the record's reads that failed ("medication:<id>" -> reason), named in ``matched_on``.
    """
    found = identify_medication(request, medications, knowledge)
    unread = unread_reference(request, medications) if found is None else None
    if found is None and unread is None:
        return None
    dosages = (
        [d for d in items(request.get("dosageInstruction")) if isinstance(d, dict)]
        if isinstance(request.get("dosageInstruction"), list)
        else []
    )
    route, dosage = _route(dosages, knowledge)
    # The injectable product (named by a code for the injectable, or by a name that only exists as an
    # injection) ordered by a non-IV route:
    # - a route its label does not allow (by mouth, or iron sucrose IM) is a contradiction, not an order
    #   outside our scope: it is checked as IV iron and the cards say so, rather than the order getting no card;
    # - a route its label allows (INFeD IM) is checked as that route: the checks that belong to every dose
    #   (earlier severe reaction, test dose and boxed warning, daily dose) run, the IV ones do not.
    # Without either (an ingredient code, which also sits in tablets; no product) a non-IV order is not ours.
    product = knowledge.products.get(found[0].product_key) if found is not None and found[0].product_key else None
    labelled = conflict = False
    if found is not None and product is not None and found[0].injectable and route.route == "non-iv":
        labelled = labelled_non_iv_route(dosage.get("route"), product, knowledge)
        conflict = labelled is None
    if route.route == "non-iv" and not (conflict or labelled):
        return None
    if found is None:
        # Only a stated IV route gives reason to think an unreadable medication may be IV iron.
        return (
            _unresolved_order(request, unread, route, dosage, medications, knowledge, unavailable or {})
            if route.route == "iv"
            else None
        )
    identity, label = found
    # Oral iron (ferrous salts, tablets...) never gets a card; an explicit IV route only overrides the
    # oral hint when a code names an injectable product (the ingredient 5992 also sits in a tablet).
    if identity.oral and not ((route.route == "iv" or conflict or labelled) and identity.injectable_code):
        return None
    problems = _identity_problems(identity, product, route)
    notes: list[str] = []
    if conflict:
        notes.append(
            card_text.common(
                knowledge, "order_reading", "route_conflict", route=markdown_text(route.text or "oral"),
                product=identity.matched_on, routes=labelled_routes_text(knowledge, product)
            )
        )
    concentration = None
    if product is not None and product.concentration_mg_per_ml is not None:
        concentration = float(product.concentration_mg_per_ml.value)
    read = _dose_and_time(request, dosage, medications, concentration, knowledge, patient)
    return _iron_order(request, identity, label, route, read, problems, notes, conflict, dosages, labelled or None)


def _iron_order(request: dict, identity: Identity, label, route: RouteReading, read, problems: list[str],
                notes: list[str], conflict: bool, dosages: list[dict], labelled: str | None = None) -> IronOrder:
    return IronOrder(
        **_as_read(request, route, read),
        product_key=identity.product_key,
        matched_by=identity.matched_by,
        route=labelled or ("iv" if route.route == "iv" else "unknown"),
        problems=tuple(problems + read.dose.problems + read.time.problems),
        medication_text=label,
        matched_on=identity.matched_on,
        dose_per_kg=read.dose.per_kg,
        notes=tuple(notes + read.notes),
        editable=_editable(request, dosages),
        route_conflict=conflict,
    )


def _as_read(request: dict, route: RouteReading, read) -> dict:
    """The IronOrder fields every order takes as read from its dose, time and route."""
    rid = request.get("id")
    return {
        "request_id": rid if isinstance(rid, str) else "",
        "resource": request,
        "dose_mg": read.dose.dose_mg,
        "dose_source": read.dose.dose_source,
        "minutes": read.time.minutes,
        "minutes_source": read.time.minutes_source,
        "volume_ml": read.volume[0] if read.volume else None,
        "rate_mg_per_min": read.time.rate_mg_per_min,
        "route_text": route.text,
    }


def _identity_problems(identity: Identity, product, route: RouteReading) -> list[str]:
    problems: list[str] = []
    if product is None:
        problems.append(
            "The IV-iron product could not be identified (recognised only as IV iron by "
            f"{identity.matched_on}), so the product's label limits could not be checked"
        )
    if route.route == "unknown":
        problems.append(
            f"The route '{markdown_text(route.text)}' was not recognised as intravenous or not; "
            "the order was checked as IV iron"
            if route.stated
            else "The route was not stated in the order; it was checked as IV iron"
        )
    return problems


def _unresolved_order(
    request: dict,
    address: str,
    route: RouteReading,
    dosage: dict,
    medications: dict[str, dict],
    knowledge,
    unavailable: dict[str, str],
) -> IronOrder:
    """An IV order of a medication we could not read: class-level, with the problem said."""
    rtype, rid = reference_target(request.get("medicationReference"))
    reason = unavailable.get(f"medication:{rid}") if rtype == "Medication" and rid else None
    read = _dose_and_time(request, dosage, medications, None, knowledge)  # no product: a mL dose stays unknown
    return IronOrder(
        **_as_read(request, route, read),
        product_key=None,
        matched_by="unresolved",
        route="iv",
        problems=(UNREADABLE_MEDICATION, *read.dose.problems, *read.time.problems),
        medication_text=None,
        matched_on=f"unreadable medication reference '{markdown_text(address)}'"
        + (f" ({markdown_text(reason)})" if reason else " (not found)"),
        editable=False,
    )


ORDER_TYPES = ("MedicationRequest", "MedicationOrder")  # R4 / STU3, and DSTU2 (the sandbox's default server)


def read_orders(draft_orders: dict, record, knowledge, patient=None) -> tuple[list[IronOrder], list[dict]]:
    """(IV-iron orders, every other draft resource) of a draftOrders Bundle.

    ``patient``: the PatientPicture once read, for doses ordered per kg (read again with it).
    Without it, a second reading of the same drafts against the same Medications is the first one's
    result (the triage reads them before the history is gathered, the engine after).
    """
    memo = getattr(record, "derived", None) if patient is None else None
    state = _medications_state(record)
    if isinstance(memo, dict):
        last = memo.get("orders")
        if last is not None and last[0] is draft_orders and last[1] is knowledge and last[2] == state:
            return list(last[3]), list(last[4])
    orders, others = _read_orders(draft_orders, record, knowledge, patient)
    if isinstance(memo, dict):
        memo["orders"] = (draft_orders, knowledge, state, tuple(orders), tuple(others))
    return orders, others


def _medications_state(record) -> tuple:
    """What of ``record`` an order reading depends on: its Medications (only ever added) and why any
    could not be read."""
    if record is None:
        return ()
    unavailable = getattr(record, "unavailable", None)
    failed = tuple((k, v) for k, v in unavailable.items() if k.startswith("medication:")) \
        if isinstance(unavailable, dict) else ()
    return len(record.of_type("Medication")), failed


def _read_orders(draft_orders: dict, record, knowledge, patient) -> tuple[list[IronOrder], list[dict]]:
    resources = _bundle_resources(draft_orders)
    medications = medication_index(record, resources)
    unavailable = getattr(record, "unavailable", None)
    unavailable = unavailable if isinstance(unavailable, dict) else {}
    orders: list[IronOrder] = []
    others: list[dict] = []
    for resource in resources:
        order = (
            read_order(resource, medications, knowledge, unavailable, patient)
            if resource.get("resourceType") in ORDER_TYPES
            else None
        )
        if order is None:
            others.append(resource)
        else:
            orders.append(order)
    return orders, others
