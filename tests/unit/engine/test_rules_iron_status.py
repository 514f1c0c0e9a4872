"""iron-status: high ferritin with high TSAT, or high haemoglobin, argue against iron now."""

from __future__ import annotations

from cds_service.engine.rules import iron_status
from support.rules import facts, knowledge, lab, patient

T = knowledge().protocol.lab_thresholds
FERRITIN, TSAT, HB = (T.ferritin_high_ng_ml.value, T.tsat_high_percent.value, T.hemoglobin_high_g_dl.value)
RECENCY = knowledge().protocol.data_recency_days.labs.value


def labs(**values):
    days = values.pop("days", 5)
    return patient(labs=[lab(name, value, days=days) for name, value in values.items()])


def test_high_ferritin_with_high_tsat_warns_at_the_thresholds():
    finding = iron_status.check(facts(the_patient=labs(ferritin=FERRITIN, tsat=TSAT)))
    assert finding.indicator == "warning" and finding.suggestions == ()
    assert "ferric carboxymaltose" in finding.summary and f"ferritin {FERRITIN:g}" in finding.summary
    assert "Ferritin" in finding.detail and finding.sources


def test_either_just_below_its_threshold_gives_no_card():
    assert iron_status.check(facts(the_patient=labs(ferritin=FERRITIN - 1, tsat=TSAT))) is None
    assert iron_status.check(facts(the_patient=labs(ferritin=FERRITIN, tsat=TSAT - 0.1))) is None
    assert iron_status.check(
        facts(the_patient=labs(ferritin=FERRITIN * 3))) is None  # high ferritin alone (inflammation)


def test_high_hemoglobin_warns():
    assert iron_status.check(facts(the_patient=labs(hemoglobin=HB - 0.1))) is None
    assert "Hb" in iron_status.check(facts(the_patient=labs(hemoglobin=HB))).summary


def test_old_results_do_not_count():
    assert iron_status.check(facts(the_patient=labs(ferritin=FERRITIN * 2, tsat=TSAT * 2, days=RECENCY + 1))) is None
