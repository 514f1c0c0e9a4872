"""history-unavailable never lists nothing, and a failed Medication read of an identified drug is not history."""

from __future__ import annotations

from cds_service.engine import unavailable
from support.rules import knowledge, order


def test_only_a_medication_read_failed_for_an_identified_drug_gives_no_card():
    assert unavailable.check({"medication:m1": "HTTP 404"}, ["ferric carboxymaltose"], knowledge()) is None


def test_missing_history_is_listed():
    finding = unavailable.check({"medication:m1": "HTTP 404", "weight": "timeout"}, ["ferric carboxymaltose"],
                                knowledge())
    assert finding is not None and "per-kg dose limits (not obtained: timeout)" in finding.detail
    assert "medication:m1" not in finding.detail


def test_an_unresolved_order_beside_an_identified_one_is_not_called_missing_history():
    unresolved = order(rid="mr-x", product=None)
    finding = unavailable.check({"medication:m2": "HTTP 404"}, ["ferric carboxymaltose"], knowledge(), [unresolved])
    assert finding is not None and "mr-x" in finding.detail
    assert not finding.summary.startswith("Patient history unavailable")
