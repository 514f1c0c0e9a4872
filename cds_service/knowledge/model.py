"""Typed view of the reviewed knowledge files under ``cards/``.

The YAML files are what a pharmacist reads and edits; ``loader.py`` validates
them (``schema.py``) and builds these objects once per process. The engine only
ever sees these objects, never raw YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Mapping


@dataclass(frozen=True)
class Source:
    """A citable source: a label, guideline or terminology release."""

    id: str                          # e.g. "S-INJ-US"
    title: str
    url: str | None
    accessed: str | None             # ISO date the copy was read
    note: str | None = None


@dataclass(frozen=True)
class Fact:
    """One reviewed value with where it comes from and how sure we are.

    ``status`` is "confirmed", "unconfirmed-conservative" (not verified, so the
    stricter value is kept, and the note says so) or "institutional" (a local
    protocol choice).
    """

    value: Any
    source: str                      # Source.id
    status: str
    unit: str | None = None
    note: str | None = None
    section: str | None = None       # where in the source ("2.2", "Boxed warning", "4.2"), shown on cards


@dataclass(frozen=True)
class DoseBand:
    """Single-dose ceiling that applies within a weight range.

    The allowed single dose is the smallest of the ceilings of every band that
    covers the patient's weight (bands with no weight bounds always apply).
    """

    min_weight_kg: float | None      # inclusive
    max_weight_kg: float | None      # exclusive
    max_mg: float | None
    max_mg_per_kg: float | None
    split_interval_days: int | None  # the label's minimum gap before a further dose, when it gives one
    source: str
    status: str
    note: str | None = None
    method: str | None = None        # "infusion" or "push": the band applies only to that method; None = any.
                                     # Ignoring it is safe (the smallest ceiling then applies to every method).
    section: str | None = None


@dataclass(frozen=True)
class TimeBand:
    """Minimum administration time for doses up to ``up_to_mg`` (None = any dose)."""

    up_to_mg: float | None
    min_minutes: float
    method: str                      # "infusion", "push" or "any"
    source: str
    status: str
    note: str | None = None
    section: str | None = None       # label section, e.g. "2.4 (PDD-CKD)"
    labelled: bool = True            # False: the label does not allow giving it this way (e.g. no push)
    setting: str | None = None       # who the band is written for ("haemodialysis", "peritoneal dialysis")


@dataclass(frozen=True)
class LabelLimits:
    """One product's label in one jurisdiction (US = FDA label, EU = SmPC)."""

    label: str                       # "Injectafer (ferric carboxymaltose) US prescribing information"
    source: str                      # Source.id of the label
    available: bool                  # False where the product is not marketed (e.g. ferumoxytol in the EU)
    max_single_dose: Fact | None     # absolute ceiling in mg, whatever the weight
    dose_bands: tuple[DoseBand, ...]
    max_weekly_mg: Fact | None
    max_daily_mg: Fact | None
    time_bands: tuple[TimeBand, ...]
    max_rate_mg_per_min: Fact | None
    test_dose: Mapping[str,
                       Any] | None   # {"required": True, "dose_mg": 25, "wait_minutes": 60, "source":..., "status":...}
    boxed_warning: Fact | None       # text
    observation_minutes: Fact
    contraindications: tuple[Mapping[str, Any], ...]   # {"code", "text", "source", "status"}
    risks: tuple[Mapping[str, Any], ...]               # {"code", "text", "source", "status", optional params}
    # Boxed warnings only some labels of the product carry, chosen by the ordered code (never assumed):
    # ({"rxnorm": (...), "ndc": (...)}, "generic ferric carboxymaltose injection", Fact)
    boxed_warning_by_product: tuple[tuple[Mapping[str, tuple[str, ...]], str, Fact], ...] = ()
    # The volume the label measures doses in (INFeD: 0.5 mL); a lowered dose is rounded down to it. None: whole mL.
    dose_step_ml: Fact | None = None


@dataclass(frozen=True)
class Product:
    key: str                         # "ferric_carboxymaltose"
    display: str                     # "ferric carboxymaltose"
    brands: tuple[str, ...]          # ("Injectafer", "Ferinject")
    names: tuple[str, ...]           # every name matched in free text (generic, synonyms, brands)
    rxnorm: Mapping[str, str]        # RxCUI -> TTY (IN, SCD, SBD, BN, ...)
    ndc: tuple[str, ...]
    atc: tuple[str, ...]
    unii: tuple[str, ...]
    concentration_mg_per_ml: Fact
    is_dextran: bool
    labels: Mapping[str, LabelLimits]  # jurisdiction -> label
    routes: Fact | None = None       # route groups its labels allow (("iv", "intramuscular")); None: IV only
    injection_only_names: Fact | None = None   # names that exist only as an injection ("Venofer"); None: none


@dataclass(frozen=True)
class MedicationSpec:
    """A premedication (or test-dose) order the protocol suggests."""

    key: str
    display: str                     # "acetaminophen 650 mg by mouth"
    rxnorm: str                      # RxCUI of the drug
    rxnorm_display: str
    dose_value: float
    dose_unit: str                   # UCUM, e.g. "mg"
    route_code: str                  # SNOMED route (26643006 oral, 47625008 intravenous)
    route_display: str
    timing_text: str                 # "30 minutes before the iron infusion"
    source: str
    status: str
    note: str | None = None
    section: str | None = None


@dataclass(frozen=True)
class CodingFact:
    """A code the service writes into the orders it suggests, with its citation (source and status optional)."""

    system: str
    code: str
    display: str
    source: str | None = None
    status: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class InfusionPainProtocol:
    """What counts as infusion pain during or after an earlier IV-iron dose."""

    pain_score_threshold: Fact
    window_after_minutes: Fact


@dataclass(frozen=True)
class DataRecency:
    """How old (days) a value may be and still be used."""

    weight: Fact
    labs: Fact
    pregnancy: Fact


@dataclass(frozen=True)
class PlausibleWeight:
    """Body weights (kg) outside [low, high] (``low_under_1_year`` under 1 year of age) are taken as mis-recorded."""

    low: Fact
    low_under_1_year: Fact
    high: Fact


@dataclass(frozen=True)
class HypotensionProtocol:
    """Hypotension after an earlier IV-iron dose (a severe reaction)."""

    systolic_max_mmhg: Fact
    fall_mmhg: Fact
    baseline_window_hours: Fact


@dataclass(frozen=True)
class ObservationProtocol:
    default_minutes: Fact
    first_dextran_dose_minutes: Fact
    after_reaction_minutes: Fact
    standing_protocol: Fact | None   # None: an override written before the switch existed (off)
    vital_signs: tuple[str, ...]
    service_code: CodingFact


@dataclass(frozen=True)
class LabThresholds:
    ferritin_high_ng_ml: Fact
    tsat_high_percent: Fact
    phosphate_low_mg_dl: Fact
    hemoglobin_high_g_dl: Fact


@dataclass(frozen=True)
class PremedicationRegimens:
    """Premedication keys (``Knowledge.premedications``) the protocol asks for in each situation."""

    infusion_pain: tuple[str, ...]
    moderate_reaction: tuple[str, ...]
    multiple_risk_factors: tuple[str, ...]


@dataclass(frozen=True)
class Protocol:
    """The institutional protocol (cards/protocol.yaml after the override): one field per key, in file order.

    Optional entries (``None`` when absent) are the ones the schema lets an override leave out.
    """

    infusion_pain: InfusionPainProtocol
    rate_after_reaction_factor: Fact
    rate_with_risk_factors_factor: Fact
    slowed_time_max_minutes: Fact
    weekly_window_days: Fact
    multiple_drug_allergies_min: Fact
    older_age_years: Fact
    corticosteroid_min_risk_factors: Fact
    implausible_dose_mg: Fact | None
    plausible_weight_kg: PlausibleWeight | None
    data_recency_days: DataRecency
    hypotension: HypotensionProtocol
    observation: ObservationProtocol
    lab_thresholds: LabThresholds
    fcm_redose_phosphate_days: Fact
    premedication_regimens: PremedicationRegimens
    premedication_source: Fact | None

    def at(self, path: str) -> Any:
        """The entry at a dotted key path as written in protocol.yaml ("observation.default_minutes").

        For the places that name protocol entries by key (``Topic.protocol_keys``); rules read attributes.
        """
        node: Any = self
        for key in path.split("."):
            grouping = is_dataclass(node) and not isinstance(node, (Fact, CodingFact))   # a fact is one entry
            if not grouping or key not in {f.name for f in fields(node)}:
                raise LookupError(f"protocol has no entry {path!r}")
            node = getattr(node, key)
        return node

    def to_dict(self) -> dict[str, Any]:
        """The protocol as protocol.yaml writes it: same keys in the same order, unset entries left out."""
        return _as_written(self)


FACT_KEYS = ("value", "unit", "source", "status", "section", "note")   # the order the cards files write a fact in


def _as_written(node: Any) -> Any:
    if is_dataclass(node):
        keys = FACT_KEYS if isinstance(node, Fact) else tuple(item.name for item in fields(node))
        return {key: _as_written(getattr(node, key)) for key in keys if getattr(node, key) is not None}
    if isinstance(node, tuple):
        return list(node)
    return node


@dataclass(frozen=True)
class Knowledge:
    """Everything the engine and the card builder know, validated."""

    version: str
    sources: Mapping[str, Source]
    products: Mapping[str, Product]
    iv_iron_atc_prefixes: tuple[str, ...]       # ("B03AC",)
    oral_iron_names: tuple[str, ...]            # names that mark oral iron (never a card)
    codes: Mapping[str, Any]                    # code sets: labs, manifestations, risk factors (see cards/codes.yaml)
    protocol: Protocol                          # institutional protocol (cards/protocol.yaml, overridable)
    premedications: Mapping[str, MedicationSpec]
    wording: Mapping[str, Any]                  # card wording per topic (cards/wording.yaml)
    overridden_by: str | None = None            # path of the institution's override file, when one was applied
    handouts: Mapping[str, Any] = field(default_factory=dict)  # patient handout wording (cards/handouts.yaml)
    suitability: Mapping[str, Any] = field(default_factory=dict)  # ages, paediatric doses, pregnancy (suitability.yaml)
    courses: Mapping[str, Any] = field(default_factory=dict)  # dose intervals and course totals (courses.yaml)
    warnings: tuple[str, ...] = field(default_factory=tuple)  # non-fatal notes from validation
    # file name ("products.yaml", or "override") -> its sign-off {reviewed_by, reviewed_on, version}, None if unsigned
    signoffs: Mapping[str, Mapping[str, Any] | None] = field(default_factory=dict)
