"""formulation: test dose (US iron dextran), phosphate before FCM re-dosing, boxed warnings, availability."""

from __future__ import annotations

import dataclasses

from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.engine.rules import formulation
from support.rules import administration, draft_resource, facts, flat, knowledge, lab, order, patient, reaction

K = knowledge()
REDOSE_DAYS = K.protocol.fcm_redose_phosphate_days.value
PHOSPHATE_LOW = K.protocol.lab_thresholds.phosphate_low_mg_dl.value
INFED = K.products["iron_dextran"].labels["US"]


def dextran(dose=100):
    return order(product="iron_dextran", dose_mg=dose, minutes=2,
                 resource=draft_resource(dose_mg=dose, minutes=2, product_code="311144",
                                         display="2 ML iron-dextran complex 50 MG/ML Injection"))


def creates(finding, resource_type):
    return [
        s.resource for s in finding.suggestions if s.action == "create" and s.resource["resourceType"] == resource_type]


def test_first_us_iron_dextran_dose_needs_a_test_dose_suggested_from_the_label():
    assert INFED.test_dose["required"] and INFED.test_dose["dose_mg"] == 25 and INFED.test_dose["wait_minutes"] == 60
    finding = formulation.check(facts(dextran()))
    assert finding.indicator == "warning" and "test dose" in finding.summary
    (test_dose,) = creates(finding, "MedicationRequest")
    MedicationRequest.model_validate(test_dose)
    assert test_dose["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 25
    assert test_dose["medicationCodeableConcept"]["coding"][0]["code"] == "311144"
    assert test_dose["status"] == "draft" and test_dose["id"] != "mr-1"
    assert "at least 60 minutes" in flat(finding.detail)


def test_no_test_dose_after_an_earlier_iron_dextran_dose():
    seen = patient(administrations=(administration(product="iron_dextran", days=400, dose_mg=100),))
    finding = formulation.check(facts(dextran(), seen))
    assert finding is None or not creates(finding, "MedicationRequest")


def test_no_test_dose_in_the_eu():
    finding = formulation.check(facts(dextran(), jurisdiction="EU"))
    assert finding is None or "test dose" not in finding.summary


def test_the_test_dose_order_itself_and_a_drafted_test_dose_are_recognised():
    assert formulation.check(
        facts(dextran(25))) is None or "test dose" not in formulation.check(facts(dextran(25))).summary
    main, test = dextran(100), dextran(25)
    finding = formulation.check(facts(main, orders=(main, test)))
    assert not creates(finding, "MedicationRequest") and "already among the draft orders" in finding.detail


def test_fcm_redose_within_the_window_asks_for_phosphate():
    assert REDOSE_DAYS == 90
    recent = patient(administrations=(administration(days=REDOSE_DAYS - 1),))
    finding = formulation.check(facts(the_patient=recent))
    assert finding.indicator == "warning" and "phosphate" in finding.summary
    (lab_order,) = creates(finding, "ServiceRequest")
    ServiceRequest.model_validate(lab_order)
    assert lab_order["code"]["coding"][0] == {"system": "http://loinc.org", "code": "2777-1",
                                              "display": K.codes["labs"]["phosphate"]["display"]}
    later = patient(administrations=(administration(days=REDOSE_DAYS + 1),))
    # nothing else to say: the unconfirmed boxed warning alone makes no card (noise)
    assert formulation.check(facts(the_patient=later)) is None


def test_phosphate_checked_since_the_last_dose_and_normal_needs_no_new_check():
    checked = patient(administrations=(administration(days=60),), labs=[lab("phosphate", PHOSPHATE_LOW + 1, days=2)])
    assert formulation.check(facts(the_patient=checked)) is None


def test_low_phosphate_just_below_the_threshold_warns_at_the_threshold_does_not():
    low = formulation.check(facts(the_patient=patient(labs=[lab("phosphate", PHOSPHATE_LOW - 0.1)])))
    assert low.indicator == "warning" and "phosphate low" in low.summary
    assert f"{PHOSPHATE_LOW - 0.1:g} mg/dL" in low.detail
    assert formulation.check(facts(the_patient=patient(labs=[lab("phosphate", PHOSPHATE_LOW)]))) is None


def test_ferumoxytol_boxed_warning_and_mri_interference_in_the_detail():
    feraheme = order(product="ferumoxytol", dose_mg=510, minutes=15, resource=draft_resource(dose_mg=510, minutes=15))
    finding = formulation.check(facts(feraheme))
    detail = flat(finding.detail)
    assert "boxed warning" in detail and "mri" in detail and "anaphyla" in detail


def test_ferumoxytol_is_not_marketed_in_the_eu():
    feraheme = order(product="ferumoxytol", dose_mg=510, minutes=15, resource=draft_resource(dose_mg=510, minutes=15))
    finding = formulation.check(facts(feraheme, jurisdiction="EU"))
    assert finding.indicator == "warning" and "not marketed" in finding.summary


def test_earlier_reaction_to_the_same_product_suggests_considering_another():
    finding = formulation.check(facts(the_patient=patient(reactions=(reaction(product="ferric_carboxymaltose"),))))
    assert "consider another" in flat(finding.detail)
    assert formulation.check(facts(the_patient=patient(reactions=(reaction(product="iron_sucrose"),)))) is None


def test_the_ordered_product_code_decides_the_ferric_carboxymaltose_boxed_warning():
    """Generic FCM labels box symptomatic hypophosphatemia; Injectafer lists it under 5.2 without a box.
    The product ordered decides, never an assumption; the box is quoted on a card with its own reason."""
    low = patient(labs=[lab("phosphate", PHOSPHATE_LOW - 0.1)])
    generic, generic_ndc = order(matched_on="RxNorm 1435169 (SCD)"), order(matched_on="NDC 0781-3542-94")
    brand, brand_by_name = order(matched_on="RxNorm 1435174 (SBD)"), order(matched_on="name 'Injectafer'")
    ingredient = order(matched_on="RxNorm 1433693 (IN)")
    for ordered in (generic, brand, ingredient):
        assert formulation.check(facts(ordered)) is None          # no card of its own (noise)
    for ordered in (generic, generic_ndc):
        detail = flat(formulation.check(facts(ordered, low)).detail)
        assert "boxed warning** (ferric carboxymaltose injection (generic) us prescribing information)" in detail
        assert "injectafer" not in detail.split("**sources**")[0]
    for ordered in (brand, brand_by_name):
        assert "**boxed warning" not in flat(formulation.check(facts(ordered, low)).detail)
    unknown = flat(formulation.check(facts(ingredient, low)).detail)
    assert "boxed warning on generic ferric carboxymaltose injection labels" in unknown
    assert "does not say which product" in unknown and "assumed" not in unknown


# --- a route the label does not allow ----------------------------------------------------------------
def test_an_iv_only_product_ordered_im_gets_a_warning_naming_the_labels_route():
    im = dataclasses.replace(order(product="iron_sucrose", dose_mg=100, route_text="Intramuscular route"),
                             route="unknown", route_conflict=True)
    finding = formulation.check(facts(im))
    assert finding.indicator == "warning" and "route not in the label" in finding.summary
    assert "intravenous use only" in flat(finding.detail) and "intramuscular route" in flat(finding.detail)
    assert K.products["iron_sucrose"].routes.source in finding.sources


def test_an_iv_order_gets_no_route_item():
    finding = formulation.check(facts(order(product="iron_sucrose", dose_mg=100, route_text="Intravenous route")))
    assert finding is None or "route" not in finding.summary


def test_iron_dextran_names_both_labelled_routes():
    sc = dataclasses.replace(dextran(), route="unknown", route_text="Subcutaneous", route_conflict=True)
    detail = flat(formulation.check(facts(sc)).detail)
    assert "intravenous or intramuscular use only" in detail


def test_beside_the_stop_card_the_test_dose_is_said_but_not_offered_as_an_order():
    severe = patient(reactions=(reaction(kind="hypersensitivity", severity="severe", product="iron_sucrose"),))
    finding = formulation.check(facts(dextran(), severe))
    assert "test dose" in finding.summary and not creates(finding, "MedicationRequest")
    mild = patient(reactions=(reaction(kind="hypersensitivity", severity="mild", product="iron_sucrose"),))
    assert creates(formulation.check(facts(dextran(), mild)), "MedicationRequest")   # a warning does not stop
