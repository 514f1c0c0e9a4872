"""A unit without "{" is kept as written: the same as dropping annotations character by character."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.engine.units import _strip_annotations


def _dropped_one_by_one(unit: str) -> str:
    """The definition: drop every "{...}"; an unclosed "{" keeps the rest as written."""
    out, depth = [], 0
    for ch in unit:
        if ch == "{":
            depth += 1
        elif ch == "}" and depth:
            depth -= 1
        elif not depth:
            out.append(ch)
    return "".join(out) if depth == 0 else unit


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="mgL/{}Fe µ.()0123456789", max_size=20))
def test_annotations_are_dropped_as_one_by_one(unit):
    assert _strip_annotations(unit) == _dropped_one_by_one(unit)
