"""Prefetch + fallback reads -> PatientRecord (placeholder: prefetch only)."""

from __future__ import annotations

from .record import PatientRecord


def gather_record(hook_request: dict, prefetch_keys, state) -> PatientRecord:
    record = PatientRecord()
    prefetch = hook_request.get("prefetch") or {}
    for key in prefetch_keys:
        value = prefetch.get(key.key)
        if isinstance(value, dict):
            record.sources[key.key] = "prefetch"
            if value.get("resourceType") == "Bundle":
                for entry in value.get("entry") or []:
                    if isinstance(entry, dict) and isinstance(entry.get("resource"), dict):
                        record.add(entry["resource"])
            else:
                record.add(value)
    return record
