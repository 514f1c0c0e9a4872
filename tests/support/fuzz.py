"""Counting the requests the fuzz suites generate, and reporting them at the end of the run.

The count goes to pytest's terminal summary (shown with or without ``-s``), via a
small plugin that the fuzz test modules register on first use.
"""

from __future__ import annotations

from collections import Counter

import pytest

COUNTS: Counter = Counter()
DEGRADED: Counter = Counter()   # engine checks that failed visibly ("check by hand" card) on generated input
_PLUGIN_NAME = "iron-cds-fuzz-report"


class _FuzzReport:
    def pytest_terminal_summary(self, terminalreporter):
        if not COUNTS:
            return
        terminalreporter.section("fuzzing")
        for suite, count in sorted(COUNTS.items()):
            terminalreporter.write_line(f"{suite}: {count} generated requests")
        terminalreporter.write_line(f"total: {sum(COUNTS.values())} generated requests")
        for where, n in DEGRADED.most_common(10):
            terminalreporter.write_line(f"engine check failed visibly {n}x (not a test failure): {where}")


@pytest.fixture(autouse=True, scope="module")
def fuzz_report(request):
    """Use in a fuzz module with ``from fuzz_support import fuzz_report  # noqa: F401``."""
    manager = request.config.pluginmanager
    if not manager.has_plugin(_PLUGIN_NAME):
        manager.register(_FuzzReport(), _PLUGIN_NAME)
    yield


def count(suite: str, n: int = 1) -> None:
    COUNTS[suite] += n


def degraded(check: str, where) -> None:
    DEGRADED[f"{check} at {where[-1] if where else '?'}"] += 1
