"""Card budget over every fixture scenario: cards per IV-iron order and the interruptive share.

    .venv/bin/python benchmarks/card_budget.py [--json]

Runs each scenario of fhir_fixtures/scenarios.json as an EHR would (``iron-cds fire`` in-process, the
patient Bundle as prefetch, the scenario's hook and jurisdiction), with the clock pinned to the fixtures'
"now", and counts the cards each IV-iron order received (the engine's findings name their order). Prints
the distribution of cards per order, the largest, how many orders got an interruptive (warning or critical)
card, and the interruptive share of all cards. Noise is harm: the budget is at most three cards and at most
one interruptive card per order (tests/e2e/test_e2e_card_budget.py enforces it). It asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from dataclasses import replace
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fhir_fixtures"
INTERRUPTIVE = ("warning", "critical")


def run(index: dict) -> list[dict]:
    """One row per IV-iron order: scenario, order id, its cards (topic, indicator)."""
    import cds_service.cds_hooks.hooks as hooks
    from cds_service.ehr.fire import FireOptions, fire

    now = datetime.fromisoformat(index["now"].replace("Z", "+00:00"))
    real = hooks.evaluate
    captured: list = []

    def pinned(draft_orders, selections, record, knowledge, ctx, feeds=None):
        findings = real(draft_orders, selections, record, knowledge, replace(ctx, now=now), feeds)
        captured.extend(findings)
        return findings

    hooks.evaluate = pinned
    rows = []
    try:
        for name, scenario in sorted(index["scenarios"].items()):
            os.environ["IRON_CDS_JURISDICTION"] = scenario.get("jurisdiction", "US")
            captured.clear()
            fire(FireOptions(order=str(FIXTURES / scenario["order"]),
                             patient_bundle=str(FIXTURES / scenario["patient"]),
                             hook=scenario["hook"], encounter="icds-encounter"))
            by_order: dict[str, list[tuple[str, str]]] = {}
            for finding in captured:
                if finding.order is not None:
                    by_order.setdefault(finding.order.request_id, []).append((finding.topic, finding.indicator))
            rows += [{"scenario": name, "order": oid, "cards": cards} for oid, cards in by_order.items()]
    finally:
        hooks.evaluate = real
    return rows


def summary(rows: list[dict]) -> dict:
    counts = [len(r["cards"]) for r in rows]
    indicators = [indicator for r in rows for _, indicator in r["cards"]]
    loud = [sum(i in INTERRUPTIVE for _, i in r["cards"]) for r in rows]
    return {
        "orders_with_cards": len(rows),
        "cards": len(indicators),
        "cards_per_order_mean": round(sum(counts) / len(counts), 2) if counts else 0,
        "cards_per_order_max": max(counts, default=0),
        "cards_per_order_distribution": dict(sorted(Counter(counts).items())),
        "interruptive_cards": sum(loud),
        "interruptive_share_of_cards": round(sum(loud) / len(indicators), 3) if indicators else 0,
        "orders_with_an_interruptive_card": sum(1 for n in loud if n),
        "orders_over_budget": [f"{r['scenario']}/{r['order']}" for r, n in zip(rows, loud, strict=True)
                               if len(r["cards"]) > 3 or n > 1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    os.environ.setdefault("IRON_CDS_AUTH", "off")
    os.environ.setdefault("IRON_CDS_DATABASE_URL", "sqlite://")
    import logging
    logging.disable(logging.CRITICAL)   # the per-call service log is not what this reports
    index = json.loads((FIXTURES / "scenarios.json").read_text())
    result = summary(run(index))
    if args.json:
        print(json.dumps(result, indent=1))
        return
    print(f"IV-iron orders with cards: {result['orders_with_cards']} (fixture scenarios: {len(index['scenarios'])})")
    print(f"cards per order: mean {result['cards_per_order_mean']}, max {result['cards_per_order_max']}, "
          f"distribution {result['cards_per_order_distribution']}")
    print(f"interruptive (warning/critical): {result['interruptive_cards']} of {result['cards']} cards "
          f"({result['interruptive_share_of_cards']:.1%}); "
          f"orders with one: {result['orders_with_an_interruptive_card']}")
    print(f"orders over budget (> 3 cards or > 1 interruptive): {result['orders_over_budget'] or 'none'}")


if __name__ == "__main__":
    sys.exit(main())
