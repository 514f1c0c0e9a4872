"""dose-limit: absolute, per-kg (weight bands), daily and weekly ceilings; allowed dose rounded down."""

from __future__ import annotations

from fhir.resources.R4B.medicationrequest import MedicationRequest

from cds_service.engine.rules import dose
from support.rules import administration, days_before, draft_resource, facts, flat, knowledge, order, patient

FCM_US = knowledge().products["ferric_carboxymaltose"].labels["US"]
WEEK = knowledge().protocol.weekly_window_days.value


def fcm(mg, **kw):
    return order(dose_mg=mg, resource=draft_resource(dose_mg=mg), **kw)


def weighing(kg, days=5):
    return patient(weight_kg=kg, weight_date=days_before(days)[:10])


def allowed_of(finding):
    (suggestion,) = finding.suggestions
    assert suggestion.action == "update" and suggestion.resource["id"] == "mr-1"
    MedicationRequest.model_validate(suggestion.resource)
    quantity = suggestion.resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]
    assert quantity["unit"] == "mg"
    return quantity["value"]


def test_the_data_says_15_mg_per_kg_up_to_1000_mg_from_50_kg():
    assert FCM_US.max_single_dose.value == 1000
    band = next(b for b in FCM_US.dose_bands if b.min_weight_kg == 50)
    assert band.max_mg == 1000 and band.max_mg_per_kg == 15 and band.split_interval_days == 7


def test_1000_mg_is_allowed_at_70_kg_1001_is_not():
    assert dose.check(facts(fcm(1000), weighing(70))) is None
    finding = dose.check(facts(fcm(1001), weighing(70)))
    assert finding.indicator == "warning" and allowed_of(finding) == 1000
    assert "ferric carboxymaltose" in finding.summary and len(finding.summary) < 140


def test_15_mg_per_kg_at_60_kg_is_900_mg():
    assert dose.check(facts(fcm(900), weighing(60))) is None
    finding = dose.check(facts(fcm(901), weighing(60)))
    assert allowed_of(finding) == 900
    assert "60 kg" in finding.detail and "15 mg/kg" in finding.detail


def test_the_allowed_dose_is_rounded_down_to_whole_ml_never_up():
    finding = dose.check(facts(fcm(1000), weighing(63.3)))  # 15 x 63.3 = 949.5 mg
    value = allowed_of(finding)
    assert value <= 949.5 and value % 50 == 0 and value == 900


def test_under_50_kg_the_per_kg_band_applies():
    assert dose.check(facts(fcm(600), weighing(40))) is None
    assert allowed_of(dose.check(facts(fcm(601), weighing(40)))) == 600


def test_split_plan_gives_the_labels_interval():
    finding = dose.check(facts(fcm(1500), weighing(80)))
    text = flat(finding.detail)
    assert "give 1,000 mg now" in text and "remaining 500 mg" in text and "at least 7 days later" in text


def test_weight_unknown_checks_the_absolute_limit_and_says_so():
    unknown = patient()
    quiet = dose.check(facts(fcm(1000), unknown))
    assert quiet.indicator == "info" and quiet.suggestions == () and "per-kg" in flat(quiet.summary + quiet.detail)
    finding = dose.check(facts(fcm(1001), unknown))
    assert finding.indicator == "warning" and allowed_of(finding) == 1000
    assert "only the absolute limit was checked" in flat(finding.detail)


def test_a_stale_weight_counts_as_unknown():
    recency = knowledge().protocol.data_recency_days.weight.value
    finding = dose.check(facts(fcm(1000), weighing(60, days=recency + 1)))
    assert finding is not None and finding.indicator == "info"
    assert allowed_of(dose.check(facts(fcm(1000), weighing(60, days=recency - 1)))) == 900


def test_weekly_maximum_counts_doses_in_the_window():
    # EU ferric carboxymaltose: at most 1,000 mg a week
    assert knowledge().products["ferric_carboxymaltose"].labels["EU"].max_weekly_mg.value == 1000
    recent = weighing(80)
    recent = patient(weight_kg=80, weight_date=days_before(1)[:10],
                     administrations=(administration(days=WEEK - 1, dose_mg=500),))
    assert dose.check(facts(fcm(500), recent, jurisdiction="EU")) is None
    finding = dose.check(facts(fcm(501), recent, jurisdiction="EU"))
    assert allowed_of(finding) == 500 and "500 mg given" in flat(finding.detail)
    older = patient(weight_kg=80, weight_date=days_before(1)[:10],
                    administrations=(administration(days=WEEK + 1, dose_mg=500),))
    assert dose.check(facts(fcm(1000), older, jurisdiction="EU")) is None


def test_daily_maximum_and_no_dose_left():
    infed = knowledge().products["iron_dextran"].labels["US"]
    assert infed.max_daily_mg.value == 100
    half = patient(weight_kg=70, weight_date=days_before(1)[:10],
                   administrations=(administration(product="iron_dextran", days=0.5, dose_mg=50),))
    dextran = order(product="iron_dextran", dose_mg=50, minutes=2, resource=draft_resource(dose_mg=50, minutes=2))
    assert dose.check(facts(dextran, half)) is None
    dextran100 = order(product="iron_dextran", dose_mg=100, minutes=2, resource=draft_resource(dose_mg=100, minutes=2))
    assert allowed_of(dose.check(facts(dextran100, half))) == 50
    full = patient(weight_kg=70, weight_date=days_before(1)[:10],
                   administrations=(administration(product="iron_dextran", days=0.1, dose_mg=100),))
    finding = dose.check(facts(dextran100, full))
    assert finding.indicator == "warning" and finding.suggestions == () and "no further dose" in finding.summary


def test_unknown_dose_is_not_checked_visibly():
    finding = dose.check(facts(order(dose_mg=None), weighing(70)))
    assert finding.indicator == "warning" and "not checked" in finding.summary


def sucrose(mg, minutes):
    resource = draft_resource(dose_mg=mg, minutes=minutes, product_code="1741261",
                              display="10 ML iron sucrose 20 MG/ML Injection")
    return order(product="iron_sucrose", dose_mg=mg, minutes=minutes, resource=resource)


def dose_and_minutes(finding):
    (suggestion,) = finding.suggestions
    dosage = suggestion.resource["dosageInstruction"][0]
    return dosage["doseAndRate"][0]["doseQuantity"]["value"], dosage["timing"]["repeat"]["duration"]


def test_a_lower_dose_that_needs_more_time_than_ordered_also_sets_the_time():
    # Venofer US: at most 400 mg, and 400 mg over at least 150 min. Accepting only "400 mg" must not leave
    # 400 mg over 30 min, which the rate check would then stop.
    finding = dose.check(facts(sucrose(500, 30), weighing(70)))
    assert dose_and_minutes(finding) == (400, 150)
    assert "sets the administration time to **150 min**" in finding.detail
    assert dose_and_minutes(dose.check(facts(sucrose(500, 149), weighing(70)))) == (400, 150)


def test_a_lower_dose_keeps_an_ordered_time_that_is_long_enough():
    finding = dose.check(facts(sucrose(500, 150), weighing(70)))
    assert dose_and_minutes(finding) == (400, 150)
    assert "keeps the administration time" in finding.detail
    assert dose_and_minutes(dose.check(facts(sucrose(500, 210), weighing(70)))) == (400, 210)
