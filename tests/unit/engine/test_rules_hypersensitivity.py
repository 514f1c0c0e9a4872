"""hypersensitivity-history: severe -> critical + cancel; ferumoxytol after any allergic reaction -> critical."""

from __future__ import annotations

from cds_service.engine import run_rules
from cds_service.engine.rules import hypersensitivity, observation, premedication, rate
from support.rules import draft_resource, facts, flat, order, patient, reaction


def ferumoxytol():
    return order(product="ferumoxytol", dose_mg=510, minutes=15, resource=draft_resource(dose_mg=510, minutes=15))


def test_no_card_without_hypersensitivity_history():
    assert hypersensitivity.check(facts()) is None
    assert hypersensitivity.check(facts(the_patient=patient(reactions=(reaction("infusion-pain"),)))) is None


def test_severe_earlier_reaction_is_critical_with_a_cancel_suggestion_and_safer_paths():
    severe = patient(reactions=(reaction("hypersensitivity", "severe", text="Anaphylaxis after iron sucrose",
                                         product="iron_sucrose"),))
    finding = hypersensitivity.check(facts(the_patient=severe))
    assert finding.indicator == "critical" and "ferric carboxymaltose" in finding.summary
    (cancel,) = finding.suggestions
    assert cancel.action == "delete" and cancel.resource_id == "MedicationRequest/mr-1" and cancel.resource is None
    detail = flat(finding.detail)
    for words in ("allergy specialist", "supervised setting", "resuscitation", "another product",
                  "anaphylaxis after iron sucrose"):
        assert words in detail
    assert finding.sources


def test_moderate_reaction_is_a_warning_without_cancel():
    moderate = patient(reactions=(reaction("hypersensitivity", "moderate"),))
    finding = hypersensitivity.check(facts(the_patient=moderate))
    assert finding.indicator == "warning" and finding.suggestions == ()
    assert "moderate" in finding.summary and "slower" in flat(finding.detail)
    assert "contraindicates use after hypersensitivity to this product" in flat(finding.detail)  # same product


def test_ferumoxytol_after_any_allergic_reaction_to_iv_iron_is_contraindicated():
    mild = patient(reactions=(reaction("hypersensitivity", "mild", product="iron_sucrose"),))
    finding = hypersensitivity.check(facts(ferumoxytol(), mild))
    assert finding.indicator == "critical" and "contraindicated" in finding.summary
    assert "History of allergic reaction to any intravenous iron product" in finding.detail
    assert finding.suggestions[0].action == "delete"


def test_another_product_after_a_mild_reaction_is_only_a_warning():
    mild = patient(reactions=(reaction("hypersensitivity", "mild", product="iron_sucrose"),))
    assert hypersensitivity.check(facts(the_patient=mild)).indicator == "warning"


def test_infusion_pain_alone_does_not_contraindicate_ferumoxytol():
    assert hypersensitivity.check(facts(ferumoxytol(), patient(reactions=(reaction("infusion-pain"),)))) is None


def test_critical_order_gets_no_premedication_rate_or_observation_card():
    """The stop card is the only way forward: no premedication, slower-rate or observation suggestion."""
    severe = patient(reactions=(reaction("hypersensitivity", "severe"), reaction("infusion-pain")))
    assert premedication.check(facts(the_patient=severe)) is None
    assert rate.check(facts(order(minutes=15), severe)) is None
    assert rate.check(facts(order(minutes=10), severe)) is None  # faster than the label, but to be cancelled
    assert observation.check(facts(the_patient=severe)) is None
    mild = patient(reactions=(reaction("hypersensitivity", "mild", product="iron_sucrose"),))
    assert rate.check(facts(ferumoxytol(), mild)) is None  # contraindicated: critical, same rule
    assert observation.check(facts(ferumoxytol(), mild)) is None
    assert rate.check(facts(order(minutes=15), mild)) is not None  # not critical for FCM: slower rate advised
    assert observation.check(facts(the_patient=mild)) is not None


def test_the_stop_card_offers_only_the_cancel_and_names_specialist_review():
    findings = run_rules(facts(the_patient=patient(reactions=(reaction("hypersensitivity", "severe"),))))
    actions = [(f.topic, s.action) for f in findings for s in f.suggestions]
    assert ("hypersensitivity-history", "delete") in actions
    assert not [a for a in actions if a[0] in ("premedication", "infusion-rate", "observation-period")]
    (stop,) = [f for f in findings if f.topic == "hypersensitivity-history"]
    assert stop.indicator == "critical" and "specialist" in flat(stop.detail)
