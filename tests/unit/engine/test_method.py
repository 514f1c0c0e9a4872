"""How an IV-iron order is given (push / infusion / not said) and the label bands that follow from it."""

from __future__ import annotations

import pytest

from cds_service.engine.method import bag_volume_ml, method_matcher_for
from cds_service.engine.rules import rate
from support.rules import draft_resource, facts, knowledge, order, patient, reaction

MATCHER = method_matcher_for(knowledge())
SNOMED = "http://snomed.info/sct"
SUCROSE = "1741267"   # SCD 5 ML iron sucrose 20 MG/ML Injection


@pytest.mark.parametrize("text", ["100 mg into the venous line over 2 min, undiluted", "slow IV push over 1 min",
                                  "slow IV over 5 minutes", "100 mg slow injection", "IV bolus", "100 mg undiluted"])
def test_push_and_dialysis_wording_is_a_push(text):
    assert MATCHER.classify({"text": text}) == "push"


@pytest.mark.parametrize("text", ["300 mg in 250 mL sodium chloride 0.9% over 90 minutes", "IV infusion over 15 min",
                                  "750 mg diluted in NaCl", "in 100 ml over 30 min"])
def test_infusion_and_bag_wording_is_an_infusion(text):
    assert MATCHER.classify({"text": text}) == "infusion"


@pytest.mark.parametrize("text", ["200 mg IV over 10 minutes", "slow IV push in 100 mL sodium chloride", "",
                                  "iron sucrose 20 MG/ML Injection"])
def test_no_method_or_both_is_not_said(text):
    assert MATCHER.classify({"text": text}) is None


@pytest.mark.parametrize("code, method", [("422145002", "push"), ("129326001", "push"), ("740685003", "push"),
                                          ("764794000", "infusion")])
def test_snomed_method_codes(code, method):
    assert MATCHER.classify({"method": {"coding": [{"system": SNOMED, "code": code}]}, "text": "IV"}) == method


def test_a_coded_method_wins_over_words():
    dosage = {"method": {"coding": [{"system": SNOMED, "code": "422145002"}]}, "text": "100 mg in 10 mL"}
    assert MATCHER.classify(dosage) == "push"


def test_bag_volume_is_read_from_the_text():
    assert bag_volume_ml({"text": "750 mg in 100 mL sodium chloride 0.9%"}) == 100
    assert bag_volume_ml({"text": "750 mg IV"}) is None
    assert bag_volume_ml({"text": "in 100 mL then in 250 mL"}) is None


def sucrose(dose, minutes, text):
    resource = draft_resource(dose_mg=dose, minutes=minutes, product_code=SUCROSE,
                              display="5 ML iron sucrose 20 MG/ML Injection")
    resource["dosageInstruction"][0]["text"] = text
    return order(product="iron_sucrose", dose_mg=dose, minutes=minutes, resource=resource)


@pytest.mark.parametrize("dose, minutes, text", [
    (100, 2, "100 mg into the venous line over 2 min, undiluted"),      # haemodialysis slow injection
    (200, 2, "200 mg slow IV injection over 2 minutes"),                # non-dialysis slow injection
    (100, 2, "100 mg IV over 2 min"),                                   # method not said: fits the slow injection
    (100, 15, "100 mg in 100 mL sodium chloride 0.9% over 15 min"),     # haemodialysis infusion
    (300, 90, "300 mg in 250 mL sodium chloride 0.9% over 90 minutes"),  # peritoneal dialysis
    (400, 150, "400 mg in 250 mL sodium chloride 0.9% over 2.5 hours"),  # peritoneal dialysis
])
def test_iron_sucrose_orders_the_label_allows_get_no_rate_card(dose, minutes, text):
    assert rate.check(facts(sucrose(dose, minutes, text))) is None


@pytest.mark.parametrize("dose, minutes, text, required", [
    (100, 1, "100 mg slow IV push over 1 min", 2),                      # faster than the 2-5 min injection
    (100, 14, "100 mg in 100 mL sodium chloride 0.9% over 14 min", 15),  # an infusion is held to 15 min
    (300, 89, "300 mg in 250 mL sodium chloride 0.9% over 89 minutes", 90),
    (400, 149, "400 mg in 250 mL over 149 minutes", 150),
    (100, 1, "100 mg IV over 1 min", 15),                               # too fast whatever the method: safe time
])
def test_iron_sucrose_orders_faster_than_their_method_get_the_methods_time(dose, minutes, text, required):
    finding = rate.check(facts(sucrose(dose, minutes, text)))
    assert finding is not None and finding.indicator == "warning"
    dosage = finding.suggestions[0].resource["dosageInstruction"][0]
    assert dosage["timing"]["repeat"]["duration"] == required


def test_history_still_slows_a_method_that_is_not_said():
    # pain before: the history reference is the strictest method's rate, as before
    pain = patient(reactions=(reaction(product="iron_sucrose"),))
    finding = rate.check(facts(sucrose(100, 2, "100 mg IV over 2 min"), pain))
    assert finding is not None
    assert finding.suggestions[0].resource["dosageInstruction"][0]["timing"]["repeat"]["duration"] == 30


def test_too_fast_for_every_method_says_what_a_push_would_allow_only_when_the_method_is_not_said():
    from support.rules import flat
    not_said = rate.check(facts(sucrose(100, 1, "100 mg IV over 1 min")))
    assert "given as a push the label allows 2 min" in flat(not_said.detail)
    said = rate.check(facts(sucrose(100, 14, "100 mg in 100 mL sodium chloride 0.9% over 14 min")))
    assert "given as a push" not in flat(said.detail)


@pytest.mark.parametrize("product, code, display, dose", [
    ("ferumoxytol", "860605", "17 ML ferumoxytol 30 MG/ML Injection", 510),
    ("ferric_derisomaltose", "2274409", "10 ML ferric derisomaltose 100 MG/ML Injection [Monoferric]", 1000),
])
def test_a_push_of_a_product_the_label_gives_only_by_infusion_is_a_warning_whatever_the_time(product, code, display,
                                                                                          dose):
    resource = draft_resource(dose_mg=dose, minutes=30, product_code=code, display=display)
    resource["dosageInstruction"][0]["text"] = f"{dose} mg slow IV push over 30 min"
    finding = rate.check(facts(order(product=product, dose_mg=dose, minutes=30, resource=resource)))
    assert finding is not None and finding.indicator == "warning" and finding.suggestions == ()
    assert "push" in finding.summary and "infus" in finding.summary
    resource["dosageInstruction"][0]["text"] = f"{dose} mg in 100 mL sodium chloride 0.9% over 30 min"
    assert rate.check(facts(order(product=product, dose_mg=dose, minutes=30, resource=resource))) is None


# The largest dose each label gives by injection; above it the data's push band carries an infusion time and is
# marked labelled: false, so an order that says it is pushed gets the "not a way the label allows" warning.
LARGEST_INJECTION = [
    # product, jurisdiction, code, display, largest push mg, its minimum, words for a push
    ("iron_sucrose", "EU", SUCROSE, "5 ML iron sucrose 20 MG/ML Injection", 200, 10, "slow IV injection"),
    ("ferric_derisomaltose", "EU", "2274409", "10 ML ferric derisomaltose 100 MG/ML Injection [Monoferric]", 500, 2,
     "IV bolus"),
    ("sodium_ferric_gluconate", "US", "1855533", "5 ML sodium ferric gluconate complex 12.5 MG/ML Injection", 125, 10,
     "slow IV push"),
    ("sodium_ferric_gluconate", "EU", "1855533", "5 ML sodium ferric gluconate complex 12.5 MG/ML Injection", 125, 10,
     "slow IV push"),
    ("iron_dextran", "EU", "311144", "2 ML iron dextran 50 MG/ML Injection", 200, 20, "slow IV injection"),
]


def pushed(product, code, display, dose, minutes, words):
    resource = draft_resource(dose_mg=dose, minutes=minutes, product_code=code, display=display)
    resource["dosageInstruction"][0]["text"] = f"{dose} mg {words} over {minutes} min"
    return order(product=product, dose_mg=dose, minutes=minutes, resource=resource)


@pytest.mark.parametrize("product, jurisdiction, code, display, largest, minimum, words", LARGEST_INJECTION)
def test_a_push_up_to_the_labels_largest_injection_has_no_method_warning(product, jurisdiction, code, display,
                                                                        largest, minimum, words):
    the_facts = facts(pushed(product, code, display, largest, minimum, words), jurisdiction=jurisdiction)
    assert the_facts.method == "push"
    assert rate.unlabelled_method(the_facts) is None
    assert rate.check(the_facts) is None


@pytest.mark.parametrize("product, jurisdiction, code, display, largest, minimum, words", LARGEST_INJECTION)
def test_a_push_above_the_labels_largest_injection_is_a_method_warning_whatever_the_time(product, jurisdiction, code,
                                                                                        display, largest, minimum,
                                                                                        words):
    # 240 min is longer than any of these labels' bands: before, such an order fitted the push band and got no card
    for minutes in (minimum, 240):
        the_facts = facts(pushed(product, code, display, largest + 1, minutes, words), jurisdiction=jurisdiction)
        assert the_facts.method == "push"
        finding = rate.check(the_facts)
        assert finding is not None and finding.indicator == "warning" and finding.suggestions == ()
        assert "which the label does not allow" in finding.summary
    # said as an infusion, or not said, the same dose is checked against the infusion time and fits it
    infusion_minutes = 240
    infused = pushed(product, code, display, largest + 1, infusion_minutes, "in 100 mL sodium chloride 0.9%")
    assert facts(infused, jurisdiction=jurisdiction).method == "infusion"
    assert rate.check(facts(infused, jurisdiction=jurisdiction)) is None
    not_said = pushed(product, code, display, largest + 1, infusion_minutes, "IV")
    assert facts(not_said, jurisdiction=jurisdiction).method is None
    assert rate.check(facts(not_said, jurisdiction=jurisdiction)) is None


@pytest.mark.parametrize("dose", [750, 751, 1000])
def test_a_push_the_label_does_not_allow_is_said_even_when_its_maximum_rate_asks_for_more_time(dose):
    # sodium ferric gluconate: its 12.5 mg/min asks for more than the 60 min band above 750 mg; that band still says
    # the label allows no push above 125 mg (before, 751 mg and more got "give over at least 61 min" as a push)
    code, display = LARGEST_INJECTION[2][2], LARGEST_INJECTION[2][3]
    finding = rate.check(facts(pushed("sodium_ferric_gluconate", code, display, dose, 60, "slow IV push")))
    assert finding is not None and finding.suggestions == ()
    assert "which the label does not allow" in finding.summary


def test_a_labelled_push_faster_than_its_maximum_rate_still_gets_the_rates_time():
    # 125 mg sodium ferric gluconate pushed over 9 min: the label's 12.5 mg/min asks for 10 min
    code, display = LARGEST_INJECTION[2][2], LARGEST_INJECTION[2][3]
    finding = rate.check(facts(pushed("sodium_ferric_gluconate", code, display, 125, 9, "slow IV push")))
    assert finding is not None and finding.suggestions[0].resource["dosageInstruction"][0]["timing"]["repeat"][
        "duration"] == 10
