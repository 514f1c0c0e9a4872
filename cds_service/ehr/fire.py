"""``iron-cds fire``: play the EHR. Build a CDS Hooks 2.0 request from a draft order and a patient's
data, resolve the service's prefetch templates, send it (in-process or over HTTP), return the response.

Every failure a user can cause (a missing file, an unreachable server, an unknown patient, a service
error) becomes a ``FireError`` with a one-line message; the CLI prints it and exits non-zero.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from pathlib import Path

from cds_service import HOOKS
from cds_service.ehr.client_jwt import SigningKeyError, load_signing_key
from cds_service.ehr.prefetch import BundleSource, FhirServerSource, PrefetchError, resolve_prefetch, token_values
from cds_service.ehr.transports import (
    FireError,
    HttpService,
    InProcessService,
    choose_service,
    service_target,
    status_error,
)

log = logging.getLogger("iron_cds.fire")

DEFAULT_USER = "Practitioner/iron-cds-fire"
ORDER_TYPES = ("MedicationRequest", "ServiceRequest", "NutritionOrder", "DeviceRequest", "VisionPrescription")


@dataclass
class FireOptions:
    order: str
    patient_bundle: str | None = None
    fhir_server: str | None = None
    patient: str | None = None
    bearer_token: str | None = None
    hook: str = "order-sign"
    service: str | None = None
    sign_key: str | None = None
    issuer: str | None = None
    jku: str | None = None
    user: str = DEFAULT_USER
    encounter: str | None = None
    prefetch: str = "all"                 # all | none | comma-separated keys
    timeout: float = 30.0


# --- inputs -----------------------------------------------------------------------------------


def _read_json(path: str, what: str):
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise FireError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise FireError(f"{what} {path} is not UTF-8 text") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise FireError(f"{what} {path} is not valid JSON ({exc})") from None


def load_orders(path: str) -> list[dict]:
    """Draft orders from a file: one MedicationRequest (or other order) or a Bundle of them."""
    data = _read_json(path, "order file")
    if not isinstance(data, dict):
        raise FireError(f"order file {path}: expected a MedicationRequest or a Bundle, found {type(data).__name__}")
    if data.get("resourceType") == "Bundle":
        orders = [e.get("resource") for e in data.get("entry") or [] if isinstance(e, dict)]
    else:
        orders = [data]
    if not orders:
        raise FireError(f"order file {path}: the Bundle holds no orders")
    for order in orders:
        kind = order.get("resourceType") if isinstance(order, dict) else type(order).__name__
        if kind not in ORDER_TYPES:
            raise FireError(f"order file {path}: expected a MedicationRequest (or another order), found {kind!r}")
        if not isinstance(order.get("id"), str) or not order["id"]:
            raise FireError(f"order file {path}: a {kind} has no id (the service's suggestions refer to it)")
    if not any(o["resourceType"] == "MedicationRequest" for o in orders):
        raise FireError(f"order file {path}: no MedicationRequest among the orders")
    return orders


def _for_patient(orders: list[dict], patient_id: str) -> list[dict]:
    """The EHR drafts orders for the patient in context: point each order's subject there."""
    wanted = f"Patient/{patient_id}"
    out = []
    for order in orders:
        subject = (order.get("subject") or {}).get("reference")
        if subject != wanted:
            if subject:
                log.warning("order %s/%s names another subject; drafting it for the patient in context",
                            order["resourceType"], order["id"])
            order = {**order, "subject": {"reference": wanted}}
        out.append(order)
    return out


# --- the EHR's request ----------------------------------------------------------------------------


def _patient_source(options: FireOptions):
    """(patient id, data source or None)."""
    if options.patient_bundle and options.fhir_server:
        raise FireError("give either --patient-bundle or --fhir-server, not both")
    if options.fhir_server:
        if not options.patient:
            raise FireError("--fhir-server needs --patient ID")
        if not options.fhir_server.startswith(("http://", "https://")):
            raise FireError(f"--fhir-server must be an http(s) URL, not {options.fhir_server!r}")
        source = FhirServerSource(options.fhir_server, options.bearer_token, timeout=min(options.timeout, 15.0))
        source.check_patient(options.patient)
        return options.patient, source
    if options.patient_bundle:
        bundle = _read_json(options.patient_bundle, "patient bundle")
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise FireError(f"patient bundle {options.patient_bundle} is not a FHIR Bundle")
        source = BundleSource(bundle)
        patient_id = options.patient
        if patient_id is None:
            ids = source.patient_ids()
            if len(ids) != 1:
                raise FireError(
                    f"patient bundle {options.patient_bundle} holds {len(ids)} Patients; say which with --patient ID")
            patient_id = ids[0]
        source.check_patient(patient_id)
        return patient_id, source
    if not options.patient:
        raise FireError("say whose order this is: --patient-bundle FILE, or --fhir-server URL --patient ID")
    log.warning("no patient data given: the service sees the order alone")
    return options.patient, None


def build_request(options: FireOptions, orders: list[dict], patient_id: str, prefetch: dict | None) -> dict:
    context = {
        "userId": options.user,
        "patientId": patient_id,
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": o} for o in orders]},
    }
    if options.encounter:
        context["encounterId"] = options.encounter
    if options.hook == "order-select":
        context["selections"] = [f"{o['resourceType']}/{o['id']}" for o in orders
                                 if o["resourceType"] == "MedicationRequest"]
    body: dict = {"hook": options.hook, "hookInstance": str(uuid.uuid4())}
    if options.fhir_server:
        body["fhirServer"] = options.fhir_server.rstrip("/")
        if options.bearer_token:
            body["fhirAuthorization"] = {
                "access_token": options.bearer_token,
                "token_type": "Bearer",
                "expires_in": 300,
                "scope": "patient/*.read",
                "subject": "iron-cds",
                "patient": patient_id,
            }
    body["context"] = context
    if prefetch is not None:
        body["prefetch"] = prefetch
    return body


def _prefetch_keys(spec: str, templates: dict) -> list[str] | None:
    if spec == "all":
        return None
    if spec == "none":
        return []
    keys = [k.strip() for k in spec.split(",") if k.strip()]
    unknown = sorted(set(keys) - set(templates))
    if unknown:
        raise FireError(
            f"--prefetch names keys the service does not define: {', '.join(unknown)} (it has: {', '.join(templates)})")
    return keys


def fire(options: FireOptions) -> dict:
    """Do what an EHR does for one hook call; return the service's JSON response."""
    if options.hook not in HOOKS:
        raise FireError(f"--hook must be one of {', '.join(HOOKS)}")
    if bool(options.sign_key) != bool(options.issuer):
        raise FireError("--sign-key and --issuer go together")
    try:
        key = load_signing_key(options.sign_key) if options.sign_key else None
    except SigningKeyError as exc:
        raise FireError(str(exc)) from None
    orders = load_orders(options.order)
    try:
        patient_id, source = _patient_source(options)
    except PrefetchError as exc:
        raise FireError(str(exc)) from None
    orders = _for_patient(orders, patient_id)

    base, wanted_id = service_target(options.service)
    service = HttpService(base, key, options.issuer, options.jku,
                          options.timeout) if base else InProcessService(key, options.issuer, options.jku)
    status, discovery = service.get("/cds-services")
    if status != 200 or not isinstance(discovery, dict) or not isinstance(discovery.get("services"), list):
        raise status_error(service, "discovery", status, discovery)
    definition = choose_service(discovery["services"], options.hook, wanted_id, service.label)
    templates = definition.get("prefetch") or {}

    prefetch = None
    if source is not None:
        keys = _prefetch_keys(options.prefetch, templates)
        values = token_values(patient_id, options.user, options.encounter)
        try:
            resolved = resolve_prefetch(templates, values, source, only=keys)
        except PrefetchError as exc:
            raise FireError(str(exc)) from None
        for key_name, why in resolved.skipped.items():
            log.warning("prefetch %s left out: %s", key_name, why)
        prefetch = resolved.prefetch if resolved.prefetch or keys is None else None
    body = build_request(options, orders, patient_id, prefetch)

    status, response = service.post(f"/cds-services/{definition['id']}", body)
    if status != 200 or not isinstance(response, dict) or not isinstance(response.get("cards"), list):
        raise status_error(service, f"the {options.hook} call", status, response)
    return response
