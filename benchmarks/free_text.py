"""Benchmark: negation and keyword finding on long free text (issue 10, finding 2).

    .venv/bin/python benchmarks/free_text.py

Prints, for "anaphylaxis was ruled out" repeated to 1 kB ... 64 kB (and the same text
with a period after each repetition), the time one manifestation scan takes and the
words the scanner visited. Before the fix 26 kB took 4.7 s and 52 kB 19 s (quadratic);
now the time is flat past the 4 kB cap and linear below it. This is a benchmark, not a
test: it asserts nothing (the tests count work instead of timing it).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cds_service.engine.manifestations import classifier_for  # noqa: E402
from cds_service.engine.negation import WorkMeter  # noqa: E402
from cds_service.knowledge.loader import load_knowledge  # noqa: E402


def main() -> None:
    finder = classifier_for(load_knowledge()).finder
    print(f"{'text':>34} {'kB':>5} {'ms':>8} {'words visited':>14}  result")
    for phrase in ("anaphylaxis was ruled out ", "anaphylaxis was ruled out. "):
        for kb in (1, 2, 4, 8, 16, 26, 52, 64):
            text = phrase * (kb * 1024 // len(phrase))
            meter = WorkMeter()
            started = time.perf_counter()
            runs = 20
            for _ in range(runs):
                found = finder.find(text)
            elapsed = (time.perf_counter() - started) / runs * 1000
            finder.find(text, meter)
            print(f"{phrase.strip()!r:>34} {kb:>5} {elapsed:>8.2f} {meter.steps:>14}  "
                  f"affirmed={found[0]} negated={found[1]}")
    uncapped = "anaphylaxis was ruled out " * (3000 // 26)
    meter = WorkMeter()
    finder.find(uncapped, meter)
    print(f"below the cap: {len(uncapped)} characters, {meter.steps} words visited "
          f"({meter.steps / len(uncapped.split()):.1f} per word)")


if __name__ == "__main__":
    main()
