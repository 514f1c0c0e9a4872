"""Suggestion builders: valid R4 (checked with fhir.resources R4B), drafts, same id on update,
dose or time unchanged."""

from __future__ import annotations

from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.engine import suggest
from support.rules import ctx, draft_resource, knowledge, order


def test_with_duration_keeps_id_and_dose_and_recomputes_a_volume_rate():
    resource = draft_resource(dose_mg=750, minutes=10, rate=(600, "mL/h"))
    updated = suggest.with_duration(order(minutes=10, volume_ml=100, resource=resource), 15)
    MedicationRequest.model_validate(updated)
    dosage = updated["dosageInstruction"][0]
    assert updated["id"] == "mr-1" and dosage["doseAndRate"][0]["doseQuantity"]["value"] == 750
    assert dosage["timing"]["repeat"] == {"count": 1, "duration": 15, "durationUnit": "min"}
    assert dosage["doseAndRate"][0]["rateQuantity"]["value"] == 400  # 100 mL over 15 min
    assert resource["dosageInstruction"][0]["timing"]["repeat"]["duration"] == 10  # the draft is not mutated


def test_with_duration_rounds_a_mass_rate_down_and_drops_what_it_cannot_recompute():
    resource = draft_resource(dose_mg=500, minutes=None, rate=(100, "mg/min"))
    updated = suggest.with_duration(order(dose_mg=500, minutes=5, resource=resource), 7)
    assert updated["dosageInstruction"][0]["doseAndRate"][0]["rateQuantity"]["value"] == 71.4  # 500/7 = 71.43, slower
    unknown_volume = draft_resource(minutes=10, rate=(600, "mL/h"))
    dropped = suggest.with_duration(order(minutes=10, volume_ml=None, resource=unknown_volume), 15)
    assert "rateQuantity" not in dropped["dosageInstruction"][0]["doseAndRate"][0]
    ratio = draft_resource(minutes=None)
    ratio["dosageInstruction"][0]["doseAndRate"][0]["rateRatio"] = {"numerator": {"value": 1},
                                                                     "denominator": {"value": 1}}
    assert "rateRatio" not in suggest.with_duration(order(minutes=None, resource=ratio),
                                                    15)["dosageInstruction"][0]["doseAndRate"][0]


def test_with_dose_sets_mg_and_keeps_the_time():
    resource = draft_resource(dose_mg=1200, minutes=30, rate=(40, "mg/min"))
    resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"] = {"value": 24, "unit": "mL", "code": "mL",
                                                                          "system": "http://unitsofmeasure.org"}
    updated = suggest.with_dose(order(dose_mg=1200, minutes=30, resource=resource), 900)
    MedicationRequest.model_validate(updated)
    entry = updated["dosageInstruction"][0]["doseAndRate"][0]
    assert entry["doseQuantity"] == {"value": 900, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}
    assert entry["rateQuantity"]["value"] == 30  # 900 mg over the same 30 min
    assert updated["dosageInstruction"][0]["timing"]["repeat"]["duration"] == 30 and updated["id"] == "mr-1"


def test_observation_and_lab_requests_are_valid_drafts_tied_to_patient_encounter_and_order():
    code = knowledge().protocol.observation.service_code
    observation = suggest.observation_request(ctx(), order(), code, 30, "Observe 30 minutes")
    lab = suggest.lab_request(ctx(), order(), "formulation", "2777-1", "Phosphate", "before the dose")
    for resource in (observation, lab):
        ServiceRequest.model_validate(resource)
        assert resource["status"] == "draft" and resource["intent"] == "order"
        assert resource[
            "subject"] == {"reference": "Patient/pat-1"} and resource["encounter"] == {"reference": "Encounter/enc-1"}
        assert resource["requester"] == {"reference": "Practitioner/prac-1"}
        assert resource["supportingInfo"] == [{"reference": "MedicationRequest/mr-1"}]
    assert observation["id"] != suggest.observation_request(ctx(), order(), code, 30, "x")["id"]  # fresh ids
    assert suggest.has_marker(observation, "observation-period") and not suggest.has_marker(lab, "observation-period")


def test_no_encounter_or_requester_when_the_call_has_none():
    resource = suggest.premedication_request(ctx(encounter_id=None, user_id=None), order(),
                                             next(iter(knowledge().premedications.values())), "note")
    MedicationRequest.model_validate(resource)
    assert "encounter" not in resource and "requester" not in resource


def test_every_premedication_of_the_protocol_builds_a_valid_coded_order():
    for spec in knowledge().premedications.values():
        resource = suggest.premedication_request(ctx(), order(), spec, "before iron")
        MedicationRequest.model_validate(resource)
        coding = resource["medicationCodeableConcept"]["coding"][0]
        assert coding["system"] == suggest.RXNORM and coding["code"] == str(spec.rxnorm)


def test_test_dose_copies_a_contained_medication():
    resource = draft_resource()
    del resource["medicationCodeableConcept"]
    resource["contained"] = [{"resourceType": "Medication", "id": "med", "code": {"text": "INFeD"}}]
    resource["medicationReference"] = {"reference": "#med"}
    route = {"system": "http://snomed.info/sct", "code": "47625008", "display": "Intravenous route"}
    built = suggest.test_dose_request(ctx(), order(product="iron_dextran", resource=resource), 25, route, "25 mg",
                                      "note")
    MedicationRequest.model_validate(built)
    assert built["contained"][0]["id"] == "med" and built["medicationReference"] == {"reference": "#med"}
    assert built["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == 25


def _with_text(text, **kw):
    resource = draft_resource(**{k: v for k, v in kw.items() if k in ("dose_mg", "minutes", "rate")})
    resource["dosageInstruction"][0]["text"] = text
    return resource


def test_with_duration_keeps_the_method_and_diluent_words_and_restates_only_the_time():
    resource = _with_text("100 mg slow IV push over 1 min", dose_mg=100, minutes=1)
    updated = suggest.with_duration(order(dose_mg=100, minutes=1, resource=resource), 2)
    assert updated["dosageInstruction"][0]["text"] == "100 mg slow IV push over 2 min"
    resource = _with_text("750 mg in 100 mL sodium chloride 0.9% over 5 minutes", minutes=5)
    updated = suggest.with_duration(order(minutes=5, resource=resource), 15)
    assert updated["dosageInstruction"][0]["text"] == "750 mg in 100 mL sodium chloride 0.9% over 15 minutes"
    assert updated["dosageInstruction"][0]["route"] == resource["dosageInstruction"][0]["route"]


def test_with_duration_fits_an_ml_per_hour_rate_to_the_bag_the_order_names():
    resource = _with_text("750 mg in 100 mL sodium chloride 0.9% at 600 mL/h", minutes=None, rate=(600, "mL/h"))
    updated = suggest.with_duration(order(minutes=10, volume_ml=None, resource=resource), 15)
    dosage = updated["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["rateQuantity"]["value"] == 400      # 100 mL over 15 min
    assert dosage["text"] == "750 mg in 100 mL sodium chloride 0.9% at 400 mL/h over 15 minutes"
    MedicationRequest.model_validate(updated)


def test_with_dose_keeps_every_word_but_the_dose():
    resource = _with_text("1,500 mg in 250 mL sodium chloride 0.9% over 30 minutes", dose_mg=1500, minutes=30)
    updated = suggest.with_dose(order(dose_mg=1500, minutes=30, resource=resource), 1000)
    assert updated["dosageInstruction"][0]["text"] == "1000 mg in 250 mL sodium chloride 0.9% over 30 minutes"


def test_with_dose_writes_the_dose_in_the_text_as_the_coded_dose_carries_it():
    # a child's 31.25 mg (2.5 mL of 12.5 mg/mL): the text said "31.2 mg" while doseQuantity said 31.25
    resource = _with_text("62.5 mg in 100 mL sodium chloride 0.9% over 60 minutes", dose_mg=62.5, minutes=60)
    updated = suggest.with_dose(order(dose_mg=62.5, minutes=60, resource=resource), 31.25)
    dosage = updated["dosageInstruction"][0]
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 31.25
    assert dosage["text"] == "31.25 mg in 100 mL sodium chloride 0.9% over 60 minutes"
    for mg, written in ((7.4, "7.4"), (400, "400"), (400.0, "400"), (9.875, "9.875")):   # whole, one decimal, three
        updated = suggest.with_dose(order(dose_mg=62.5, minutes=60, resource=resource), mg)
        assert updated["dosageInstruction"][0]["text"].startswith(f"{written} mg in 100 mL")
        assert updated["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["value"] == mg
