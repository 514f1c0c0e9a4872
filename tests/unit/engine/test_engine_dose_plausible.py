"""A zero, negative or absurdly small dose is said on a card as unreadable (issue 10, finding 11).

Before: -100 mg was read as a dose below every ceiling, so the order got no dose card at all.
The plausibility check is one function (``dosage.check_plausible``, which also refuses doses above the
protocol's ``implausible_dose_mg``), used for orders and for earlier administrations.
"""

from __future__ import annotations

import pytest

from cds_service import engine
from cds_service.engine.administrations import read_administration
from cds_service.engine.dosage import DoseReading, check_plausible
from cds_service.fhir.record import PatientRecord
from cds_service.knowledge.loader import load_knowledge
from support.rules import ctx, draft_resource


def dose_cards(dose_value, unit="mg"):
    resource = draft_resource(dose_mg=dose_value)
    resource["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"].update(unit=unit, code=unit)
    record = PatientRecord()
    record.add({"resourceType": "Patient", "id": "pat-1", "birthDate": "1980-01-15"})
    findings = engine.evaluate({"resourceType": "Bundle", "entry": [{"resource": resource}]}, None, record,
                               load_knowledge(), ctx(), {})
    return [f for f in findings if f.topic == "dose-limit"]


@pytest.mark.parametrize("value,unit", [(-100, "mg"), (0, "mg"), (0.5, "mg"), (0.0001, "g"), (-0.5, "g")])
def test_an_implausible_dose_gets_a_could_not_be_read_card(value, unit):
    (card,) = dose_cards(value, unit)
    assert card.indicator == "warning"
    assert "not checked (the dose could not be read)" in card.summary


@pytest.mark.parametrize("value,unit", [(1, "mg"), (0.001, "g"), (20, "mg")])
def test_the_smallest_readable_dose_is_checked(value, unit):
    assert all("could not be read" not in card.summary for card in dose_cards(value, unit))


@pytest.mark.parametrize("mg,says", [(-100, "zero or negative"), (0, "zero or negative"), (0.99, "under 1 mg"),
                                     (float("nan"), "zero or negative"), (1, None), (750, None),
                                     (5000, None), (5001, "far above")])
def test_check_plausible_on_both_sides_of_each_bound(mg, says):
    reading = DoseReading(dose_mg=mg, dose_source="doseQuantity")
    check_plausible(reading, 5000.0)
    if says is None:
        assert reading.dose_mg == mg and reading.problems == []
    else:
        assert reading.dose_mg is None and reading.dose_source is None
        assert says in reading.problems[0] and "the dose could not be read" in reading.problems[0]


def test_a_negative_dose_given_earlier_is_not_read_as_a_dose():
    given = {"resourceType": "MedicationAdministration", "id": "ma-1", "status": "completed",
             "medicationCodeableConcept": {"text": "Venofer"}, "effectiveDateTime": "2026-11-20T10:00:00Z",
             "dosage": {"route": {"text": "Intravenous"}, "dose": {"value": -800, "unit": "mg", "code": "mg"}}}
    admin = read_administration(given, {}, load_knowledge())
    assert admin is not None and admin.dose_mg is None
