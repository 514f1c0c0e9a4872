"""infusion-rate: label minimum time per dose; slower after a reaction or with risk factors."""

from __future__ import annotations

from fhir.resources.R4B.medicationrequest import MedicationRequest

from cds_service.engine.rules import rate
from support.rules import administration, draft_resource, facts, flat, knowledge, order, patient, reaction, risk

FCM_US = knowledge().products["ferric_carboxymaltose"].labels["US"]
REACTION_FACTOR = knowledge().protocol.rate_after_reaction_factor.value
RISK_FACTOR = knowledge().protocol.rate_with_risk_factors_factor.value


def duration_of(finding):
    (suggestion,) = finding.suggestions
    assert suggestion.action == "update"
    MedicationRequest.model_validate(suggestion.resource)
    return suggestion.resource["dosageInstruction"][0]["timing"]["repeat"]["duration"]


def fcm(minutes, dose=750, **kw):
    return order(dose_mg=dose, minutes=minutes, resource=draft_resource(dose_mg=dose, minutes=minutes), **kw)


def test_the_data_says_ferric_carboxymaltose_infuses_over_at_least_15_minutes():
    assert FCM_US.time_bands[0].min_minutes == 15 and FCM_US.time_bands[0].method == "infusion"


def infused(minutes, dose=750, product_code="1435169", **kw):
    resource = draft_resource(dose_mg=dose, minutes=minutes, product_code=product_code)
    resource["dosageInstruction"][0]["text"] = f"{dose} mg in 100 mL sodium chloride 0.9% over {minutes} minutes"
    return order(dose_mg=dose, minutes=minutes, resource=resource, **kw)


def test_15_minutes_for_750_mg_is_allowed_14_is_too_fast():
    assert rate.check(facts(infused(15))) is None
    finding = rate.check(facts(infused(14)))
    assert finding.topic == "infusion-rate" and finding.indicator == "warning"
    assert duration_of(finding) == 15
    assert "ferric carboxymaltose" in finding.summary and "14 min" in finding.summary and len(finding.summary) < 140


def test_the_update_keeps_the_id_and_the_dose():
    finding = rate.check(facts(fcm(5)))
    resource = finding.suggestions[0].resource
    assert resource["id"] == "mr-1"
    assert resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 750
    assert finding.order.resource["dosageInstruction"][0]["timing"]["repeat"]["duration"] == 5  # draft untouched


def test_an_order_that_does_not_say_how_fits_any_method_the_label_allows():
    # 750 mg over 8 min: the label's slow push (about 100 mg/min) allows it, its infusion (15 min) does not
    assert rate.check(facts(fcm(8))) is None
    finding = rate.check(facts(fcm(7)))
    assert duration_of(finding) == 15, "too fast for every method: the time that fits however it is given"


def test_a_push_is_held_to_the_push_band():
    push = draft_resource(dose_mg=750, minutes=8)
    push["dosageInstruction"][0]["method"] = {"text": "slow IV push"}
    assert rate.check(facts(order(minutes=8, resource=push))) is None
    push7 = draft_resource(dose_mg=750, minutes=7)
    push7["dosageInstruction"][0]["method"] = {"text": "IV push"}
    finding = rate.check(facts(order(minutes=7, resource=push7)))
    assert duration_of(finding) == 8  # 7.5 min rounded up: slower is the safe side


def test_after_infusion_pain_at_most_half_the_rate_never_under_the_label_minimum():
    pain = patient(reactions=(reaction(),))
    required = 15 / REACTION_FACTOR  # half the label's fastest rate for 750 mg
    assert required >= 15
    assert rate.check(facts(fcm(required), pain)) is None
    finding = rate.check(facts(fcm(required - 1), pain))
    assert duration_of(finding) == required
    assert "Back pain 6/10" in finding.detail and "slow or pause" in flat(finding.detail)


def test_after_pain_the_earlier_infusions_slower_rate_is_halved():
    # the reaction followed a 750 mg infusion over 60 min (12.5 mg/min): at most half of that now
    earlier = administration(days=60, dose_mg=750, minutes=60)
    pain = patient(reactions=(reaction(days=60),), administrations=(earlier,))
    required = 750 / (REACTION_FACTOR * 750 / 60)
    finding = rate.check(facts(fcm(required - 1), pain))
    assert duration_of(finding) == required
    assert "12.5 mg/min" in finding.detail


def test_after_pain_a_too_fast_earlier_infusion_never_sets_a_time_under_the_label():
    earlier = administration(days=60, dose_mg=750, minutes=1)  # 750 mg/min, far faster than the label
    pain = patient(reactions=(reaction(days=60),), administrations=(earlier,))
    finding = rate.check(facts(fcm(10), pain))
    assert duration_of(finding) == 15 / REACTION_FACTOR


def test_accepting_the_slower_rate_does_not_trigger_a_further_halving():
    pain = patient(reactions=(reaction(),))
    first = rate.check(facts(fcm(15), pain))
    accepted_minutes = duration_of(first)
    assert rate.check(facts(fcm(accepted_minutes), pain)) is None


def test_risk_factors_slow_the_rate_with_reasons():
    at_risk = patient(risk_factors=(risk("asthma", "Asthma"),))
    required = 15 / RISK_FACTOR
    assert rate.check(facts(fcm(required), at_risk)) is None
    finding = rate.check(facts(fcm(required - 1), at_risk))
    assert duration_of(finding) == required and "Asthma" in finding.detail


def test_the_detail_tells_the_nurse_what_to_do_and_the_warning_signs():
    detail = flat(rate.check(facts(fcm(5))).detail)
    for words in ("slow or pause", "position", "warmth", "analgesic", "wheeze", "stridor", "stop the infusion",
                  "call for help"):
        assert words in detail
    assert "injectafer (ferric carboxymaltose injection) us prescribing information" in detail   # the label, by name
    assert "s-inj-us" not in detail and "confirmed" not in detail   # no source ids or verification status


def test_unknown_time_with_nothing_stated_suggests_setting_the_label_minimum():
    unknown = order(minutes=None, resource=draft_resource(minutes=None), problems=("no administration time",))
    finding = rate.check(facts(unknown))
    assert finding.indicator == "info" and "not" in finding.detail and "checked" in finding.detail
    assert duration_of(finding) == 15


def test_unknown_time_after_pain_is_a_warning_with_the_slower_time():
    unknown = order(minutes=None, resource=draft_resource(minutes=None))
    finding = rate.check(facts(unknown, patient(reactions=(reaction(),))))
    assert finding.indicator == "warning" and duration_of(finding) == 15 / REACTION_FACTOR


def test_an_unreadable_rate_is_not_overwritten():
    resource = draft_resource(minutes=None, rate=(3, "drops/min"))
    unreadable = order(minutes=None, resource=resource, problems=("rate 3 drops/min not understood",))
    finding = rate.check(facts(unreadable))
    assert finding.suggestions == () and "drops/min" in finding.detail


def test_unknown_dose_says_the_rate_was_not_checked():
    finding = rate.check(facts(order(dose_mg=None, minutes=None, resource=draft_resource(minutes=None))))
    assert finding.indicator == "warning" and finding.suggestions == () and "not checked" in finding.summary


def test_unidentified_iv_iron_is_not_checked_visibly():
    finding = rate.check(facts(order(product=None, medication_text="IV iron")))
    assert finding.indicator == "warning" and "not checked" in finding.summary


# ------------------------------------------------ issue 12: the right reference, the cap, single risk factors
CAP = knowledge().protocol.slowed_time_max_minutes.value


def test_another_products_earlier_rate_is_never_the_reference():
    # pain during 100 mg iron sucrose over 60 min (1.7 mg/min): FCM 1,000 mg must not run for 20 hours
    sucrose = administration(product="iron_sucrose", days=60, dose_mg=100, minutes=60)
    pain = patient(reactions=(reaction(product="iron_sucrose", days=60),), administrations=(sucrose,))
    finding = rate.check(facts(fcm(15, dose=1000), pain))
    assert duration_of(finding) == 15 / REACTION_FACTOR   # half the FCM label's fastest rate for 1,000 mg
    assert "1.7 mg/min" not in finding.detail and "fastest labelled rate" in flat(finding.detail)


def test_the_same_products_earlier_rate_is_the_reference_and_named():
    earlier = administration(days=60, dose_mg=500, minutes=40)     # 12.5 mg/min
    pain = patient(reactions=(reaction(days=60),), administrations=(earlier,))
    finding = rate.check(facts(fcm(15, dose=500), pain))
    assert duration_of(finding) == 500 / (REACTION_FACTOR * 12.5)
    assert "infusion of this product" in flat(finding.detail)


def test_the_slowed_time_is_capped_at_the_protocol_maximum_with_the_reason():
    earlier = administration(days=60, dose_mg=100, minutes=120)    # 0.83 mg/min
    pain = patient(reactions=(reaction(days=60),), administrations=(earlier,))
    uncapped = 1000 / (REACTION_FACTOR * 100 / 120)                 # 2,400 min
    assert uncapped > CAP
    finding = rate.check(facts(fcm(15, dose=1000), pain))
    assert duration_of(finding) == CAP and "capped at" in flat(finding.detail)
    assert rate.check(facts(fcm(CAP, dose=1000), pain)) is None
    assert rate.check(facts(fcm(CAP - 1, dose=1000), pain)) is not None


def test_the_cap_never_goes_below_the_label_minimum():
    sucrose_400 = order(product="iron_sucrose", dose_mg=400, minutes=100,
                        resource=draft_resource(dose_mg=400, minutes=100))
    pain = patient(reactions=(reaction(product="iron_sucrose"),))
    finding = rate.check(facts(sucrose_400, pain))
    assert duration_of(finding) == max(CAP, 150)   # label: 400 mg over at least 2.5 h


def test_a_single_risk_factor_is_an_info_note_two_are_a_warning():
    one = patient(risk_factors=(risk("asthma", "Asthma"),))
    two = patient(risk_factors=(risk("asthma", "Asthma"), risk("severe_atopy", "Severe atopy")))
    assert rate.check(facts(fcm(15), one)).indicator == "info"
    assert rate.check(facts(fcm(15), two)).indicator == "warning"
    assert rate.check(facts(fcm(14), one)).indicator == "warning"          # faster than the label itself
    assert rate.check(facts(fcm(15), patient(reactions=(reaction(),)))).indicator == "warning"


def test_the_nurse_advice_never_contradicts_the_grading():
    """What the nurse is told to treat as anaphylaxis grades severe; "not benign" signs grade at least moderate."""
    from cds_service.engine.manifestations import classifier_for, grade
    classifier = classifier_for(knowledge())
    severe = ("low blood pressure", "stridor", "throat tightness", "swelling of the throat", "loss of consciousness")
    for sign in severe:
        assert grade(classifier.classify_texts([sign]))[1] == "severe", sign
    for sign in ("wheeze", "breathlessness", "hives"):
        assert grade(classifier.classify_texts([sign]))[1] in ("moderate", "severe"), sign
    advice = flat(knowledge().wording["topics"]["infusion-rate"]["nurse_advice"])
    anaphylaxis_part = advice.split("treat as anaphylaxis", 1)[1]
    assert "wheeze" not in anaphylaxis_part and "stridor" in anaphylaxis_part and "throat tightness" in anaphylaxis_part


# --- beside the critical stop card: the label's own limit only ------------------------------------------
SEVERE = patient(reactions=(reaction(kind="hypersensitivity", severity="severe"),))


def test_after_a_severe_reaction_an_order_within_the_label_gets_no_rate_card():
    # without the stop, the reaction would ask for half the rate (30 min); with it, no slowing is offered
    assert rate.check(facts(infused(15), patient(reactions=(reaction(kind="hypersensitivity"),)))) is not None
    assert rate.check(facts(infused(15), SEVERE)) is None


def test_after_a_severe_reaction_an_order_faster_than_the_label_is_still_said_without_an_update():
    finding = rate.check(facts(infused(14), SEVERE))
    assert finding.indicator == "warning" and finding.suggestions == ()
    assert "at least 15 min" in finding.summary and "faster than the label allows" in flat(finding.detail)
    assert FCM_US.source in finding.sources


def test_after_a_severe_reaction_a_method_the_label_does_not_allow_is_still_said():
    push = draft_resource(dose_mg=510, minutes=17, product_code="1191357", display="Feraheme")
    push["dosageInstruction"][0]["method"] = {"text": "slow IV push"}
    finding = rate.check(facts(order(product="ferumoxytol", dose_mg=510, minutes=17, resource=push), SEVERE))
    assert finding is not None and finding.indicator == "warning" and finding.suggestions == ()


def sucrose(dose, minutes):
    """Iron sucrose (US label) by a route and time, the order saying neither push nor infusion."""
    return order(product="iron_sucrose", dose_mg=dose, minutes=minutes,
                 resource=draft_resource(dose_mg=dose, minutes=minutes, product_code="1607976"))


def test_a_push_the_label_does_not_describe_is_not_a_way_an_unstated_order_fits():
    # The US label describes no push above 200 mg; its data carries a "no push" band of 150 min for larger doses.
    # 500 mg over 150 min fitted that band and got no card, though an infusion of 500 mg needs 210 min.
    assert rate.check(facts(sucrose(200, 2))) is None            # the labelled slow injection at dialysis
    assert rate.check(facts(sucrose(500, 210))) is None
    finding = rate.check(facts(sucrose(500, 150)))
    assert finding is not None and duration_of(finding) == 210
    assert "as a push" not in flat(finding.detail), "the label allows no push of 500 mg"


def test_a_labelled_push_is_still_offered_as_the_quicker_way():
    # FCM 750 mg over 5 min: too fast for the push (7.5 min) and the infusion (15 min); the push is said
    finding = rate.check(facts(fcm(5)))
    assert duration_of(finding) == 15 and "as a push the label allows 8 min" in flat(finding.detail)


def test_a_too_fast_order_is_held_to_the_labelled_infusion_time_not_an_unlabelled_push():
    # 300 mg iron sucrose (US), no method: the label's infusion is 90 min, and it describes no push of 300 mg.
    # The "no push above 200 mg" band (150 min) is not the label's minimum for it.
    assert rate.check(facts(sucrose(300, 90))) is None
    finding = rate.check(facts(sucrose(300, 60)))
    assert duration_of(finding) == 90
    assert "150 min" not in flat(finding.detail)
    # at or under 200 mg both ways are labelled: the strictest (the 15-minute infusion) is asked for
    assert duration_of(rate.check(facts(sucrose(200, 1)))) == 15
