"""Schema of cards/suitability.yaml: the ages and paediatric doses each label establishes, and pregnancy."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from cds_service.knowledge.schema import POSITIVE, Cited, NumberFact, Strict, TextFact, fact_values, text

MAX_CHILD_MONTHS = 18 * 12


class PaediatricDose(Strict):
    max_mg_per_kg = fields.Float(allow_none=True, load_default=None, validate=POSITIVE)
    max_mg = fields.Float(allow_none=True, load_default=None, validate=POSITIVE)

    @validates_schema
    def _something(self, data, **kwargs):
        if data.get("max_mg_per_kg") is None and data.get("max_mg") is None:
            raise ValidationError("A paediatric dose needs max_mg_per_kg or max_mg (or write null).")


class LabelSuitability(Cited):
    min_age_months = fields.Integer(required=True, allow_none=True, strict=True,
                                    validate=validate.Range(min=0, max=MAX_CHILD_MONTHS))
    paediatric_dose = fields.Nested(PaediatricDose, required=True, allow_none=True)
    section = text(required=True)

    @validates_schema
    def _dose_needs_an_age(self, data, **kwargs):
        if data.get("paediatric_dose") is not None and data.get("min_age_months") is None:
            raise ValidationError("A paediatric dose for an age the label does not establish.", "paediatric_dose")


class Pregnancy(Strict):
    first_trimester_end_weeks = fields.Nested(NumberFact, required=True)
    max_weeks = fields.Nested(NumberFact, required=True)
    first_trimester = fields.Nested(TextFact, required=True)
    later_trimesters = fields.Dict(keys=fields.String(validate=validate.OneOf(("US", "EU"))),
                                   values=fields.Nested(TextFact), required=True)


class PaediatricMeasure(Strict):
    """A child's lowered dose is rounded down to step_ml of the product (small_step_ml under small_volume_ml)."""

    step_ml = fields.Nested(NumberFact, required=True)
    small_volume_ml = fields.Nested(NumberFact, required=True)
    small_step_ml = fields.Nested(NumberFact, required=True)

    @validates_schema
    def _ordered(self, data, **kwargs):
        step, volume, small = fact_values(data, "step_ml", "small_volume_ml", "small_step_ml")
        if not 0 < small <= step <= volume:
            raise ValidationError("Must satisfy 0 < small_step_ml <= step_ml <= small_volume_ml.")


class Suitability(Strict):
    adult_age_years = fields.Nested(NumberFact, required=True)
    paediatric_measure = fields.Nested(PaediatricMeasure, load_default=None, allow_none=True)
    products = fields.Dict(keys=text(), values=fields.Dict(keys=fields.String(validate=validate.OneOf(("US", "EU"))),
                                                            values=fields.Nested(LabelSuitability)), required=True)
    pregnancy = fields.Nested(Pregnancy, required=True)


class SuitabilityFile(Strict):
    suitability = fields.Nested(Suitability, required=True)
