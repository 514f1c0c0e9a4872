"""``iron-cds load-fixtures``: put our synthetic patients on a FHIR server (transaction Bundles).

Each ``fhir_fixtures/patients/<name>.json`` is a transaction Bundle whose entries are ``PUT``s with
fixed ids, so loading twice is harmless and the ids match the orders in ``fhir_fixtures/orders/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import requests

from cds_service.ehr.unreachable import why_unreachable
from cds_service.paths import fixtures_dir


class LoadError(Exception):
    """One line for the user."""


@dataclass(frozen=True)
class Loaded:
    name: str
    patient_ids: tuple[str, ...]
    resources: int


def patient_files(directory: Path | None = None, only: str | None = None) -> list[Path]:
    folder = (directory or fixtures_dir()) / "patients"
    files = sorted(folder.glob("*.json"))
    if only is not None:
        files = [f for f in files if f.stem == only or f.name == only]
        if not files:
            known = ", ".join(f.stem for f in sorted(folder.glob("*.json"))) or "none"
            raise LoadError(f"no fixture patient named {only!r} in {folder} (known: {known})")
    if not files:
        raise LoadError(f"no fixture patients in {folder}")
    return files


def read_transaction(path: Path) -> dict:
    try:
        bundle = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LoadError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise LoadError(f"{path} is not valid JSON ({exc})") from None
    if (not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle"
            or bundle.get("type") not in ("transaction", "batch")):
        raise LoadError(f"{path} is not a transaction Bundle")
    for entry in bundle.get("entry") or []:
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict) or not request.get("method") or not request.get("url"):
            raise LoadError(f"{path}: every entry needs request.method and request.url")
    return bundle


def upload(base_url: str, bundle: dict, name: str, bearer_token: str | None = None, timeout: float = 30.0,
           session: requests.Session | None = None) -> Loaded:
    headers = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
    if bearer_token:
        headers["Authorization"] = f"Bearer {bearer_token}"
    base = base_url.rstrip("/")
    try:
        response = (session or requests).post(base, data=json.dumps(bundle), headers=headers, timeout=timeout)
    except requests.Timeout:
        raise LoadError(f"FHIR server {base} did not answer within {timeout:g} s while loading {name}") from None
    except requests.RequestException as exc:
        raise LoadError(f"cannot reach FHIR server {base}: {why_unreachable(exc)}") from None
    if response.status_code != 200:
        raise LoadError(
            f"FHIR server {base} refused {name}: HTTP {response.status_code} {_diagnostics(response)}".rstrip())
    try:
        answer = response.json()
    except ValueError:
        raise LoadError(f"FHIR server {base} answered {name} with something that is not JSON") from None
    statuses = [str((e.get("response") or {}).get("status",
                                                  "")) for e in answer.get("entry") or [] if isinstance(e, dict)]
    failed = [s for s in statuses if not s.startswith("2")]
    if failed or len(statuses) != len(bundle.get("entry") or []):
        raise LoadError(
            f"FHIR server {base} did not store all of {name}: entry statuses {', '.join(failed) or 'missing'}")
    patients = tuple(
        e["resource"]["id"]
        for e in bundle.get("entry") or []
        if (e.get("resource") or {}).get("resourceType") == "Patient" and e["resource"].get("id")
    )
    return Loaded(name=name, patient_ids=patients, resources=len(statuses))


def load_fixtures(base_url: str, bearer_token: str | None = None, only: str | None = None,
                  directory: Path | None = None) -> list[Loaded]:
    session = requests.Session()
    return [
        upload(base_url, read_transaction(path), path.stem, bearer_token, session=session)
        for path in patient_files(directory, only)
    ]


def _diagnostics(response: requests.Response) -> str:
    try:
        issues = response.json().get("issue") or []
        return "; ".join(
            str(i.get("diagnostics") or (i.get("details") or {}).get("text") or i.get("code")) for i in issues)[:200]
    except (ValueError, AttributeError):
        return ""
