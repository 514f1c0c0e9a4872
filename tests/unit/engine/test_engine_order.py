"""Reading draft orders: product, route, dose and time (engine, no HTTP).

Codes below are RxNorm / NDC facts from the shared reference (iv-iron-knowledge.md,
Part 0); the tests check that the knowledge data and the reader agree on them.
"""

from __future__ import annotations

import copy
import dataclasses

import pytest

from cds_service.engine.order import read_orders
from cds_service.fhir.record import PatientRecord
from cds_service.knowledge.loader import load_knowledge

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
ATC = "http://www.whocc.no/atc"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
IV = {"coding": [{"system": SNOMED, "code": "47625008", "display": "Intravenous route"}]}

# generic name as in RxNorm -> (IN, SCD, SBD, BN, NDC, brand)
PRODUCTS = {
    "iron sucrose": ("24909", "1741267", "1741268", "136209", "0517-2340-01", "Venofer"),
    "ferric carboxymaltose": ("1433693", "1435169", "1435174", "1435170", "0517-0650-01", "Injectafer"),
    "ferric derisomaltose": ("2274394", "2274406", "2274407", "2274399", "73594-9305-01", "Monoferric"),
    "ferumoxytol": ("473387", "860605", "1191357", "854775", "59338-0775-01", "Feraheme"),
    "sodium ferric gluconate complex": ("261435", "242761", "261123", "50013", "0024-2792-10", "Ferrlecit"),
    "iron dextran": ("5992", "311144", "206216", "217731", "0023-6082-01", "INFeD"),
}
TTYS = ("IN", "SCD", "SBD", "BN")


@pytest.fixture(scope="module")
def knowledge():
    return load_knowledge()


def concept(code=None, system=RXNORM, display=None, text=None):
    cc = {}
    if code is not None:
        coding = {"system": system, "code": code}
        if display:
            coding["display"] = display
        cc["coding"] = [coding]
    elif display:
        cc["coding"] = [{"display": display}]
    if text:
        cc["text"] = text
    return cc


def request(medication=None, *, rid="mr-1", route=IV, dose=None, timing=None, rates=(), extra_doses=(), **fields):
    """A draft MedicationRequest; ``dose`` is a doseAndRate element dict, e.g. {"doseQuantity": ...}."""
    dosage = {}
    if route is not None:
        dosage["route"] = route
    dar = []
    if dose is not None:
        dar.append(dict(dose))
    for rate in rates:
        if dar and not any(k.startswith("rate") for k in dar[0]):
            dar[0].update(rate)
        else:
            dar.append(dict(rate))
    dar.extend(extra_doses)
    if dar:
        dosage["doseAndRate"] = dar
    if timing is not None:
        dosage["timing"] = {"repeat": timing}
    resource = {"resourceType": "MedicationRequest", "id": rid, "status": "draft", "intent": "order",
                "subject": {"reference": "Patient/pat-1"}, "dosageInstruction": [dosage]}
    if medication is not None:
        resource["medicationCodeableConcept"] = medication
    resource.update(fields)
    return resource


def qty(value, code):
    return {"value": value, "unit": code, "system": UCUM, "code": code}


def mg(value):
    return {"doseQuantity": qty(value, "mg")}


def bundle(*resources):
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def read(knowledge, *resources, record=None):
    return read_orders(bundle(*resources), record or PatientRecord(), knowledge)


def only_order(knowledge, *resources, record=None):
    orders, _ = read(knowledge, *resources, record=record)
    assert len(orders) == 1, orders
    return orders[0]


def display_of(knowledge, order):
    return knowledge.products[order.product_key].display.lower().replace("-", " ")


# ---------------------------------------------------------------- product by code
@pytest.mark.parametrize("generic", list(PRODUCTS))
@pytest.mark.parametrize("tty", TTYS)
def test_each_product_recognised_by_rxnorm_code(knowledge, generic, tty):
    code = PRODUCTS[generic][TTYS.index(tty)]
    order = only_order(knowledge, request(concept(code), dose=mg(100), timing={"duration": 30, "durationUnit": "min"}))
    assert order.matched_by == "code"
    assert generic.replace("complex", "").strip() in display_of(knowledge, order)
    assert code in order.matched_on


@pytest.mark.parametrize("generic", list(PRODUCTS))
@pytest.mark.parametrize("spelling", ["dashes", "eleven-digit", "product-only"])
def test_each_product_recognised_by_ndc_with_or_without_dashes(knowledge, generic, spelling):
    ndc = PRODUCTS[generic][4]
    labeler, product, package = ndc.split("-")
    code = {"dashes": ndc,
            "eleven-digit": labeler.zfill(5) + product.zfill(4) + package.zfill(2),
            "product-only": f"{labeler}-{product}"}[spelling]
    order = only_order(knowledge, request(concept(code, system=NDC), dose=mg(100)))
    assert order.matched_by == "code"
    assert generic.replace("complex", "").strip() in display_of(knowledge, order)


def test_ten_digit_ndc_without_dashes_is_read_in_its_4_4_2_layout(knowledge):
    order = only_order(knowledge, request(concept("0517065001", system=NDC), dose=mg(750)))
    assert knowledge.products[order.product_key].display == "ferric carboxymaltose"


def test_an_unlisted_ndc_is_not_iron(knowledge):
    orders, others = read(knowledge, request(concept("0000-0000-00", system=NDC), dose=mg(100)))
    assert orders == [] and len(others) == 1


def test_rxnorm_code_under_another_system_is_not_read_as_rxnorm(knowledge):
    # 24909 is iron sucrose in RxNorm; the same digits in another system mean something else
    orders, _ = read(knowledge, request(concept("24909", system="http://example.org/local"), dose=mg(100)))
    assert orders == []


# ---------------------------------------------------------------- product by name
@pytest.mark.parametrize("generic", list(PRODUCTS))
@pytest.mark.parametrize("which", ["brand", "generic"])
def test_each_product_recognised_by_name_in_text(knowledge, generic, which):
    name = PRODUCTS[generic][5] if which == "brand" else generic
    order = only_order(knowledge, request(concept(text=f"{name} 200 mg in 100 mL sodium chloride"), dose=mg(200)))
    assert order.matched_by == "name"
    assert generic.replace("complex", "").strip() in display_of(knowledge, order)


def test_name_in_coding_display_without_a_code(knowledge):
    order = only_order(knowledge, request(concept(display="Injectafer 750 MG in 15 ML"), dose=mg(750)))
    assert order.product_key == "ferric_carboxymaltose" and order.matched_by == "name"


@pytest.mark.parametrize("text", ["VENOFER 200 mg", "venofer", "Venofer-200", "(Venofer)"])
def test_name_matching_ignores_case_and_punctuation(knowledge, text):
    order = only_order(knowledge, request(concept(text=text), dose=mg(200)))
    assert "sucrose" in display_of(knowledge, order)


@pytest.mark.parametrize("text", ["Venoferous 200 mg", "XVenofer", "Feraheme2"])
def test_name_matching_respects_word_boundaries(knowledge, text):
    orders, others = read(knowledge, request(concept(text=text), dose=mg(200)))
    assert orders == [] and len(others) == 1


def test_code_wins_over_a_different_name(knowledge):
    med = concept("1435169", display="Venofer (wrong label)")
    order = only_order(knowledge, request(med, dose=mg(750)))
    assert order.product_key == "ferric_carboxymaltose" and order.matched_by == "code"


# ---------------------------------------------------------------- IV iron as a class (ATC)
@pytest.mark.parametrize("atc", ["B03AC", "B03AC01", "b03ac02"])
def test_atc_b03ac_codes_mark_iv_iron_without_naming_a_product_alone(knowledge, atc):
    order = only_order(knowledge, request(concept(atc, system=ATC), dose=mg(200)))
    if order.product_key is None:
        assert order.matched_by == "class"
        assert any("could not be identified" in p for p in order.problems)
    else:  # a full 7-character code that the knowledge assigns to exactly one product
        assert order.matched_by == "code" and atc.upper() != "B03AC01"


def test_legacy_b03ac01_is_only_the_class_not_ferric_carboxymaltose(knowledge):
    order = only_order(knowledge, request(concept("B03AC01", system=ATC), dose=mg(200)))
    assert order.product_key is None and order.matched_by == "class"


def test_atc_class_plus_a_name_gives_the_product(knowledge):
    med = concept("B03AC", system=ATC, text="Monoferric 1000 mg")
    order = only_order(knowledge, request(med, dose=mg(1000)))
    assert "derisomaltose" in display_of(knowledge, order)


def test_oral_iron_atc_is_not_iv_iron(knowledge):
    med = concept("B03AA07", system=ATC, text="ferrous sulfate")
    orders, _ = read(knowledge, request(med, dose=mg(325), route=None))
    assert orders == []


# ---------------------------------------------------------------- medicationReference
def test_contained_medication_is_read(knowledge):
    req = request(None, dose=mg(510), timing={"duration": 15, "durationUnit": "min"})
    req["contained"] = [{"resourceType": "Medication", "id": "med1", "code": concept("1191357")}]
    req["medicationReference"] = {"reference": "#med1"}
    order = only_order(knowledge, req)
    assert "ferumoxytol" in display_of(knowledge, order) and order.matched_by == "code"


def test_medication_from_the_record_by_id(knowledge):
    record = PatientRecord()
    record.add({"resourceType": "Medication", "id": "m-42", "code": concept(text="Ferrlecit 125 mg")})
    req = request(None, dose=mg(125))
    req["medicationReference"] = {"reference": "Medication/m-42"}
    order = only_order(knowledge, req, record=record)
    assert "gluconate" in display_of(knowledge, order) and order.matched_by == "name"


def test_medication_from_an_absolute_reference_and_ingredient_code(knowledge):
    record = PatientRecord()
    record.add({"resourceType": "Medication", "id": "m-7", "code": {"text": "IV iron product"},
                "ingredient": [{"itemCodeableConcept": concept("24909")}]})
    req = request(None, dose=mg(200))
    req["medicationReference"] = {"reference": "https://ehr.example.org/fhir/Medication/m-7"}
    order = only_order(knowledge, req, record=record)
    assert "sucrose" in display_of(knowledge, order)


def test_medication_in_the_draft_bundle(knowledge):
    med = {"resourceType": "Medication", "id": "m-9", "code": concept("1435170")}
    req = request(None, dose=mg(750))
    req["medicationReference"] = {"reference": "Medication/m-9"}
    orders, others = read(knowledge, med, req)
    assert [o.product_key for o in orders] == ["ferric_carboxymaltose"]
    assert others == [med]


def test_unresolved_reference_falls_back_to_its_display(knowledge):
    req = request(None, dose=mg(200))
    req["medicationReference"] = {"reference": "Medication/missing", "display": "Venofer 200 mg"}
    order = only_order(knowledge, req)
    assert order.matched_by == "name"


# An IV order whose Medication could not be read may be IV iron: it must not get silence.
UNREADABLE = "The medication could not be read, so it could not be checked"


def test_unreadable_medication_on_an_iv_order_is_an_unresolved_iron_order(knowledge):
    req = request(None, dose=mg(200), timing={"duration": 30, "durationUnit": "min"})
    req["medicationReference"] = {"reference": "Medication/missing"}
    order = only_order(knowledge, req)
    assert (order.product_key, order.matched_by, order.route) == (None, "unresolved", "iv")
    assert order.problems == (UNREADABLE,)
    assert order.dose_mg == 200 and order.minutes == 30          # what can be read is still read
    assert order.medication_text is None and "Medication/missing" in order.matched_on
    assert order.request_id == "mr-1" and order.resource is req


def test_unresolved_order_names_why_the_read_failed(knowledge):
    record = PatientRecord()
    record.unavailable["medication:m-5"] = "timeout after 3s"
    req = request(None, dose=mg(100))
    req["medicationReference"] = {"reference": "https://ehr.example.org/fhir/Medication/m-5"}
    order = only_order(knowledge, req, record=record)
    assert order.matched_by == "unresolved" and "timeout after 3s" in order.matched_on


def test_missing_contained_medication_on_an_iv_order_is_unresolved(knowledge):
    req = request(None, dose=mg(100))
    req["medicationReference"] = {"reference": "#gone"}
    req["contained"] = [{"resourceType": "Medication", "id": "other", "code": concept(text="sodium chloride 0.9%")}]
    assert only_order(knowledge, req).matched_by == "unresolved"


def test_unresolved_ml_dose_is_not_converted(knowledge):
    req = request(None, dose={"doseQuantity": qty(10, "mL")})
    req["medicationReference"] = {"reference": "Medication/missing"}
    order = only_order(knowledge, req)
    assert order.dose_mg is None and order.problems[0] == UNREADABLE and len(order.problems) >= 2


@pytest.mark.parametrize("route", [None, {"text": "per protocol"}, {"coding": [{"system": SNOMED, "code": "26643006"}]},
                                   {"coding": [{"system": SNOMED, "code": "78421000"}]}])
def test_unreadable_medication_without_a_stated_iv_route_is_not_an_iron_order(knowledge, route):
    req = request(None, route=route, dose=mg(200))
    req["medicationReference"] = {"reference": "Medication/missing"}
    orders, others = read(knowledge, req)
    assert orders == [] and others == [req]


def test_unreadable_medication_with_a_non_iron_name_is_not_an_iron_order(knowledge):
    req = request(None, dose=mg(4))
    req["medicationReference"] = {"reference": "Medication/missing", "display": "Ondansetron 4 mg"}
    assert read(knowledge, req)[0] == []


def test_a_medication_that_was_read_and_is_not_iron_is_not_unresolved(knowledge):
    record = PatientRecord()
    record.add({"resourceType": "Medication", "id": "m-1", "code": concept("11124", display="vancomycin")})
    req = request(None, dose=mg(1000))
    req["medicationReference"] = {"reference": "Medication/m-1"}
    assert read(knowledge, req, record=record)[0] == []


# ---------------------------------------------------------------- oral iron and non-iron
@pytest.mark.parametrize("med", [
    concept("310325", display="ferrous sulfate 325 MG Oral Tablet"),
    concept(text="Ferrous gluconate 324 mg"),
    concept("1102196", display="ascorbic acid / folic acid / iron-dextran complex Oral Tablet"),
    concept("5992", display="iron-dextran complex", text="Irospan tablet"),
    concept("2000", display="ferric citrate 1 GM Oral Tablet"),
])
def test_oral_iron_gives_no_iron_order(knowledge, med):
    orders, others = read(knowledge, request(med, dose=mg(65), route=None))
    assert orders == [] and len(others) == 1


def test_ingredient_5992_in_a_tablet_form_is_oral_even_when_route_says_iv(knowledge):
    req = request(None, dose=mg(50))
    req["contained"] = [{"resourceType": "Medication", "id": "x", "code": concept("5992"),
                         "form": {"coding": [{"system": SNOMED, "code": "385055001", "display": "Tablet"}]}}]
    req["medicationReference"] = {"reference": "#x"}
    orders, _ = read(knowledge, req)
    assert orders == []


def test_ingredient_5992_as_injection_is_iron_dextran(knowledge):
    order = only_order(knowledge, request(concept("5992", display="iron-dextran complex"), dose=mg(100)))
    assert knowledge.products[order.product_key].is_dextran


def test_oral_route_for_an_injectable_product_is_checked_as_iv_and_says_so(knowledge):
    # issue 14: an injectable code (SBD) with an oral route is a contradiction, never silence
    route = {"coding": [{"system": SNOMED, "code": "26643006", "display": "Oral route"}]}
    orders, others = read(knowledge, request(concept("1741268"), dose=mg(100), route=route))
    assert len(orders) == 1 and others == []
    assert orders[0].route_conflict and any("contradicts the product" in n for n in orders[0].notes)


def test_oral_route_for_an_ingredient_code_is_oral_iron_and_gives_no_order(knowledge):
    # the ingredient (IN) also sits in oral products: no contradiction to speak of
    route = {"coding": [{"system": SNOMED, "code": "26643006", "display": "Oral route"}]}
    orders, others = read(knowledge, request(concept("5992"), dose=mg(100), route=route))
    assert orders == [] and len(others) == 1


def test_non_iron_drug_gives_no_order_but_is_returned(knowledge):
    ceftriaxone = request(concept("1665005", display="ceftriaxone 1000 MG Injection"), dose=mg(1000))
    orders, others = read(knowledge, ceftriaxone)
    assert orders == [] and others == [ceftriaxone]


# ---------------------------------------------------------------- route
def test_route_iv_by_code(knowledge):
    order = only_order(knowledge, request(concept("1435169"), dose=mg(750)))
    assert order.route == "iv" and order.route_text == "Intravenous route"


@pytest.mark.parametrize("text", ["IV push", "intravenous", "IVPB"])
def test_route_iv_by_keyword(knowledge, text):
    order = only_order(knowledge, request(concept("1435169"), dose=mg(750), route={"text": text}))
    assert order.route == "iv"
    assert not any("route" in p for p in order.problems)


@pytest.mark.parametrize("route", [
    {"coding": [{"system": SNOMED, "code": "78421000", "display": "Intramuscular route"}]},
    {"text": "IM"},
])
def test_a_route_the_label_allows_besides_iv_is_read_as_that_route(knowledge, route):
    # INFeD's label allows IM: an order to check (boxed warning, test dose), by IM, no contradiction
    order = only_order(knowledge, request(concept("206216"), dose=mg(100), route=route))
    assert order.route == "intramuscular" and order.labelled_non_iv and not order.route_conflict
    assert order.product_key == "iron_dextran" and order.dose_mg == 100
    assert not any("route" in p for p in order.problems) and order.notes == ()


def test_an_iv_order_is_not_a_labelled_non_iv_order(knowledge):
    order = only_order(knowledge, request(concept("206216"), dose=mg(100)))
    assert order.route == "iv" and not order.labelled_non_iv
    assert not only_order(knowledge, request(concept("206216"), dose=mg(100), route=None)).labelled_non_iv


@pytest.mark.parametrize("route", [{"text": "Subcutaneous"}, {"coding": [{"system": SNOMED, "code": "34206005"}]}])
def test_iron_dextran_by_a_route_its_label_does_not_allow_is_checked_as_iv(knowledge, route):
    order = only_order(knowledge, request(concept("206216"), dose=mg(100), route=route))
    assert order.route_conflict and order.product_key == "iron_dextran"
    assert any("intravenous or intramuscular use only" in n for n in order.notes)


def test_missing_route_keeps_the_order_and_says_so(knowledge):
    order = only_order(knowledge, request(concept("1435169"), dose=mg(750), route=None))
    assert order.route == "unknown"
    assert any("route was not stated" in p for p in order.problems)


def test_unrecognised_route_keeps_the_order_and_says_so(knowledge):
    order = only_order(knowledge, request(concept("1435169"), dose=mg(750), route={"text": "per protocol"}))
    assert order.route == "unknown"
    assert any("'per protocol'" in p for p in order.problems)


def test_contradictory_route_words_stay_unknown(knowledge):
    order = only_order(knowledge, request(concept("1435169"), dose=mg(750), route={"text": "subcutaneous infusion"}))
    assert order.route == "unknown"


# ---------------------------------------------------------------- dose
@pytest.mark.parametrize("quantity,expected", [
    (qty(750, "mg"), 750), (qty(1, "g"), 1000), (qty(0.5, "g"), 500), (qty(200000, "ug"), 200),
    ({"value": 510, "unit": "MG"}, 510), ({"value": 1500, "unit": "mcg"}, 1.5),
])
def test_dose_from_mass_units(knowledge, quantity, expected):
    order = only_order(knowledge, request(concept("1435169"), dose={"doseQuantity": quantity}))
    assert order.dose_mg == pytest.approx(expected)
    assert "doseQuantity" in order.dose_source


def test_dose_from_ml_times_concentration(knowledge):
    order = only_order(knowledge, request(concept("1435169"), dose={"doseQuantity": qty(15, "mL")}))
    concentration = knowledge.products["ferric_carboxymaltose"].concentration_mg_per_ml.value
    assert order.dose_mg == pytest.approx(15 * concentration)
    assert order.volume_ml == 15
    assert "15 mL" in order.dose_source and "mg/mL" in order.dose_source


def test_dose_range_uses_the_high_value_and_says_so(knowledge):
    dose = {"doseRange": {"low": qty(500, "mg"), "high": qty(1000, "mg")}}
    order = only_order(knowledge, request(concept("1435169"), dose=dose))
    assert order.dose_mg == 1000 and "upper end" in order.dose_source


def test_missing_dose_is_none_with_a_problem(knowledge):
    order = only_order(knowledge, request(concept("1435169")))
    assert order.dose_mg is None
    assert any("dose was not found in the order's structured fields" in p for p in order.problems)


def test_unconvertible_dose_unit_is_none_with_a_problem(knowledge):
    order = only_order(knowledge, request(concept("1435169"), dose={"doseQuantity": {"value": 1, "unit": "vial"}}))
    assert order.dose_mg is None and any("'vial'" in p for p in order.problems)


def test_ml_dose_of_an_unidentified_product_is_not_converted(knowledge):
    order = only_order(knowledge, request(concept("B03AC", system=ATC), dose={"doseQuantity": qty(10, "mL")}))
    assert order.dose_mg is None and order.volume_ml == 10
    assert any("concentration is not known" in p for p in order.problems)


# ---------------------------------------------------------------- administration time
@pytest.mark.parametrize("duration,unit,minutes", [(15, "min", 15), (1.5, "h", 90), (900, "s", 15), (2, "h", 120)])
def test_time_from_duration(knowledge, duration, unit, minutes):
    order = only_order(knowledge, request(concept("1435169"), dose=mg(750),
                                          timing={"duration": duration, "durationUnit": unit}))
    assert order.minutes == pytest.approx(minutes)
    assert order.rate_mg_per_min == pytest.approx(750 / minutes)
    assert "duration" in order.minutes_source


def test_duration_with_an_unknown_unit_is_a_problem(knowledge):
    order = only_order(knowledge, request(concept("1435169"), dose=mg(750),
                                          timing={"duration": 15, "durationUnit": "fortnight"}))
    assert order.minutes is None and any("'fortnight'" in p for p in order.problems)


@pytest.mark.parametrize("rate,minutes", [
    (qty(100, "mg/min"), 7.5),
    (qty(1500, "mg/h"), 30),
    ({"value": 3000, "unit": "mg/hr"}, 15),
    (qty(0.1, "g/min"), 7.5),
])
def test_time_from_mass_rate(knowledge, rate, minutes):
    order = only_order(knowledge, request(concept("1435169"), dose=mg(750), rates=[{"rateQuantity": rate}]))
    assert order.minutes == pytest.approx(minutes)
    assert "rateQuantity" in order.minutes_source


def test_time_from_ml_per_hour_with_the_volume_from_an_ml_dose(knowledge):
    order = only_order(knowledge, request(concept("1435169"), dose={"doseQuantity": qty(15, "mL")},
                                          rates=[{"rateQuantity": qty(60, "mL/h")}]))
    assert order.minutes == pytest.approx(15)
    assert order.rate_mg_per_min == pytest.approx(750 / 15)


def test_time_from_ml_per_hour_with_the_volume_in_a_second_dose_entry(knowledge):
    order = only_order(knowledge, request(concept("1435169"), dose=mg(750),
                                          extra_doses=[{"doseQuantity": qty(100, "mL")}],
                                          rates=[{"rateQuantity": {"value": 400, "unit": "mL/hr", "system": UCUM,
                                                                   "code": "mL/h"}}]))
    assert order.dose_mg == 750 and order.volume_ml == 100
    assert order.minutes == pytest.approx(15)


def test_time_from_ml_per_minute(knowledge):
    order = only_order(knowledge, request(concept("1435169"), dose={"doseQuantity": qty(20, "mL")},
                                          rates=[{"rateQuantity": qty(2, "mL/min")}]))
    assert order.minutes == pytest.approx(10)


def test_ml_rate_without_a_volume_leaves_the_time_unknown(knowledge):
    order = only_order(knowledge, request(concept("1435169"), dose=mg(750), rates=[{"rateQuantity": qty(250, "mL/h")}]))
    assert order.minutes is None and order.rate_mg_per_min is None
    assert any("infusion volume was not found" in p for p in order.problems)


def test_mass_rate_without_a_dose_keeps_the_rate(knowledge):
    order = only_order(knowledge, request(concept("1435169"), rates=[{"rateQuantity": qty(100, "mg/min")}]))
    assert order.minutes is None and order.rate_mg_per_min == 100


@pytest.mark.parametrize("ratio,dose,minutes", [
    ({"numerator": qty(50, "mg"), "denominator": qty(1, "min")}, mg(750), 15),
    ({"numerator": qty(200, "mg"), "denominator": qty(30, "min")}, mg(200), 30),
    ({"numerator": qty(100, "mL"), "denominator": qty(1, "h")}, {"doseQuantity": qty(20, "mL")}, 12),
])
def test_time_from_rate_ratio(knowledge, ratio, dose, minutes):
    order = only_order(knowledge, request(concept("1435169"), dose=dose, rates=[{"rateRatio": ratio}]))
    assert order.minutes == pytest.approx(minutes)
    assert "rateRatio" in order.minutes_source


def test_rate_ratio_without_a_time_denominator_is_a_problem(knowledge):
    ratio = {"numerator": qty(50, "mg"), "denominator": qty(1, "mL")}
    order = only_order(knowledge, request(concept("1435169"), dose=mg(750), rates=[{"rateRatio": ratio}]))
    assert order.minutes is None and any("rate ratio" in p for p in order.problems)


def test_no_duration_or_rate_is_unknown_time_with_a_problem(knowledge):
    order = only_order(knowledge, request(concept("1435169"), dose=mg(750)))
    assert order.minutes is None
    expected = "The administration time was not found in the order's structured fields (no duration or rate)"
    assert expected in order.problems


def test_duration_and_faster_rate_use_the_shorter_time(knowledge):
    order = only_order(knowledge, request(concept("1435169"), dose=mg(750),
                                          timing={"duration": 30, "durationUnit": "min"},
                                          rates=[{"rateQuantity": qty(100, "mg/min")}]))
    assert order.minutes == pytest.approx(7.5)
    assert any("disagree" in p for p in order.problems)


# ---------------------------------------------------------------- the bundle
def test_other_drafts_are_returned_and_several_iron_orders_read(knowledge):
    observation = {"resourceType": "ServiceRequest", "id": "obs-1", "status": "draft"}
    first = request(concept("1435169"), rid="a", dose=mg(750))
    second = request(concept(text="Venofer"), rid="b", dose=mg(200))
    orders, others = read(knowledge, first, observation, second)
    assert [o.request_id for o in orders] == ["a", "b"]
    assert others == [observation]


def test_the_draft_is_never_mutated(knowledge):
    req = request(concept("1435169"), dose={"doseQuantity": qty(15, "mL")}, rates=[{"rateQuantity": qty(60, "mL/h")}])
    before = copy.deepcopy(req)
    order = only_order(knowledge, req)
    assert req == before and order.resource is req


@pytest.mark.parametrize("draft", [None, {}, {"entry": None},
                                   {"entry": [None, 3, {"resource": "x"}, {"resource": {}}]}])
def test_malformed_bundles_read_as_empty(knowledge, draft):
    assert read_orders(draft, PatientRecord(), knowledge) == ([], [])


def test_malformed_medication_request_parts_do_not_raise(knowledge):
    req = {"resourceType": "MedicationRequest", "id": "x",
           "medicationCodeableConcept": {"coding": "nope", "text": "Venofer"},
           "dosageInstruction": [None, {"route": "IV",
                                        "doseAndRate": [{"doseQuantity": {"value": "100", "unit": "mg"}}],
                                        "timing": {"repeat": {"duration": True, "durationUnit": "min"}}}]}
    order = only_order(knowledge, req)
    assert order.dose_mg is None and order.minutes is None and order.problems


# ---------------------------------------------------------------- knowledge-driven routes and class names
@pytest.mark.parametrize("code", ["78421000", "34206005", "6064005"])
def test_an_iv_only_injectable_by_im_sc_or_another_route_is_checked_as_iv_and_says_so(knowledge, code):
    # iron sucrose is for intravenous use only: IM, SC or topical is a wrong route, never silence
    route = {"coding": [{"system": SNOMED, "code": code}]}
    order = only_order(knowledge, request(concept("1741267"), route=route, dose=mg(100)))
    assert order.route_conflict and order.product_key == "iron_sucrose" and order.dose_mg == 100
    assert any("contradicts the product" in n and "intravenous use only" in n for n in order.notes)


@pytest.mark.parametrize("product", sorted(PRODUCTS))
def test_every_product_by_im_is_checked_as_iv_unless_its_label_allows_im(knowledge, product):
    im = {"coding": [{"system": SNOMED, "code": "78421000", "display": "Intramuscular route"}]}
    orders, _ = read(knowledge, request(concept(PRODUCTS[product][1]), route=im, dose=mg(100)))
    order = only_order(knowledge, request(concept(PRODUCTS[product][1]), route=im, dose=mg(100)))
    labelled_im = product == "iron dextran"
    assert order.route_conflict is not labelled_im
    assert order.route == ("intramuscular" if labelled_im else "unknown")


# ---------------------------------------------------------------- a name that exists only as an injection
IM_TEXT = {"text": "IM"}


@pytest.mark.parametrize("text,product", [
    ("Venofer 200 mg", "iron_sucrose"), ("iron sucrose 100 mg", "iron_sucrose"),
    ("Injectafer 750 mg", "ferric_carboxymaltose"), ("Ferinject 500 mg", "ferric_carboxymaltose"),
    ("ferric carboxymaltose 750 mg", "ferric_carboxymaltose"), ("Monoferric 1000 mg", "ferric_derisomaltose"),
    ("Monofer 1000 mg", "ferric_derisomaltose"), ("ferric derisomaltose 1000 mg", "ferric_derisomaltose"),
    ("Feraheme 510 mg", "ferumoxytol"), ("Rienso 510 mg", "ferumoxytol"), ("ferumoxytol 510 mg", "ferumoxytol"),
    ("Ferrlecit 125 mg", "sodium_ferric_gluconate"),
    ("sodium ferric gluconate complex 125 mg", "sodium_ferric_gluconate"),
])
@pytest.mark.parametrize("route", [IM_TEXT, {"text": "subcutaneous"}, {"text": "by mouth"},
                                   {"coding": [{"system": SNOMED, "code": "26643006", "display": "Oral route"}]}])
def test_an_injection_only_name_by_a_route_its_label_does_not_allow_is_checked_as_iv(knowledge, text, product, route):
    # no code: the name itself exists only as an injection, so the route contradicts the product as a code would
    order = only_order(knowledge, request(concept(text=text), route=route, dose=mg(100)))
    assert order.route_conflict and order.product_key == product and order.matched_by == "name"
    assert any("contradicts the product" in n and "intravenous use only" in n for n in order.notes)


@pytest.mark.parametrize("text", ["iron dextran 100 mg", "INFeD 100 mg", "CosmoFer 100 mg"])
def test_iron_dextran_by_name_sc_is_a_contradiction_and_im_is_its_labelled_route(knowledge, text):
    sc = only_order(knowledge, request(concept(text=text), route={"text": "SC"}, dose=mg(100)))
    assert sc.route_conflict and any("intravenous or intramuscular use only" in n for n in sc.notes)
    im = only_order(knowledge, request(concept(text=text), route=IM_TEXT, dose=mg(100)))
    assert im.route == "intramuscular" and not im.route_conflict and im.product_key == "iron_dextran"


@pytest.mark.parametrize("text", [
    "ferrous sulfate 325 mg", "ferrous gluconate 324 mg", "ferrous fumarate 324 mg", "iron tablet",
    "polysaccharide iron complex 150 mg", "ferric maltol 30 mg", "Venofer tablet",   # oral words, whatever the name
    "iron-dextran complex 50 mg",   # the ingredient name RxNorm also gives an oral tablet: not injection-only
    "iron saccharate 100 mg",       # an older synonym, also used for oral preparations
    "FCM 750 mg",                   # an abbreviation
    "vancomycin 1 g", "ceftriaxone 1 g",
])
@pytest.mark.parametrize("route", [IM_TEXT, {"text": "by mouth"}, {"text": "subcutaneous"}])
def test_oral_iron_other_drugs_and_names_not_only_injections_by_a_non_iv_route_give_no_order(knowledge, text, route):
    orders, others = read(knowledge, request(concept(text=text), route=route, dose=mg(100)))
    assert orders == [] and len(others) == 1


def test_an_ingredient_code_shown_with_its_name_by_mouth_stays_oral_iron(knowledge):
    # 5992 and its display "iron-dextran complex" also name an oral tablet: no contradiction to speak of
    oral = {"coding": [{"system": SNOMED, "code": "26643006", "display": "Oral route"}]}
    assert read(knowledge, request(concept("5992", display="iron-dextran complex"), route=oral, dose=mg(100)))[0] == []
    # the same ingredient code beside a brand that exists only as an injection is the injection
    named = concept("5992", display="iron-dextran complex", text="INFeD 100 mg")
    assert only_order(knowledge, request(named, route=oral, dose=mg(100))).route_conflict


def test_an_injection_only_name_inside_a_longer_name_that_is_not_one_does_not_count(knowledge):
    from cds_service.engine.identify import matcher_for

    matcher = matcher_for(knowledge)
    assert not matcher.identify([concept(text="iron-dextran complex")]).injectable_name
    assert matcher.identify([concept(text="iron dextran injection")]).injectable_name
    assert matcher.identify([concept(text="INFeD (iron-dextran complex)")]).injectable_name
    assert matcher.identify([concept(text="Venofer")]).injectable
    assert not matcher.identify([concept(text="Venofer oral")]).injectable   # an oral word: never the injectable


def test_injection_only_names_come_from_the_knowledge(knowledge):
    product = knowledge.products["iron_sucrose"]
    without = dataclasses.replace(product, injection_only_names=None)
    local = dataclasses.replace(knowledge, products={**knowledge.products, "iron_sucrose": without})
    req = request(concept(text="Venofer 200 mg"), route=IM_TEXT, dose=mg(200))
    assert only_order(knowledge, req).route_conflict
    assert read(local, req)[0] == []
    assert only_order(local, request(concept(text="Venofer 200 mg"), dose=mg(200))).route == "iv"   # IV: still ours


@pytest.mark.parametrize("text", ["IM", "i.m.", "Intramuscular injection"])
def test_im_route_words_read_infed_by_name_as_intramuscular(knowledge, text):
    order = only_order(knowledge, request(concept(text="INFeD 100 mg"), route={"text": text}, dose=mg(100)))
    assert order.route == "intramuscular" and not order.route_conflict


@pytest.mark.parametrize("text", ["SC", "s.c.", "subq", "Subcutaneously", "topical"])
def test_sc_and_other_route_words_for_infed_by_name_are_a_contradiction(knowledge, text):
    order = only_order(knowledge, request(concept(text="INFeD 100 mg"), route={"text": text}, dose=mg(100)))
    assert order.route_conflict


def test_route_groups_come_from_the_knowledge(knowledge):
    routes = {k: v for k, v in knowledge.codes["routes"].items() if k != "intramuscular"}
    local = dataclasses.replace(knowledge, codes={**knowledge.codes, "routes": routes})
    im = {"coding": [{"system": SNOMED, "code": "78421000"}], "text": "IM"}
    assert only_order(knowledge, request(concept("206216"), route=im, dose=mg(100))).route == "intramuscular"
    order = only_order(local, request(concept("206216"), route=im, dose=mg(100)))
    assert order.route == "unknown"          # no longer known as non-IV: kept, with the problem said


def test_a_products_labelled_routes_come_from_the_knowledge(knowledge):
    im = {"coding": [{"system": SNOMED, "code": "78421000"}]}
    product = knowledge.products["iron_sucrose"]
    with_im = dataclasses.replace(product, routes=dataclasses.replace(product.routes, value=("iv", "intramuscular")))
    local = dataclasses.replace(knowledge, products={**knowledge.products, "iron_sucrose": with_im})
    assert only_order(knowledge, request(concept("1741267"), route=im, dose=mg(100))).route_conflict
    order = only_order(local, request(concept("1741267"), route=im, dose=mg(100)))
    assert order.route == "intramuscular" and not order.route_conflict


def test_class_names_come_from_the_knowledge(knowledge):
    assert only_order(knowledge, request(concept(text="IV iron 500 mg"), dose=mg(500))).matched_by == "class"
    names = {**knowledge.codes["iv_iron_class_names"], "names": ["parenteral iron"]}
    local = dataclasses.replace(knowledge, codes={**knowledge.codes, "iv_iron_class_names": names})
    assert read(local, request(concept(text="IV iron 500 mg"), dose=mg(500)))[0] == []
    assert only_order(local, request(concept(text="Parenteral iron 500 mg"), dose=mg(500))).matched_by == "class"


# ---------------------------------------------------------------- read once per call
def test_a_second_reading_of_the_same_drafts_is_the_first_one_until_a_medication_arrives(knowledge, monkeypatch):
    from cds_service.engine import order as order_module

    calls = []
    real = order_module.read_order
    monkeypatch.setattr(order_module, "read_order", lambda *a, **k: calls.append(1) or real(*a, **k))
    record = PatientRecord()
    req = request(None, dose=mg(125))
    req["medicationReference"] = {"reference": "Medication/m-42"}
    drafts = bundle(req)

    first = read_orders(drafts, record, knowledge)
    assert read_orders(drafts, record, knowledge) == first and len(calls) == 1   # the engine after the triage

    record.unavailable["medication:m-42"] = "HTTP 500"      # why it could not be read is part of the reading
    assert "HTTP 500" in read_orders(drafts, record, knowledge)[0][0].matched_on and len(calls) == 2

    record.add({"resourceType": "Medication", "id": "m-42", "code": concept(text="Ferrlecit 125 mg")})
    assert read_orders(drafts, record, knowledge)[0][0].product_key == "sodium_ferric_gluconate" and len(calls) == 3
    assert read_orders(bundle(copy.deepcopy(req)), record, knowledge) and len(calls) == 4   # other drafts: read
