"""Prefetch + fallback reads -> one ``PatientRecord`` for the engine.

For each prefetch key (CDS Hooks 2.0, "Prefetch"):
  absent                       -> read it from ``fhirServer`` ourselves;
  ``null``                     -> the EHR says there is no data: do not re-read;
  a resource or Bundle         -> use it;
  an OperationOutcome, an error Bundle or anything malformed -> not obtained: read it.
Medications that draft orders point to (``medicationReference``) are read in the
same phase. All reads run at once, so the phase costs about one round trip,
and the phase ends at a deadline whatever the server does.

With a ``triage`` (hook calls), none of this happens unless there is an IV-iron
order to check: a draft whose Medication must be read to know costs that one
read first (a second round trip only when it turns out to be iron), and drafts
that are plainly not iron cost no read and no prefetch parsing at all.

Nothing the EHR or its FHIR server does makes this raise: what could not be
obtained goes to ``record.unavailable`` with a short reason, and the engine
says what it could not check (the ``history-unavailable`` card) instead of
staying silent -- a partial answer, rather than the 412 the spec would allow.
"""

from __future__ import annotations

import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable

from cds_service.fhir.ids import is_fhir_id, other_patient_test
from cds_service.fhir.payload import Failure, Obtained, interpret
from cds_service.fhir.reader import ReadLimits, ReadResult, read_paged, shared_session
from cds_service.fhir.record import PatientRecord
from cds_service.fhir.templates import resolve
from cds_service.fhir.urls import Base, Refused, log_refusal, parse_base, resolve_link
from cds_service.ops import metrics

log = logging.getLogger("iron_cds.fhir")

MAX_PARALLEL_READS = 16
MAX_MEDICATION_READS = 20
_TOKEN_CHARS = re.compile(r"^[\x21-\x7e]+$")   # visible ASCII: anything else cannot go in a header


@dataclass(frozen=True)
class _Read:
    key: str                    # record key: a prefetch key, or "medication:<id>"
    url: str
    max_pages: int
    prior: str | None = None    # why the prefetch did not give it, if it was sent
    continuation: bool = False  # more pages of a prefetched Bundle


def gather_record(hook_request: dict, prefetch_keys, state, triage=None) -> PatientRecord:
    """The patient's data for this call; never raises for anything the EHR or its FHIR server does.

    ``triage(record) -> engine.triage.Triage``: whether an IV-iron order is known, and which Medications
    must be read first to know. Without IV iron nothing of the history is parsed or read. None: read all.
    """
    try:
        return _gather(hook_request, prefetch_keys, state, triage)
    except Exception as exc:   # last line of defence: a bug here must not cost the prescriber the order checks
        log.error("gathering the patient record failed",
                  extra={"event": "fhir-gather-error", "error": type(exc).__name__,
                         "hookInstance": _hook_instance(hook_request)})
        record = PatientRecord()
        for key in prefetch_keys:
            record.unavailable[key.key] = "internal error while reading the history"
        return record


@dataclass
class _Call:
    """What every read of one hook call shares."""

    record: PatientRecord
    context: dict
    base: Base | None
    server_problem: str
    token: str | None | bool
    hook_instance: str | None
    state: object
    names_other: Callable[[object], str | None] | None   # ids.other_patient_test of the call's patient, if any


def _gather(hook_request: dict, prefetch_keys, state, triage) -> PatientRecord:
    context = hook_request.get("context") if isinstance(hook_request.get("context"), dict) else {}
    record = PatientRecord()
    _carried_medications(record, context)
    decision = triage(record) if triage is not None else None
    if decision is not None and not decision.iron and not decision.pending:
        return record   # no IV iron and nothing to read to know: the reading set-up below is not needed
    call = _call(hook_request, context, record, state)
    if decision is not None and not decision.iron:
        # Whether these drafts are iron depends on their Medication: read only those first.
        _execute(call, _medication_reads(call, only=set(decision.pending)))
        if not triage(record).iron:
            return record
    prefetch = hook_request.get("prefetch") if isinstance(hook_request.get("prefetch"), dict) else {}
    _execute(call, _history_reads(call, prefetch_keys, prefetch) + _medication_reads(call))
    return record


def _call(hook_request: dict, context: dict, record: PatientRecord, state) -> _Call:
    """What the reads of this call share. Pure: made only once something is to be read (test_gather_set_up.py)."""
    base, server_problem = _fhir_base(hook_request.get("fhirServer"))
    patient_id = context.get("patientId")
    return _Call(record, context, base, server_problem, _access_token(hook_request.get("fhirAuthorization")),
                 _hook_instance(hook_request), state,
                 other_patient_test(patient_id) if isinstance(patient_id, str) else None)


def _history_reads(call: _Call, prefetch_keys, prefetch: dict) -> list[_Read]:
    """Each prefetch key: used as sent, or a read of its template (CDS Hooks 2.0 "Prefetch")."""
    record, base, hook_instance = call.record, call.base, call.hook_instance
    max_pages = max(1, int(call.state.config.fhir_max_pages))
    reads: list[_Read] = []
    for prefetch_key in prefetch_keys:
        key = prefetch_key.key
        prior = None
        if key in prefetch:
            value = prefetch[key]
            if value is None:
                record.sources[key] = "null"
                continue
            found = interpret(value)
            if isinstance(found, Obtained):
                _add(record, key, found.resources, found.skipped, hook_instance, call.names_other)
                record.sources[key] = "prefetch"
                if found.next_url:
                    more = _continuation(key, found.next_url, base, max_pages, record, hook_instance)
                    if more is not None:
                        reads.append(more)
                continue
            prior = f"prefetch {found.reason}"
        resolved = resolve(prefetch_key.template, call.context)
        if resolved.url is None:
            _fail(record, key, _join(prior, f"template needs {', '.join(resolved.missing)}"),
                  "unresolved-token", hook_instance)
            continue
        if base is None:
            _fail(record, key, _join(prior, call.server_problem), "no-fhir-server", hook_instance)
            continue
        try:
            url = base.join(resolved.url)
        except Refused as refused:   # an id such as ".." would climb out of fhirServer's path
            log_refusal(refused, "prefetch-template", key=key, hookInstance=hook_instance)
            _fail(record, key, _join(prior, "read refused: URL outside fhirServer"), "error", hook_instance)
            continue
        reads.append(_Read(key, url, max_pages, prior))
    return reads


def _execute(call: _Call, reads: list[_Read]) -> None:
    """Run ``reads`` at once and put what they give (or why not) in the record."""
    if not reads:
        return
    if call.token is False:
        # A token we cannot put in a header: do not fall back to an unauthenticated read.
        for read in reads:
            reason = "more prefetch pages: access token unusable" if read.continuation else "access token unusable"
            _fail(call.record, read.key, _join(read.prior, reason), "error", call.hook_instance)
        return
    timeout = float(call.state.config.fhir_timeout)
    results = _run_parallel(reads, call.base, call.token or None, timeout, _extras(call.state))
    for read in reads:
        _apply(call.record, read, results[read], timeout, call.hook_instance, call.names_other)


def _run_parallel(reads: list[_Read], base, token, timeout: float, extras: dict) -> dict[_Read, ReadResult]:
    if not reads:
        return {}
    session = shared_session(extras)
    # A little slack over one request's timeout: thread start-up and parsing, not another round trip.
    started = time.monotonic()
    deadline = started + timeout + min(1.0, max(0.1, timeout / 4))
    pool = ThreadPoolExecutor(max_workers=min(len(reads), MAX_PARALLEL_READS), thread_name_prefix="fhir-read")
    try:
        futures = {
            pool.submit(read_paged, session, read.url, base, token, ReadLimits(timeout, deadline, read.max_pages)): read
            for read in reads
        }
        wait(futures, timeout=max(0.0, deadline - time.monotonic()))
    finally:
        # Do not wait for stragglers: they end at their own socket timeout, and their result is dropped.
        pool.shutdown(wait=False, cancel_futures=True)
    results: dict[_Read, ReadResult] = {}
    for future, read in futures.items():
        if future.done() and not future.cancelled() and future.exception() is None:
            results[read] = future.result()
        elif future.done() and not future.cancelled():
            results[read] = ReadResult(failure=Failure("error", "read failed"), seconds=time.monotonic() - started)
        else:
            future.cancel()
            results[read] = ReadResult(failure=Failure("deadline", f"timeout after {timeout:g}s"),
                                       seconds=time.monotonic() - started)
    return results


def _apply(record: PatientRecord, read: _Read, result: ReadResult, timeout: float, hook_instance,
           names_other) -> None:
    failure = result.failure
    resources = result.resources
    if read.key.startswith("medication:") and failure is None:
        resources = [r for r in resources if r.get("resourceType") == "Medication"]
        if not resources:
            failure = Failure("not-fhir", "not a Medication")
    metrics.observe_fhir_read(read.key, result.seconds, "ok" if failure is None else failure.outcome)
    _add(record, read.key, resources, result.skipped, hook_instance, names_other)
    if not read.continuation and (failure is None or resources):
        record.sources[read.key] = "fhir"
    if failure is not None:
        reason = failure.reason if not read.continuation else f"more prefetch pages: {failure.reason}"
        _fail(record, read.key, _join(read.prior, reason), failure.outcome, hook_instance)
    if result.incomplete:
        record.incomplete[read.key] = result.incomplete
        log.info("fhir read incomplete", extra={"event": "fhir-read-incomplete", "key": read.key,
                                                "reason": result.incomplete, "hookInstance": hook_instance})


def _continuation(key: str, next_url: str, base: Base | None, max_pages: int, record: PatientRecord,
                  hook_instance) -> _Read | None:
    """The EHR paged its prefetch: read the rest from fhirServer, if that is where the link points."""
    reason = None
    if base is None:
        reason = "more prefetch pages, but no fhirServer to read them"
    else:
        try:
            next_url = resolve_link(next_url, base)
        except Refused as refused:
            log_refusal(refused, "prefetch-next-page", key=key, hookInstance=hook_instance)
            reason = f"next prefetch page not followed: {refused.reason}"
    if reason is None and max_pages <= 1:
        reason = "stopped after 1 page"
    if reason is not None:
        record.incomplete[key] = reason
        log.info("prefetch incomplete", extra={"event": "fhir-read-incomplete", "key": key, "reason": reason,
                                               "hookInstance": hook_instance})
        return None
    return _Read(key, next_url, max_pages - 1, continuation=True)


def _draft_resources(context: dict) -> list[dict]:
    draft = context.get("draftOrders")
    entries = draft.get("entry") if isinstance(draft, dict) else None
    if not isinstance(entries, list):
        return []
    return [e["resource"] for e in entries if isinstance(e, dict) and isinstance(e.get("resource"), dict)]


def _carried_medications(record: PatientRecord, context: dict) -> None:
    for resource in _draft_resources(context):
        if resource.get("resourceType") == "Medication":
            record.add(resource)   # carried in the draft Bundle: nothing to read


ORDER_TYPES = ("MedicationRequest", "MedicationOrder")


def _medication_reads(call: _Call, only: set[str] | None = None) -> list[_Read]:
    """Reads for ``Medication/<id>`` that draft orders reference and that are neither carried nor read yet.

    ``only``: just these ids (the ones deciding whether an order is iron).
    """
    record = call.record
    known = {m.get("id") for m in record.of_type("Medication")}
    wanted: list[str] = []
    for resource in _draft_resources(call.context):
        if resource.get("resourceType") not in ORDER_TYPES:
            continue
        med_id = _medication_id(resource.get("medicationReference"), call.base)
        if not med_id or med_id in known or med_id in wanted or f"medication:{med_id}" in record.unavailable:
            continue
        if only is None or med_id in only:
            wanted.append(med_id)
    reads = []
    for med_id in wanted[:MAX_MEDICATION_READS]:
        key = f"medication:{med_id}"
        if call.base is None:
            _fail(record, key, call.server_problem, "no-fhir-server", call.hook_instance)
        else:
            reads.append(_Read(key, call.base.join(f"Medication/{med_id}"), 1))   # med_id passed the id pattern
    return reads


def _medication_id(reference, base) -> str | None:
    """``Medication/<id>`` (or the same under fhirServer's URL) -> id; contained ``#id`` is the engine's."""
    ref = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(ref, str):
        return None
    ref = ref.strip()
    if base and ref.startswith(base.url + "/"):
        ref = ref[len(base.url) + 1:]
    parts = ref.split("/")
    if len(parts) == 4 and parts[2] == "_history":
        parts = parts[:2]
    if len(parts) == 2 and parts[0] == "Medication" and is_fhir_id(parts[1]):
        return parts[1]
    return None


def _fhir_base(server) -> tuple[Base | None, str]:
    if server is None or (isinstance(server, str) and not server.strip()):
        return None, "no fhirServer given"
    base = parse_base(server)
    if base is None:
        return None, "fhirServer is not a plain http(s) URL"
    return base, ""


def _access_token(authorization) -> str | None | bool:
    """The bearer token; None when there is none (open sandboxes); False when it cannot be sent."""
    if not isinstance(authorization, dict):
        return None
    token = authorization.get("access_token")
    if token is None or token == "":
        return None
    if not isinstance(token, str) or not _TOKEN_CHARS.match(token):
        return False
    return token


def _add(record: PatientRecord, key: str, resources: list[dict], skipped: int, hook_instance, names_other) -> None:
    others = 0
    for resource in resources:
        if names_other is not None and names_other(resource):
            others += 1   # another patient's reaction or weight must never be read as this patient's
            continue
        record.add(resource)
    if others:
        log.warning(f"left out {others} resources of another patient",
                    extra={"event": "fhir-other-patient-left-out", "key": key, "count": others,
                           "hookInstance": hook_instance})
        # What this patient's data under this key is, we cannot tell: say so rather than check it as clean.
        _fail(record, key, "held another patient's data (left out)", "other-patient", hook_instance)
    if skipped:
        log.warning(f"skipped {skipped} unreadable resources",
                    extra={"event": "fhir-resources-skipped", "key": key, "skipped": skipped,
                           "hookInstance": hook_instance})
        # An entry without a readable resource (only a fullUrl, a resource without resourceType) may be the
        # allergy or the earlier dose that matters: what was read is kept, but the key is not checked as whole.
        _fail(record, key, f"{skipped} {'entry' if skipped == 1 else 'entries'} without a readable resource",
              "not-fhir", hook_instance)


def _fail(record: PatientRecord, key: str, reason: str, outcome: str, hook_instance) -> None:
    record.unavailable[key] = reason
    log.warning("fhir data unavailable",
                extra={"event": "fhir-read-failed", "key": key, "reason": reason, "outcome": outcome,
                       "hookInstance": hook_instance})


def _join(prior: str | None, reason: str) -> str:
    return f"{prior}; {reason}" if prior else reason


_FALLBACK_EXTRAS: dict = {}


def _extras(state) -> dict:
    extras = getattr(state, "extras", None)
    return extras if isinstance(extras, dict) else _FALLBACK_EXTRAS


def _hook_instance(hook_request) -> str | None:
    value = hook_request.get("hookInstance") if isinstance(hook_request, dict) else None
    return value if isinstance(value, str) else None
