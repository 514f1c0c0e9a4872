"""The dose and administration time of one draft order: its Dosage, its Medication, and last its text.

``engine/dosage.py`` reads a Dosage's elements; this module adds what the
order says around them: the concentration (a Medication's own
``ingredient.strength`` before the product's packaged concentration), the
whole infused volume for mL/h rates (the Medication's bag size or diluent,
else a volume in the text, else an ordered volume), the plausibility ceiling,
and as a last resort the dose and time written in ``dosageInstruction.text``,
which the cards then quote as read from text. What is truly absent is said as
"not found in the order's structured fields", quoting the text when there is one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cds_service.engine import text as card_text
from cds_service.engine.dosage import (
    DoseReading,
    TimeReading,
    check_plausible,
    dosage_entries,
    quote,
    read_dose,
    read_time,
    text_dose,
    text_minutes,
    text_volume,
)
from cds_service.engine.fhir_values import items
from cds_service.engine.markdown import markdown_text
from cds_service.engine.units import fmt, quantity_value, to_mg, to_ml


@dataclass
class OrderDosage:
    dose: DoseReading
    time: TimeReading
    notes: list[str] = field(default_factory=list)  # read from text: quoted on the order's cards
    volume: tuple[float, str] | None = None  # (mL, where found) of the whole infusion


def _ratio_parts(ratio: object) -> tuple[dict | None, dict | None]:
    if not isinstance(ratio, dict):
        return None, None
    num, den = ratio.get("numerator"), ratio.get("denominator")
    return (num if isinstance(num, dict) else None), (den if isinstance(den, dict) else None)


def _strength(ingredient: dict) -> tuple[dict | None, dict | None]:
    """(numerator, denominator) of an ingredient's strength (R4 Ratio, R5 strengthRatio / strengthQuantity)."""
    for key in ("strength", "strengthRatio"):
        num, den = _ratio_parts(ingredient.get(key))
        if num is not None:
            return num, den
    if isinstance(ingredient.get("strengthQuantity"), dict):
        return ingredient["strengthQuantity"], None
    return None, None


def medication_concentration(medication: dict | None, is_iron) -> tuple[float, str] | None:
    """mg/mL of iron from the Medication's own ingredient strength ("50 mg / 1 mL", "750 mg / 250 mL").

    ``is_iron(ingredient) -> bool`` picks the iron ingredient when several have a mass-per-volume strength.
    """
    if not isinstance(medication, dict):
        return None
    found = []
    for ingredient in items(medication.get("ingredient")):
        if not isinstance(ingredient, dict):
            continue
        num, den = _strength(ingredient)
        mg = to_mg(num) if num else None
        den_value = quantity_value(den) if den else None
        ml = to_ml(den if den_value is not None else {**den, "value": 1}) if den else None
        if mg is not None and ml:
            found.append((mg / ml, ingredient))
    if len(found) > 1:
        found = [f for f in found if is_iron(f[1])]
    if len(found) != 1:
        return None
    return found[0][0], "the order's Medication strength"


def medication_volume(medication: dict | None, is_iron) -> tuple[float, str] | None:
    """mL of the whole infusion the Medication states: its amount (bag size), else its diluent ingredients."""
    if not isinstance(medication, dict):
        return None
    total = medication.get("totalVolume")  # R5
    num, den = _ratio_parts(medication.get("amount"))  # R4: amount is a Ratio, e.g. 250 mL / 1 bag
    for quantity, where in ((num, "the Medication's amount"), (total, "the Medication's total volume")):
        ml = to_ml(quantity) if isinstance(quantity, dict) else None
        if ml and (den is None or quantity is total or (quantity_value(den) or 1) == 1):
            return ml, where
    diluent = 0.0
    for ingredient in items(medication.get("ingredient")):
        if isinstance(ingredient, dict) and not is_iron(ingredient):
            num, _ = _strength(ingredient)
            ml = to_ml(num) if num else None
            diluent += ml or 0.0
    return (diluent, "the diluent in the order's Medication") if diluent > 0 else None


def read_order_dosage(
    dosage: dict,
    medication: dict | None,
    product_concentration: float | None,
    ceiling_mg: float | None,
    knowledge,
    is_iron,
    patient=None,
) -> OrderDosage:
    """Dose and time of one order's chosen Dosage, with the notes and problems the cards show.

    ``patient``: the PatientPicture, for a dose ordered per kg (None: the weight is not known yet).
    """
    doses, rates = dosage_entries(dosage)
    own = medication_concentration(medication, is_iron)
    if own is not None:
        concentration, label = own
    else:
        concentration, label = product_concentration, None
    dose = read_dose(doses, concentration, label)
    written = dosage.get("text") if isinstance(dosage.get("text"), str) and dosage["text"].strip() else None
    result = OrderDosage(dose=dose, time=TimeReading())
    if dose.dose_mg is None and dose.per_kg is None and written and (mg := text_dose(written)) is not None:
        dose.dose_mg, dose.dose_source, dose.problems = mg, "the order's text", []
        result.notes.append(
            card_text.common(knowledge, "order_reading", "from_text", what=f"dose {fmt(mg)} mg", quote=quote(written))
        )
    if dose.per_kg is not None:
        _per_kg(dose, patient, knowledge, result)
    check_plausible(dose, ceiling_mg)
    volume = medication_volume(medication, is_iron)
    if volume is None and written and (ml := text_volume(written)) is not None:
        volume = (ml, "the volume in the order's text")
    if volume is None and dose.volume_ml is not None:
        volume = (dose.volume_ml, "the ordered volume")
    timing = dosage.get("timing") if isinstance(dosage.get("timing"), dict) else {}
    repeat = timing.get("repeat") if isinstance(timing.get("repeat"), dict) else None
    time = read_time(repeat, rates, dose.dose_mg, volume)
    if time.minutes is None and written and (minutes := text_minutes(written)) is not None:
        time.minutes, time.minutes_source, time.problems = minutes, "the order's text", []
        if dose.dose_mg is not None:
            time.rate_mg_per_min = dose.dose_mg / minutes
        result.notes.append(
            card_text.common(
                knowledge,
                "order_reading",
                "from_text",
                what=f"administration time {fmt(minutes)} min",
                quote=quote(written),
            )
        )
    result.time, result.volume = time, volume
    _say_absent(result, written, knowledge)
    return result


def _per_kg(dose: DoseReading, patient, knowledge, result: OrderDosage) -> None:
    """mg/kg x the body weight on record (the patient reader's, already checked for age and unit), saying which."""
    weight = getattr(patient, "weight_kg", None)
    per_kg = fmt(dose.per_kg)
    if not weight:
        why = getattr(patient, "weight_note", None) if patient is not None else None
        dose.problems.append(
            card_text.common(
                knowledge,
                "order_reading",
                "per_kg_no_weight",
                per_kg=per_kg,
                why=(why or "no body weight was read").rstrip("."),
            )
        )
        return
    dose.dose_mg = dose.per_kg * weight
    dose.dose_source = f"{dose.per_kg_source} x {fmt(weight)} kg"
    reference = getattr(patient, "weight_reference", None)
    result.notes.append(
        card_text.common(
            knowledge,
            "order_reading",
            "per_kg",
            per_kg=per_kg,
            weight=fmt(weight),
            weight_date=(patient.weight_date or "an unknown date")[:10],
            reference=f", {markdown_text(reference)}" if reference else "",
            dose=f"{fmt(dose.dose_mg)} mg",
        )
    )


def _say_absent(result: OrderDosage, written: str | None, knowledge) -> None:
    """ "Not found in the order's structured fields", with the text quoted: never "not stated" when it is written."""
    suffix = "_text" if written else ""
    fields = {"quote": quote(written)} if written else {}
    if result.dose.absent and result.dose.dose_mg is None and result.dose.per_kg is None:
        result.dose.problems.append(card_text.common(knowledge, "order_reading", "dose_absent" + suffix, **fields))
    if result.time.absent and result.time.minutes is None:
        result.time.problems.append(card_text.common(knowledge, "order_reading", "time_absent" + suffix, **fields))
