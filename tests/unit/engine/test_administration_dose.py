"""The dose of an earlier administration read directly when it is a mass gives what ``read_dose`` gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.engine.administrations import _dose_given
from cds_service.engine.dosage import Entry, check_plausible, read_dose

_UNITS = st.sampled_from(["mg", "MG", "g", "ug", "mg{Fe}", "mL", "ml", "L", "mg/kg", "kg", "", "tablet", 1, None])
_NUMBERS = st.one_of(st.sampled_from([0, -5, 0.5, 1, 100, 200.0, 1e308, float("nan"), float("inf"), True, "100"]),
                     st.floats(allow_nan=True), st.integers(-10, 10_000))
_QUANTITY = st.fixed_dictionaries({}, optional={"value": _NUMBERS, "unit": _UNITS, "code": _UNITS})
_DOSE = st.one_of(_QUANTITY, st.none(), st.just("100 mg"), st.fixed_dictionaries({"low": _QUANTITY}))


@settings(max_examples=500, deadline=None)
@given(dose=_DOSE, concentration=st.sampled_from([None, 20.0, 50.0]), present=st.booleans())
def test_a_dose_given_reads_as_read_dose_reads_it(dose, concentration, present):
    dosage = {"dose": dose} if present else {}
    plain = read_dose([Entry("dose", dosage["dose"], None)] if isinstance(dosage.get("dose"), dict) else [],
                      concentration)
    check_plausible(plain, None)
    found = _dose_given(dosage, concentration)
    assert (found.dose_mg, found.volume_ml) == (plain.dose_mg, plain.volume_ml) or (
        found.dose_mg != found.dose_mg and plain.dose_mg != plain.dose_mg)   # NaN is not equal to itself
