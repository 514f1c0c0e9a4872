"""Generate the synthetic fixtures: patient transaction Bundles, draft orders, scenarios.json.

Run ``python fhir_fixtures/build.py`` after changing anything here; a test checks
that the committed JSON matches this script. Every person, id and date is made
up (ids start with ``icds-``; names are "Fixture <scenario>"). Dates sit close to
``NOW`` (2026-11-25) and each date-sensitive value is placed well inside or well
outside its window, so a few days of clock drift never flips a card; the
end-to-end tests still pin ``now`` to ``NOW``.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fx_patients import PATIENT_NOTES, PATIENTS  # noqa: E402
from fx_scenarios import NOW, ORDERS, SCENARIOS  # noqa: E402  (the generator's modules live beside it)


def transaction(resources: list[dict]) -> dict:
    """A transaction Bundle with PUTs: loads into a FHIR server as-is and keeps our ids."""
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, f"iron-cds:{r['resourceType']}/{r['id']}")),
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in resources
        ],
    }


def collection(resources: list[dict]) -> dict:
    """Draft orders in the shape of ``context.draftOrders``."""
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def render() -> dict[str, str]:
    """Relative path -> file content, for every generated file."""
    files: dict[str, str] = {}
    for name, resources in PATIENTS.items():
        files[f"patients/{name}.json"] = _dump(transaction(resources))
    for name, resources in ORDERS.items():
        files[f"orders/{name}.json"] = _dump(collection(resources))
    index = {
        "now": NOW,
        "note": "Synthetic, obviously fake data for tests, demos and the fire command. "
                "Each scenario: patient Bundle + draft orders + hook -> the cards expected "
                "(topic, indicator, suggestion action types).",
        "patients": PATIENT_NOTES,
        "scenarios": SCENARIOS,
    }
    files["scenarios.json"] = _dump(index)
    return files


def _dump(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    for relative, content in render().items():
        path = HERE / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    print(f"wrote {len(render())} files under {HERE}")


if __name__ == "__main__":
    main()
