"""Marshmallow schemas for the reviewed facts, the products and the sources.

Unknown keys are refused everywhere: a misspelt key in a pharmacist's edit
("min_minute") must fail loudly rather than be silently ignored.
``check.py`` runs these schemas and the cross-file checks and turns the
messages into one line per problem.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

STATUSES = ("confirmed", "unconfirmed-conservative", "institutional")
TTYS = ("IN", "PIN", "MIN", "BN", "SCDC", "SCD", "SBD", "SBDC", "SCDF", "SBDF", "SCDG", "SBDG", "GPCK", "BPCK")
POSITIVE = validate.Range(min=0, min_inclusive=False)
NON_NEGATIVE = validate.Range(min=0)
NDC = validate.Regexp(r"^\d{4,5}-\d{3,4}(-\d{1,2})?$", error="Not an NDC (labeler-product[-package]).")
DIGITS = validate.Regexp(r"^\d+$", error="Must be a string of digits.")
TIME_METHODS = ("infusion", "push", "any")
DOSE_METHODS = ("infusion", "push")


class Strict(Schema):
    class Meta:
        unknown = RAISE


def text(**kwargs):
    return fields.String(validate=validate.Length(min=1), **kwargs)


def optional_text():
    return fields.String(allow_none=True, load_default=None)


class Cited(Strict):
    """Anything that carries its own citation and verification status."""

    source = text(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    note = optional_text()
    section = optional_text()    # where in the source: "2.2", "Boxed warning", "SmPC 4.2"


class NumberFact(Cited):
    value = fields.Float(required=True, validate=POSITIVE)
    unit = optional_text()


class IntegerFact(Cited):
    value = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    unit = optional_text()


class FactorFact(Cited):
    """A fraction of a rate: 0 < value <= 1."""

    value = fields.Float(required=True, validate=validate.Range(min=0, max=1, min_inclusive=False))
    unit = optional_text()


class TextFact(Cited):
    value = text(required=True)
    unit = optional_text()


class RoutesFact(Cited):
    """The routes a product's labels allow, as route groups of codes.yaml (``iv``, ``intramuscular``...)."""

    value = fields.List(text(), required=True, validate=validate.Length(min=1))
    unit = optional_text()


class NamesFact(Cited):
    """Names of a product (among its display, brands and names), e.g. those that exist only as an injection."""

    value = fields.List(text(), required=True, validate=validate.Length(min=1))
    unit = optional_text()


class DoseBand(Cited):
    min_weight_kg = fields.Float(allow_none=True, load_default=None, validate=NON_NEGATIVE)
    max_weight_kg = fields.Float(allow_none=True, load_default=None, validate=POSITIVE)
    max_mg = fields.Float(allow_none=True, load_default=None, validate=POSITIVE)
    max_mg_per_kg = fields.Float(allow_none=True, load_default=None, validate=POSITIVE)
    split_interval_days = fields.Integer(allow_none=True, load_default=None, strict=True,
                                         validate=validate.Range(min=1))
    method = fields.String(allow_none=True, load_default=None, validate=validate.OneOf(DOSE_METHODS))

    @validates_schema
    def _sane(self, data, **kwargs):
        low, high = data.get("min_weight_kg"), data.get("max_weight_kg")
        if low is not None and high is not None and low >= high:
            raise ValidationError("Must be greater than min_weight_kg.", "max_weight_kg")
        if data.get("max_mg") is None and data.get("max_mg_per_kg") is None:
            raise ValidationError("A dose band needs max_mg or max_mg_per_kg.", "max_mg")


class TimeBand(Cited):
    up_to_mg = fields.Float(required=True, allow_none=True, validate=POSITIVE)
    min_minutes = fields.Float(required=True, validate=POSITIVE)
    method = fields.String(required=True, validate=validate.OneOf(TIME_METHODS))
    section = optional_text()        # where in the label, e.g. "2.4 (PDD-CKD)"
    labelled = fields.Boolean(load_default=True)   # false: the label does not allow this method (the band says why)
    setting = optional_text()        # who the band is written for, e.g. "peritoneal dialysis"


class TestDose(Cited):
    required = fields.Boolean(required=True)
    dose_mg = fields.Float(allow_none=True, load_default=None, validate=POSITIVE)
    wait_minutes = fields.Float(allow_none=True, load_default=None, validate=POSITIVE)
    min_administration_seconds = fields.Float(allow_none=True, load_default=None, validate=POSITIVE)
    # the route groups (codes.yaml) the label describes a test dose for; absent: intravenous only
    routes = fields.List(text(), allow_none=True, load_default=None, validate=validate.Length(min=1))

    @validates_schema
    def _complete(self, data, **kwargs):
        if data.get("required"):
            for key in ("dose_mg", "wait_minutes"):
                if data.get(key) is None:
                    raise ValidationError("Required when the test dose is required.", key)


class Contraindication(Cited):
    code = fields.String(required=True,
                         validate=validate.Regexp(r"^[a-z0-9]+(-[a-z0-9]+)*$",
                                                  error="Use lower-case words joined by '-'."))
    text = text(required=True)


class Risk(Contraindication):
    redose_within_days = fields.Integer(allow_none=True, load_default=None, strict=True, validate=validate.Range(min=1))
    duration_days = fields.Integer(allow_none=True, load_default=None, strict=True, validate=validate.Range(min=1))


def fact_values(data: dict, *keys: str) -> list[float]:
    """The ``value`` of each named NumberFact of a loaded mapping (0 when absent), for checks across fields."""
    return [float((data.get(key) or {}).get("value") or 0) for key in keys]


def _band_order_errors(bands: list[dict], key: str = "method") -> dict:
    """Per method, up_to_mg must rise (null only last) and minimum times must not fall."""
    errors: dict = {}
    last: dict[str, tuple[float | None, float]] = {}
    for index, band in enumerate(bands):
        method = band.get(key)
        if method not in last:
            last[method] = (band.get("up_to_mg"), band.get("min_minutes"))
            continue
        prev_up, prev_min = last[method]
        up, minutes = band.get("up_to_mg"), band.get("min_minutes")
        if prev_up is None:
            errors[index] = {"up_to_mg": [f"Follows a {method} band that already covers any dose (up_to_mg: null); "
                                          "put open-ended bands last."]}
        elif up is not None and up <= prev_up:
            errors[index] = {"up_to_mg": [f"Must be greater than the previous {method} band's up_to_mg ({prev_up:g})."]}
        elif minutes is not None and prev_min is not None and minutes < prev_min:
            errors[index] = {"min_minutes": [f"A larger dose cannot need less time than the previous {method} band "
                                             f"({prev_min:g} min)."]}
        last[method] = (up, minutes)
    return errors


class ProductCodeList(Strict):
    rxnorm = fields.List(fields.String(validate=DIGITS), load_default=list)
    ndc = fields.List(fields.String(validate=NDC), load_default=list)


class ProductWarning(Strict):
    """A boxed warning only some labels of the product carry, by the ordered product code."""

    codes = fields.Nested(ProductCodeList, required=True)
    products = text(required=True)               # "generic ferric carboxymaltose injection"
    warning = fields.Nested(TextFact, required=True)


class Label(Strict):
    label = text(required=True)
    source = text(required=True)
    available = fields.Boolean(load_default=True)
    max_single_dose = fields.Nested(NumberFact, allow_none=True, load_default=None)
    dose_bands = fields.List(fields.Nested(DoseBand), load_default=list)
    max_weekly_mg = fields.Nested(NumberFact, allow_none=True, load_default=None)
    max_daily_mg = fields.Nested(NumberFact, allow_none=True, load_default=None)
    time_bands = fields.List(fields.Nested(TimeBand), required=True, validate=validate.Length(min=1))
    max_rate_mg_per_min = fields.Nested(NumberFact, allow_none=True, load_default=None)
    dose_step_ml = fields.Nested(NumberFact, allow_none=True, load_default=None)   # absent: whole mL
    test_dose = fields.Nested(TestDose, allow_none=True, load_default=None)
    boxed_warning = fields.Nested(TextFact, allow_none=True, load_default=None)
    boxed_warning_by_product = fields.List(fields.Nested(ProductWarning), load_default=list)
    observation_minutes = fields.Nested(NumberFact, required=True)
    contraindications = fields.List(fields.Nested(Contraindication), load_default=list)
    risks = fields.List(fields.Nested(Risk), load_default=list)

    @validates_schema
    def _bands_in_order(self, data, **kwargs):
        errors = _band_order_errors(data.get("time_bands") or [])
        if errors:
            raise ValidationError({"time_bands": errors})


class ProductCodes(Strict):
    rxnorm = fields.Dict(keys=fields.String(validate=DIGITS), values=fields.String(validate=validate.OneOf(TTYS)),
                         required=True, validate=validate.Length(min=1))
    rxnorm_inferred_tty = fields.List(fields.String(validate=DIGITS), load_default=list)
    ndc = fields.List(fields.String(validate=validate.Regexp(r"^\d{4,5}-\d{3,4}(-\d{1,2})?$",
                                                             error="Not an NDC (labeler-product[-package]).")),
                      load_default=list)
    atc = fields.List(fields.String(validate=validate.Regexp(
                          r"^B03AC(\d\d)?$", error="Not a parenteral-iron ATC code (B03AC or B03ACnn).")),
                      required=True, validate=validate.Length(min=1))
    unii = fields.List(fields.String(validate=validate.Regexp(r"^[A-Z0-9]{10}$",
                                                              error="A UNII is 10 upper-case letters or digits.")),
                       load_default=list)
    source = text(required=True)
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    note = optional_text()

    @validates_schema
    def _consistent(self, data, **kwargs):
        rxnorm = data.get("rxnorm") or {}
        if "IN" not in rxnorm.values():
            raise ValidationError("Needs the ingredient (TTY IN) code.", "rxnorm")
        stray = [code for code in data.get("rxnorm_inferred_tty") or () if code not in rxnorm]
        if stray:
            raise ValidationError(f"Not listed under rxnorm: {', '.join(stray)}.", "rxnorm_inferred_tty")


class Product(Strict):
    display = text(required=True)
    brands = fields.List(text(), load_default=list)
    names = fields.List(text(), required=True, validate=validate.Length(min=1))
    is_dextran = fields.Boolean(load_default=False)
    concentration_mg_per_ml = fields.Nested(NumberFact, required=True)
    routes = fields.Nested(RoutesFact, allow_none=True, load_default=None)   # absent: intravenous only
    # names that exist only as an injection of this product (a text naming one is the injectable); absent: none
    injection_only_names = fields.Nested(NamesFact, allow_none=True, load_default=None)
    codes = fields.Nested(ProductCodes, required=True)
    labels = fields.Dict(keys=fields.String(validate=validate.OneOf(("US", "EU"))), values=fields.Nested(Label),
                         required=True)


class ProductsFile(Strict):
    iv_iron_atc_prefixes = fields.List(text(), required=True, validate=validate.Length(min=1))
    oral_iron_names = fields.List(text(), load_default=list)
    products = fields.Dict(
        keys=fields.String(validate=validate.Regexp(r"^[a-z][a-z0-9_]*$", error="Use lower_snake_case keys.")),
                           values=fields.Nested(Product), required=True, validate=validate.Length(min=1))


class Source(Strict):
    title = text(required=True)
    url = fields.String(allow_none=True, load_default=None,
                        validate=validate.Regexp(r"^https?://", error="Must be an http(s) address or null."))
    accessed = fields.String(allow_none=True, load_default=None,
                             validate=validate.Regexp(r"^\d{4}-\d{2}-\d{2}$", error="Use an ISO date, YYYY-MM-DD."))
    note = optional_text()


class SourcesFile(Strict):
    sources = fields.Dict(keys=text(), values=fields.Nested(Source), required=True, validate=validate.Length(min=1))
