"""The tolerant dosage reader (issue 14): every dose and rate encoding EHRs send, read into one order model.

Each test is one encoding seen in the wild (CDS Hooks spec examples, STU3/DSTU2 servers, Epic-style
doseAndRate types, contained Medications, free text); both sides of each decision are checked.
"""

from __future__ import annotations

import pytest

from cds_service.engine import evaluate
from cds_service.engine.dosage import quote, text_dose, text_minutes, text_volume
from cds_service.engine.order import read_orders
from cds_service.engine.units import per_kg_dose, to_ml
from cds_service.fhir.record import PatientRecord
from support.rules import ctx, days_before
from support.rules import knowledge as load

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
IV = {"coding": [{"system": "http://snomed.info/sct", "code": "47625008", "display": "Intravenous route"}]}
FCM = {
    "coding": [{"system": RXNORM, "code": "1435169", "display": "ferric carboxymaltose 50 MG/ML Injectable Solution"}]
}
FERUMOXYTOL = {"coding": [{"system": RXNORM, "code": "860605", "display": "ferumoxytol 30 MG/ML Injectable Solution"}]}
FDM = {
    "coding": [{"system": RXNORM, "code": "2274406", "display": "ferric derisomaltose 100 MG/ML Injectable Solution"}]
}
EPIC_TYPE = "http://epic.com/CodeSystem/dose-rate-type"
HL7_TYPE = "http://terminology.hl7.org/CodeSystem/dose-rate-type"


@pytest.fixture(scope="module")
def knowledge():
    return load()


def q(value, code):
    return {"value": value, "unit": code, "system": UCUM, "code": code}


def typed(kind, system=HL7_TYPE):
    return {"coding": [{"system": system, "code": kind, "display": kind}]}


def order(dosage, medication=FCM, resource_type="MedicationRequest", **fields):
    resource = {"resourceType": resource_type, "id": "o1", "status": "draft", "dosageInstruction": [dosage], **fields}
    if medication is not None:
        resource["medicationCodeableConcept"] = medication
    return resource


def one(knowledge, resource, record=None, patient=None):
    orders, _ = read_orders(
        {"resourceType": "Bundle", "entry": [{"resource": resource}]}, record or PatientRecord(), knowledge, patient
    )
    assert len(orders) == 1, orders
    return orders[0]


# --- shapes of doseAndRate and the Dosage ------------------------------------------------------
def test_dose_and_rate_as_one_object_is_read(knowledge):
    # the CDS Hooks order-select R4 example writes doseAndRate as an object
    read = one(
        knowledge, order({"route": IV, "doseAndRate": {"doseQuantity": q(750, "mg"), "rateQuantity": q(50, "mg/min")}})
    )
    assert read.dose_mg == 750 and read.minutes == pytest.approx(15)
    assert not read.editable  # an update would be written as a list: no one-click change


def test_dosage_level_dose_and_rate_stu3_style(knowledge):
    read = one(knowledge, order({"route": IV, "doseQuantity": q(750, "mg"), "rateQuantity": q(3000, "mg/h")}))
    assert read.dose_mg == 750 and read.minutes == pytest.approx(15)
    assert not read.editable


def test_dstu2_medication_order_is_read_into_the_same_model(knowledge):
    resource = order(
        {
            "route": IV,
            "doseQuantity": q(510, "mg"),
            "rateRatio": {"numerator": q(510, "mg"), "denominator": q(17, "min")},
        },
        medication=FERUMOXYTOL,
        resource_type="MedicationOrder",
    )
    read = one(knowledge, resource)
    assert read.product_key == "ferumoxytol" and read.dose_mg == 510 and read.minutes == pytest.approx(17)
    assert not read.editable


def test_a_list_shaped_r4_order_stays_editable(knowledge):
    assert one(knowledge, order({"route": IV, "doseAndRate": [{"doseQuantity": q(750, "mg")}]})).editable


# --- doseAndRate.type -------------------------------------------------------------------------
def test_epic_calculated_volume_is_never_the_bag_volume(knowledge):
    # issue 14: 15 mL "calculated" + 750 mg at 400 mL/h once read as 2.2 min
    dosage = {
        "route": IV,
        "doseAndRate": [
            {"type": typed("calculated", EPIC_TYPE), "doseQuantity": q(15, "mL")},
            {"type": typed("ordered", EPIC_TYPE), "doseQuantity": q(750, "mg"), "rateQuantity": q(400, "mL/h")},
        ],
    }
    read = one(knowledge, order(dosage))
    assert read.dose_mg == 750 and read.minutes is None and read.volume_ml is None
    assert any("infusion volume was not found" in p for p in read.problems)


def test_calculated_volume_with_a_diluent_in_the_text_gives_the_time(knowledge):
    dosage = {
        "route": IV,
        "text": "750 mg in 100 mL sodium chloride 0.9% over 15 minutes",
        "doseAndRate": [
            {"type": typed("calculated"), "doseQuantity": q(15, "mL")},
            {"type": typed("ordered"), "doseQuantity": q(750, "mg"), "rateQuantity": q(400, "mL/h")},
        ],
    }
    read = one(knowledge, order(dosage))
    assert read.volume_ml == 100 and read.minutes == pytest.approx(15)
    assert "volume in the order's text" in read.minutes_source


def test_ordered_mass_wins_over_a_calculated_one(knowledge):
    dosage = {
        "route": IV,
        "doseAndRate": [
            {"type": typed("calculated"), "doseQuantity": q(1050, "mg")},
            {"type": typed("ordered"), "doseQuantity": q(750, "mg")},
        ],
    }
    read = one(knowledge, order(dosage))
    assert read.dose_mg == 750 and not any("different doses" in p for p in read.problems)


def test_untyped_masses_that_differ_use_the_highest_and_say_so(knowledge):
    dosage = {"route": IV, "doseAndRate": [{"doseQuantity": q(1050, "mg")}, {"doseQuantity": q(750, "mg")}]}
    read = one(knowledge, order(dosage))
    assert read.dose_mg == 1050 and any("different doses" in p for p in read.problems)


# --- plausibility -----------------------------------------------------------------------------
def test_a_bag_volume_read_as_a_dose_is_unreadable_not_50000_mg(knowledge):
    read = one(knowledge, order({"route": IV, "doseAndRate": [{"doseQuantity": q(1000, "mL")}]}))
    assert read.dose_mg is None
    assert any("taken as misread" in p and "50000 mg" in p for p in read.problems)


def test_a_large_but_possible_volume_dose_is_kept(knowledge):
    read = one(knowledge, order({"route": IV, "doseAndRate": [{"doseQuantity": q(20, "mL")}]}))
    assert read.dose_mg == 1000


# --- Medication: strength, amount, itemReference ----------------------------------------------
def _contained(strength=None, amount=None, code=FDM, ingredients=None):
    medication = {"resourceType": "Medication", "id": "med", "code": code}
    if ingredients is not None:
        medication["ingredient"] = ingredients
    elif strength is not None:
        medication["ingredient"] = [{"itemCodeableConcept": code, "strength": strength}]
    if amount is not None:
        medication["amount"] = amount
    return medication


def test_contained_medication_strength_before_the_packaged_concentration(knowledge):
    # ferric derisomaltose is packaged at 100 mg/mL; this preparation says 50 mg/mL: 2 mL is 100 mg, not 200 mg
    medication = _contained(strength={"numerator": q(50, "mg"), "denominator": q(1, "mL")})
    resource = order(
        {"route": IV, "doseAndRate": [{"doseQuantity": q(2, "mL")}]},
        medication=None,
        medicationReference={"reference": "#med"},
        contained=[medication],
    )
    read = one(knowledge, resource)
    assert read.product_key == "ferric_derisomaltose" and read.dose_mg == pytest.approx(100)
    assert "Medication strength" in read.dose_source


def test_without_a_strength_the_packaged_concentration_applies(knowledge):
    resource = order(
        {"route": IV, "doseAndRate": [{"doseQuantity": q(2, "mL")}]},
        medication=None,
        medicationReference={"reference": "#med"},
        contained=[_contained()],
    )
    assert one(knowledge, resource).dose_mg == pytest.approx(200)


def test_medication_amount_is_the_bag_volume_for_ml_rates(knowledge):
    medication = _contained(amount={"numerator": q(250, "mL"), "denominator": {"value": 1, "unit": "bag"}})
    resource = order(
        {"route": IV, "doseAndRate": [{"doseQuantity": q(1000, "mg"), "rateQuantity": q(1000, "mL/h")}]},
        medication=None,
        medicationReference={"reference": "#med"},
        contained=[medication],
    )
    read = one(knowledge, resource)
    assert read.volume_ml == 250 and read.minutes == pytest.approx(15)


def test_ingredient_item_reference_identifies_the_product(knowledge):
    substance = {"resourceType": "Substance", "id": "fe", "code": {"coding": [{"system": RXNORM, "code": "1433693"}]}}
    medication = {"resourceType": "Medication", "id": "med", "ingredient": [{"itemReference": {"reference": "#fe"}}]}
    resource = order(
        {"route": IV, "doseAndRate": [{"doseQuantity": q(750, "mg")}]},
        medication=None,
        medicationReference={"reference": "#med"},
        contained=[medication, substance],
    )
    assert one(knowledge, resource).product_key == "ferric_carboxymaltose"


def test_ingredient_item_reference_display_names_the_product(knowledge):
    medication = {
        "resourceType": "Medication",
        "id": "med",
        "ingredient": [{"itemReference": {"reference": "Substance/x", "display": "Venofer"}}],
    }
    resource = order(
        {"route": IV, "doseAndRate": [{"doseQuantity": q(200, "mg")}]},
        medication=None,
        medicationReference={"reference": "#med"},
        contained=[medication],
    )
    assert one(knowledge, resource).product_key == "iron_sucrose"


# --- units ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "quantity,ml",
    [
        (q(15000, "uL"), 15),
        ({"value": 15000, "unit": "µL"}, 15),
        ({"value": 1.5, "unit": "cL"}, 15),
        (q(0.015, "L"), 15),
    ],
)
def test_volume_units(quantity, ml):
    assert to_ml(quantity) == pytest.approx(ml)


def test_microlitre_dose_is_read(knowledge):
    assert one(
        knowledge, order({"route": IV, "doseAndRate": [{"doseQuantity": q(15000, "uL")}]})
    ).dose_mg == pytest.approx(750)


def test_ucum_annotation_is_ignored():
    assert per_kg_dose(q(15, "mg{Fe}/kg")) == 15 and per_kg_dose(q(15, "mg")) is None


# --- rateRatio ----------------------------------------------------------------------------------
def test_rate_ratio_with_an_implied_denominator_of_one(knowledge):
    ratio = {"numerator": q(50, "mg"), "denominator": {"unit": "min", "system": UCUM, "code": "min"}}
    read = one(knowledge, order({"route": IV, "doseAndRate": [{"doseQuantity": q(750, "mg"), "rateRatio": ratio}]}))
    assert read.minutes == pytest.approx(15)


def test_rate_ratio_without_a_denominator_reads_the_numerators_rate_unit(knowledge):
    ratio = {"numerator": q(3000, "mg/h")}
    read = one(knowledge, order({"route": IV, "doseAndRate": [{"doseQuantity": q(750, "mg"), "rateRatio": ratio}]}))
    assert read.minutes == pytest.approx(15)


def test_rate_ratio_per_volume_is_still_unreadable(knowledge):
    ratio = {"numerator": q(50, "mg"), "denominator": q(1, "mL")}
    read = one(knowledge, order({"route": IV, "doseAndRate": [{"doseQuantity": q(750, "mg"), "rateRatio": ratio}]}))
    assert read.minutes is None and any("rate ratio" in p for p in read.problems)


# --- per kg -----------------------------------------------------------------------------------
def _weight_record(kg):
    record = PatientRecord()
    record.add({"resourceType": "Patient", "id": "pat-1", "birthDate": "1970-01-01"})
    record.add(
        {
            "resourceType": "Observation",
            "id": "w1",
            "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
            "subject": {"reference": "Patient/pat-1"},
            "effectiveDateTime": days_before(3),
            "valueQuantity": {"value": kg, "unit": "kg", "system": UCUM, "code": "kg"},
        }
    )
    return record


def _bundle(resource):
    return {"resourceType": "Bundle", "entry": [{"resource": resource}]}


def test_mg_per_kg_uses_the_weight_on_record_and_says_which(knowledge):
    resource = order(
        {
            "route": IV,
            "doseAndRate": [{"doseQuantity": q(15, "mg/kg")}],
            "timing": {"repeat": {"duration": 15, "durationUnit": "min"}},
        }
    )
    findings = evaluate(_bundle(resource), None, _weight_record(60), knowledge, ctx(), {})
    observation = next(f for f in findings if f.topic == "observation-period")
    assert "15 mg/kg x 60 kg" in observation.detail and "Observation/w1" in observation.detail
    assert "= 900 mg" in observation.detail
    assert not any(f.topic == "dose-limit" for f in findings)  # 900 mg is within 15 mg/kg and 1,000 mg


def test_mg_per_kg_above_the_label_per_kg_limit_gets_the_dose_card(knowledge):
    resource = order(
        {
            "route": IV,
            "doseAndRate": [{"doseQuantity": q(20, "mg/kg")}],
            "timing": {"repeat": {"duration": 15, "durationUnit": "min"}},
        }
    )
    findings = evaluate(_bundle(resource), None, _weight_record(45), knowledge, ctx(), {})
    assert any(f.topic == "dose-limit" and f.indicator == "warning" for f in findings)


def test_mg_per_kg_without_a_weight_says_the_dose_could_not_be_worked_out(knowledge):
    resource = order(
        {
            "route": IV,
            "doseAndRate": [{"doseQuantity": q(15, "mg/kg")}],
            "timing": {"repeat": {"duration": 15, "durationUnit": "min"}},
        }
    )
    record = PatientRecord()
    record.add({"resourceType": "Patient", "id": "pat-1", "birthDate": "1970-01-01"})
    findings = evaluate(_bundle(resource), None, record, knowledge, ctx(), {})
    dose = next(f for f in findings if f.topic == "dose-limit")
    assert "ordered per kg (15 mg/kg)" in dose.detail and "No body weight is recorded" in dose.detail


@pytest.mark.parametrize("kg,worked_out", [(0.45, False), (45, True)])
def test_mg_per_kg_is_worked_out_only_from_a_weight_that_could_be_right(knowledge, kg, worked_out):
    resource = order(
        {
            "route": IV,
            "doseAndRate": [{"doseQuantity": q(15, "mg/kg")}],
            "timing": {"repeat": {"duration": 15, "durationUnit": "min"}},
        }
    )
    findings = evaluate(_bundle(resource), None, _weight_record(kg), knowledge, ctx(), {})
    every_detail = " ".join(f.detail for f in findings)
    if worked_out:
        assert "15 mg/kg x 45 kg" in every_detail and "could not be right" not in every_detail
    else:   # no 6.75 mg dose from 0.45 kg: the dose card says why it could not be worked out
        dose = next(f for f in findings if f.topic == "dose-limit")
        assert "ordered per kg (15 mg/kg)" in dose.detail and "(0.45 kg on" in dose.detail
        assert "could not be right" in dose.detail and "6.75" not in every_detail
        assert all(s.action != "update" for f in findings for s in f.suggestions)


# --- text, the last resort --------------------------------------------------------------------
def test_dose_and_time_from_text_are_read_and_quoted_on_the_cards(knowledge):
    resource = order({"route": IV, "text": "510 mg IV over at least 15 minutes"}, medication=FERUMOXYTOL)
    read = one(knowledge, resource)
    assert read.dose_mg == 510 and read.minutes == 15
    assert all("510 mg IV over at least 15 minutes" in n for n in read.notes)
    findings = evaluate(_bundle(resource), None, _weight_record(70), knowledge, ctx(), {})
    assert findings and all("Read from the order's text" in f.detail for f in findings)


def test_a_faster_time_in_text_still_gets_the_rate_card(knowledge):
    resource = order({"route": IV, "text": "ferumoxytol 510 mg IV over 5 minutes"}, medication=FERUMOXYTOL)
    findings = evaluate(_bundle(resource), None, _weight_record(70), knowledge, ctx(), {})
    rate = next(f for f in findings if f.topic == "infusion-rate")
    assert "over 5 min" in rate.summary and "Read from the order's text" in rate.detail


def test_absent_dose_quotes_the_text_instead_of_saying_not_stated(knowledge):
    read = one(knowledge, order({"route": IV, "text": "as directed by the infusion unit"}))
    assert read.dose_mg is None
    assert any(
        "not found in the order's structured fields" in p and "as directed by the infusion unit" in p
        for p in read.problems
    )
    assert not any("not stated" in p for p in read.problems)


def test_structured_dose_wins_over_the_text(knowledge):
    read = one(knowledge, order({"route": IV, "text": "1000 mg", "doseAndRate": [{"doseQuantity": q(750, "mg")}]}))
    assert read.dose_mg == 750 and read.notes == ()


@pytest.mark.parametrize(
    "text,mg,minutes,ml",
    [
        ("510 mg IV over at least 15 minutes", 510, 15, None),
        ("1 g in 250 mL NaCl 0.9% over 1 hour", 1000, 60, 250),
        ("Ferric carboxymaltose 50 mg/mL: 750 mg over 15-30 min", 750, 15, None),
        ("200 mg and then 100 mg", None, None, None),  # two different doses: not guessed
        ("give 7 mg/kg", None, None, None),  # per kg in text is not a dose in mg
        ("use a 100 mL bag", None, None, 100),
    ],
)
def test_text_readers(text, mg, minutes, ml):
    assert text_dose(text) == mg and text_minutes(text) == minutes and text_volume(text) == ml


def test_quote_neutralises_markdown_and_is_bounded():
    quoted = quote("[click](http://x) **now** " + "a" * 500)
    assert "\\[click\\]" in quoted and "\\*\\*now" in quoted and len(quoted) <= 200


def test_text_readers_stay_linear_on_hostile_input():
    text = "1" * 5000 + " mg over " + "9" * 5000  # only the first 2,000 characters are read
    assert text_dose(text) is None and text_minutes(text) is None


# --- route contradiction ----------------------------------------------------------------------
def test_injectable_with_an_oral_route_is_never_silent(knowledge):
    oral = {"coding": [{"system": "http://snomed.info/sct", "code": "26643006", "display": "Oral route"}]}
    resource = order(
        {
            "route": oral,
            "doseAndRate": [{"doseQuantity": q(750, "mg")}],
            "timing": {"repeat": {"duration": 15, "durationUnit": "min"}},
        }
    )
    observation = {
        "resourceType": "ServiceRequest",
        "id": "obs",
        "status": "draft",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "61746007"}]},
    }
    findings = evaluate(
        {"resourceType": "Bundle", "entry": [{"resource": resource}, {"resource": observation}]},
        None,
        _weight_record(70),
        knowledge,
        ctx(),
        {},
    )
    assert findings and all("contradicts the product" in f.detail for f in findings)


# --- suggestions on orders that are not R4 MedicationRequests ---------------------------------
def test_a_dstu2_order_gets_no_update_and_its_delete_names_its_own_type(knowledge):
    from cds_service.engine.model import Finding, SuggestionSpec
    from cds_service.engine.order_notes import annotate

    resource = order({"route": IV, "doseQuantity": q(750, "mg")}, resource_type="MedicationOrder")
    read = one(knowledge, resource)
    finding = Finding(topic="dose-limit", indicator="warning", order=read, summary="s", detail="d",
                      suggestions=(SuggestionSpec(label="u", action="update", description="u", resource={}),
                                   SuggestionSpec(label="x", action="delete", description="x",
                                                  resource_id="MedicationRequest/o1")))
    [annotated] = annotate([finding], read, "ferric carboxymaltose", knowledge)
    assert [s.action for s in annotated.suggestions] == ["delete"]
    assert annotated.suggestions[0].resource_id == "MedicationOrder/o1"
    assert "No one-click change is offered" in annotated.detail
