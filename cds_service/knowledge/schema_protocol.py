"""Marshmallow schemas for the code sets, the institutional protocol and (loosely) the card wording."""

from __future__ import annotations

import string

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from cds_service.knowledge.schema import (
    DIGITS,
    STATUSES,
    Cited,
    FactorFact,
    IntegerFact,
    NumberFact,
    Strict,
    TextFact,
    fact_values,
    optional_text,
    text,
)

LOINC = validate.Regexp(r"^\d{1,7}-\d$", error="Not a LOINC code (digits-checkdigit).")
SNOMED = fields.Dict(keys=fields.String(validate=DIGITS), values=text(), required=True)
LOWER = validate.Regexp(r"^[^A-Z]+$", error="Keywords are matched in lower case: write them in lower case.")
SNAKE = validate.Regexp(r"^[a-z][a-z0-9_]*$", error="Use lower_snake_case keys.")
# iv is the only IV group; every other group marks a route as plainly not intravenous.
ROUTE_GROUPS = ("iv", "oral", "intramuscular", "subcutaneous")
LAB_NAMES = ("body_weight", "hemoglobin", "ferritin", "tsat", "phosphate", "pregnancy_status")
RISK_FACTORS = ("asthma", "severe_atopy", "mastocytosis", "systemic_inflammatory_disease", "pregnancy",
                "cardiac_disease",
                "respiratory_disease")
# The observation period may be lengthened, never shortened below what every label and the EMA require.
MIN_OBSERVATION_MINUTES = 30
MAX_NEGATION_WINDOW = 8


def required_keys(schema_cls, names):
    return fields.Dict(keys=fields.String(validate=validate.OneOf(names)), values=fields.Nested(schema_cls),
                       required=True,
                       validate=lambda d: set(names) <= set(d) or _missing(names, d))


def _missing(names, data):
    raise ValidationError(f"Missing: {', '.join(n for n in names if n not in data)}.")


def open_keys(schema_cls, names):
    """Like ``required_keys``, but further lower_snake_case groups may be added (e.g. more non-IV routes)."""
    return fields.Dict(keys=fields.String(validate=SNAKE), values=fields.Nested(schema_cls), required=True,
                       validate=lambda d: set(names) <= set(d) or _missing(names, d))


class Lab(Cited):
    loinc = fields.String(required=True, validate=LOINC)
    display = text(required=True)
    unit = fields.String(allow_none=True, load_default=None)


class Vitals(Strict):
    bp_panel = fields.String(required=True, validate=LOINC)
    systolic = fields.String(required=True, validate=LOINC)
    diastolic = fields.String(required=True, validate=LOINC)
    heart_rate = fields.String(required=True, validate=LOINC)


class CodeSet(Cited):
    snomed = SNOMED
    keywords = fields.List(fields.String(validate=[validate.Length(min=1), LOWER]), required=True,
                           validate=validate.Length(min=1))


class RiskFactor(CodeSet):
    label = text(required=True)
    icd10_prefixes = fields.List(
        fields.String(validate=validate.Regexp(r"^[A-Z]\d[0-9A-Z.]*$", error="Not an ICD-10 code prefix.")),
                                 load_default=list)


class NamedDrugs(Cited):
    """Drugs recognised by RxCUI or by name (e.g. first-generation H1 antihistamines never to suggest)."""

    rxnorm = fields.Dict(keys=fields.String(validate=DIGITS), values=text(), load_default=dict)
    names = fields.List(fields.String(validate=[validate.Length(min=1), LOWER]), required=True,
                        validate=validate.Length(min=1))


def phrases(**kwargs):
    return fields.List(fields.String(validate=[validate.Length(min=1), LOWER]), **kwargs)


class ClassNames(Cited):
    """Phrases naming IV iron as a class ("iv iron"): a match counts as IV iron, never removes a card."""

    names = phrases(required=True, validate=validate.Length(min=1))


class Negation(Cited):
    """Cue words that negate a free-text keyword (NegEx-style); coded data is never negated."""

    pre = phrases(required=True, validate=validate.Length(min=1))
    post = phrases(required=True)
    pseudo = phrases(required=True)
    terminators = phrases(required=True)
    # NegEx uses five terms; a wide window negates findings the cue was never about ("no fever, then anaphylaxis").
    window_words = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_NEGATION_WINDOW))

    @validates_schema
    def _pseudo_holds_a_cue(self, data, **kwargs):
        cues = [_words(c) for c in (data.get("pre") or []) + (data.get("post") or [])]
        for index, phrase in enumerate(data.get("pseudo") or ()):
            words = _words(phrase)
            if not any(_contains(words, cue) for cue in cues if cue):
                raise ValidationError({"pseudo": {index: [
                    "A pseudo-negation must contain a pre or post cue (it exists to stop that cue from negating)."]}})


def _words(phrase: str) -> list[str]:
    return [w for w in "".join(ch if ch.isalnum() else " " for ch in phrase.lower()).split() if w]


def _contains(words: list[str], part: list[str]) -> bool:
    return any(words[i:i + len(part)] == part for i in range(len(words) - len(part) + 1))


class SeriousCodes(Cited):
    system = fields.String(required=True,
                           validate=validate.Regexp(r"^(https?|urn):", error="Must be a code system URI."))
    codes = fields.List(text(), required=True, validate=validate.Length(min=1))


class PregnancyTiming(Cited):
    gestational_age = fields.List(fields.String(validate=LOINC), required=True, validate=validate.Length(min=1))
    lmp = fields.List(fields.String(validate=LOINC), required=True)
    edd = fields.List(fields.String(validate=LOINC), required=True)


class PregnancyText(Cited):
    """How a pregnancy record written in words is read (engine/pregnancy.py)."""

    not_pregnant_answers = phrases(required=True, validate=validate.Length(min=1))
    test_names = phrases(required=True)
    uncertain = phrases(required=True, validate=validate.Length(min=1))


class CodesFile(Strict):
    labs = required_keys(Lab, LAB_NAMES)
    pain_score_loinc = fields.List(fields.String(validate=LOINC), required=True, validate=validate.Length(min=1))
    vitals = fields.Nested(Vitals, required=True)
    vitals_source = fields.Nested(Cited, load_default=None, allow_none=True)
    routes = open_keys(CodeSet, ROUTE_GROUPS)
    administration_methods = required_keys(CodeSet, ("push", "infusion"))
    manifestations = required_keys(CodeSet, ("infusion_pain", "moderate", "severe"))
    risk_factors = required_keys(RiskFactor, RISK_FACTORS)
    first_generation_h1_antihistamines = fields.Nested(NamedDrugs, load_default=None, allow_none=True)
    iv_iron_class_names = fields.Nested(ClassNames, required=True)
    negation = fields.Nested(Negation, required=True)
    adverse_event_serious = fields.Nested(SeriousCodes, load_default=None, allow_none=True)
    non_immune_reactions = fields.Nested(CodeSet, load_default=None, allow_none=True)
    pregnancy_timing = fields.Nested(PregnancyTiming, load_default=None, allow_none=True)
    pregnancy_text = fields.Nested(PregnancyText, load_default=None, allow_none=True)
    drug_allergy_categories = fields.List(
        fields.String(validate=validate.OneOf(("food", "medication", "environment", "biologic"))),
                                          required=True, validate=validate.Length(min=1))


class PainScore(Cited):
    value = fields.Float(required=True, validate=validate.Range(min=0, max=10, min_inclusive=False))
    unit = optional_text()


class InfusionPain(Strict):
    pain_score_threshold = fields.Nested(PainScore, required=True)
    window_after_minutes = fields.Nested(NumberFact, required=True)


class Recency(Strict):
    weight = fields.Nested(NumberFact, required=True)
    labs = fields.Nested(NumberFact, required=True)
    pregnancy = fields.Nested(NumberFact, required=True)


class PlausibleWeight(Strict):
    """Body weights outside these bounds are taken as mis-recorded (a unit slip), never used for a per-kg limit."""

    low = fields.Nested(NumberFact, required=True)
    low_under_1_year = fields.Nested(NumberFact, required=True)
    high = fields.Nested(NumberFact, required=True)

    @validates_schema
    def _ordered(self, data, **kwargs):
        low, infant, high = fact_values(data, "low", "low_under_1_year", "high")
        if not 0 < infant <= low < high:
            raise ValidationError("Must satisfy 0 < low_under_1_year <= low < high.")


def bounded(low: float, high: float, why: str):
    """A NumberFact whose value must lie in [low, high] (a typo like 900 for 90 must not pass)."""

    class Bounded(NumberFact):
        @validates_schema
        def _in_range(self, data, **kwargs):
            value = data.get("value")
            if isinstance(value, (int, float)) and not low <= value <= high:
                raise ValidationError({"value": [f"Must be between {low:g} and {high:g} ({why})."]})

    return fields.Nested(Bounded, required=True)


class Hypotension(Strict):
    """Hypotension after an earlier IV-iron dose (a severe reaction): SBP <= systolic_max or a fall >= fall_mmhg."""

    systolic_max_mmhg = bounded(60, 120, "a plausible systolic threshold in mmHg")
    fall_mmhg = bounded(10, 80, "a plausible systolic fall in mmHg")
    baseline_window_hours = bounded(1, 72, "how long before the infusion a systolic value still counts as its baseline")


class ServiceCode(Strict):
    system = fields.String(required=True,
                           validate=validate.Regexp(r"^(https?|urn):", error="Must be a code system URI."))
    code = text(required=True)
    display = text(required=True)
    source = text(load_default=None)
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    note = optional_text()


class FlagFact(Cited):
    value = fields.Boolean(required=True)
    unit = optional_text()


class Observation(Strict):
    default_minutes = fields.Nested(NumberFact, required=True)
    # on: the infusion unit observes every patient for default_minutes by standing order, so the card appears
    # only when this patient needs longer
    standing_protocol = fields.Nested(FlagFact, load_default=None, allow_none=True)
    first_dextran_dose_minutes = fields.Nested(NumberFact, required=True)
    after_reaction_minutes = fields.Nested(NumberFact, required=True)
    vital_signs = fields.List(text(), required=True, validate=validate.Length(min=1))
    service_code = fields.Nested(ServiceCode, required=True)

    @validates_schema
    def _not_shorter(self, data, **kwargs):
        default = (data.get("default_minutes") or {}).get("value")
        if default is not None and default < MIN_OBSERVATION_MINUTES:
            raise ValidationError({"default_minutes": {"value": [
                f"Must be at least {MIN_OBSERVATION_MINUTES} "
                "(every label and the EMA ask for 30 minutes after each dose)."]}})
        for key in ("first_dextran_dose_minutes", "after_reaction_minutes"):
            value = (data.get(key) or {}).get("value")
            if default is not None and value is not None and value < default:
                raise ValidationError({key: {"value": [f"Must not be shorter than default_minutes ({default:g})."]}})
        signs = " ".join(data.get("vital_signs") or ()).lower()
        if "blood pressure" not in signs or "pulse" not in signs:
            raise ValidationError("Must include blood pressure and pulse.", "vital_signs")


class LabThresholds(Strict):
    ferritin_high_ng_ml = fields.Nested(NumberFact, required=True)
    tsat_high_percent = fields.Nested(NumberFact, required=True)
    phosphate_low_mg_dl = fields.Nested(NumberFact, required=True)
    hemoglobin_high_g_dl = fields.Nested(NumberFact, required=True)


class Regimens(Strict):
    infusion_pain = fields.List(text(), required=True)
    moderate_reaction = fields.List(text(), required=True)
    multiple_risk_factors = fields.List(text(), required=True)


class Protocol(Strict):
    infusion_pain = fields.Nested(InfusionPain, required=True)
    rate_after_reaction_factor = fields.Nested(FactorFact, required=True)
    rate_with_risk_factors_factor = fields.Nested(FactorFact, required=True)
    slowed_time_max_minutes = bounded(60, 720, "the longest slowed administration time in minutes")
    weekly_window_days = fields.Nested(IntegerFact, required=True)
    multiple_drug_allergies_min = fields.Nested(IntegerFact, required=True)
    older_age_years = fields.Nested(NumberFact, required=True)
    corticosteroid_min_risk_factors = fields.Nested(IntegerFact, required=True)
    implausible_dose_mg = fields.Nested(NumberFact, load_default=None, allow_none=True)
    plausible_weight_kg = fields.Nested(PlausibleWeight, load_default=None, allow_none=True)
    data_recency_days = fields.Nested(Recency, required=True)
    hypotension = fields.Nested(Hypotension, required=True)
    observation = fields.Nested(Observation, required=True)
    lab_thresholds = fields.Nested(LabThresholds, required=True)
    fcm_redose_phosphate_days = fields.Nested(IntegerFact, required=True)
    premedication_regimens = fields.Nested(Regimens, required=True)
    premedication_source = fields.Nested(TextFact, load_default=None, allow_none=True)


class Premedication(Cited):
    display = text(required=True)
    rxnorm = fields.String(required=True, validate=DIGITS)
    rxnorm_display = text(required=True)
    dose_value = fields.Float(required=True, validate=validate.Range(min=0, min_inclusive=False))
    dose_unit = text(required=True)
    route_code = fields.String(required=True, validate=DIGITS)
    route_display = text(required=True)
    timing_text = text(required=True)


class ProtocolFile(Strict):
    protocol = fields.Nested(Protocol, required=True)
    premedications = fields.Dict(keys=text(), values=fields.Nested(Premedication), required=True)


class OverrideReason(Schema):
    code = text(required=True)
    display = text(required=True)


def wording_errors(wording) -> dict:
    """Loose check of cards/wording.yaml (owned by the rules engineer): shapes and template syntax only."""
    if not isinstance(wording, dict):
        return {"_schema": ["Must be a mapping."]}
    errors: dict = {}
    _walk_wording(wording, errors)
    return errors


def _walk_wording(node, errors: dict) -> None:
    for key, value in node.items():
        if key == "override_reasons" or str(key).startswith("override_reasons_"):
            if not isinstance(value, list):
                errors[key] = ["Must be a list of {code, display}."]
                continue
            for index, reason in enumerate(value):
                problems = (OverrideReason().validate(reason) if isinstance(reason, dict)
                            else {"_schema": ["Must be a mapping."]})
                if problems:
                    errors.setdefault(key, {})[index] = problems
        elif isinstance(value, dict):
            inner: dict = {}
            _walk_wording(value, inner)
            if inner:
                errors[key] = inner
        elif isinstance(value, list):
            bad = {i: ["Must be text."] for i, item in enumerate(value) if not isinstance(item, str)}
            if bad:
                errors[key] = bad
        elif isinstance(value, str):
            problem = _template_problem(value)
            if problem:
                errors[key] = [problem]
        elif not isinstance(value, bool):
            errors[key] = ["Must be text (a template)."]


def _template_problem(template: str) -> str | None:
    try:
        list(string.Formatter().parse(template))
    except ValueError as exc:
        return f"Not a valid template ({exc}); write a literal brace as {{{{ or }}}}."
    return None
