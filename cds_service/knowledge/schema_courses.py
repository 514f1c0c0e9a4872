"""Schema of cards/courses.yaml: intervals between doses and course totals per product label."""

from __future__ import annotations

from marshmallow import ValidationError, fields, validate, validates_schema

from cds_service.knowledge.schema import POSITIVE, Cited, IntegerFact, Strict, TextFact, text


class CourseLabel(Cited):
    doses = fields.Integer(required=True, allow_none=True, strict=True, validate=validate.Range(min=1))
    min_interval_days = fields.Integer(required=True, allow_none=True, strict=True, validate=validate.Range(min=1))
    max_interval_days = fields.Integer(required=True, allow_none=True, strict=True, validate=validate.Range(min=1))
    course_max_mg = fields.Float(required=True, allow_none=True, validate=POSITIVE)
    course_max_mg_per_kg = fields.Float(required=True, allow_none=True, validate=POSITIVE)
    section = text(required=True)

    @validates_schema
    def _ordered(self, data, **kwargs):
        low, high = data.get("min_interval_days"), data.get("max_interval_days")
        if low is not None and high is not None and high < low:
            raise ValidationError("Must not be shorter than min_interval_days.", "max_interval_days")


class Courses(Strict):
    window_days = fields.Nested(IntegerFact, required=True)
    one_order_at_a_time = fields.Nested(TextFact, required=True)
    products = fields.Dict(keys=text(), values=fields.Dict(keys=fields.String(validate=validate.OneOf(("US", "EU"))),
                                                            values=fields.Nested(CourseLabel)), required=True)


class CoursesFile(Strict):
    courses = fields.Nested(Courses, required=True)
