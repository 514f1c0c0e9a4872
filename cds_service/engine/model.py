"""The clinical picture as small, immutable data classes.

The engine reads the draft orders and the patient record (plain FHIR dicts)
into these objects, runs one rule per concern over them, and returns
``Finding`` objects. Nothing here does I/O or knows about HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

# CDS Hooks card indicators, quietest first: the one home of their ranking.
INDICATORS = ("info", "warning", "critical")


def urgency(indicator: object) -> int:
    """Sort key, most urgent first: critical 0, warning 1, info 2; anything else after them."""
    return len(INDICATORS) - 1 - INDICATORS.index(indicator) if indicator in INDICATORS else len(INDICATORS)


@dataclass(frozen=True)
class Evidence:
    """One data point that made a rule fire, as a prescriber would read it.

    ``text`` is human-readable (e.g. "Pain score 6/10 during ferric carboxymaltose
    infusion"); ``date`` is the ISO date/time of the data point when known;
    ``reference`` is the FHIR relative reference of the record ("Observation/123").
    """

    text: str
    date: str | None = None
    reference: str | None = None


@dataclass(frozen=True)
class IronOrder:
    """One draft IV-iron MedicationRequest as we understood it."""

    request_id: str                  # MedicationRequest.id (the suggestion updates this id)
    resource: dict                   # the draft as the EHR sent it (never mutated)
    product_key: str | None          # key in the knowledge products ("ferric_carboxymaltose"); None when the
                                     # order is IV iron only as a class (ATC B03AC, "IV iron"): see problems
    matched_by: str                  # "code", "name", "class" (IV iron, product unknown)
                                     # or "unresolved" (Medication unreadable)
    route: str                       # "iv", "non-iv", "unknown", or the route group of codes.yaml (other than
                                     # iv) that the product's label allows ("intramuscular": INFeD IM)
    dose_mg: float | None            # one administration, in mg of elemental iron
    dose_source: str | None          # how the dose was read ("doseQuantity 750 mg", "15 mL x 50 mg/mL")
    minutes: float | None            # administration time of one dose
    minutes_source: str | None       # how the time was read ("timing.repeat.duration 15 min", "rate 100 mL/h")
    volume_ml: float | None = None   # infusion volume when known
    problems: tuple[str, ...] = ()   # what could not be read (shown in the cards, never guessed)
    # Added by the order reader (all optional):
    rate_mg_per_min: float | None = None   # mg of iron per minute: dose / minutes, or the ordered mass rate
    medication_text: str | None = None     # the medication as the order names it ("Venofer 200 mg ...")
    route_text: str | None = None          # the route as the order states it ("Intravenous route")
    matched_on: str | None = None          # what identified the product ("RxNorm 1435169 (SCD)", "name 'Venofer'")
    dose_per_kg: float | None = None       # mg/kg when the dose is ordered per kg (dose_mg then comes from the weight)
    notes: tuple[str, ...] = ()            # how the order was read where a prescriber should know (text, per kg, route)
    editable: bool = True                  # False: not an R4 MedicationRequest with a doseAndRate list, so no update
                                           # suggestion (it would be written in a shape the draft does not use)
    route_conflict: bool = False           # an injectable product ordered by a route its label does not allow
                                           # (by mouth, iron sucrose IM): checked as IV

    @property
    def labelled_non_iv(self) -> bool:
        """Ordered by a route other than IV that the product's label allows (INFeD IM): the checks of an IV
        administration (rate, infusion observation, infusion premedication) do not apply."""
        return self.route not in ("iv", "unknown", "non-iv")


@dataclass(frozen=True)
class LabValue:
    code: str                        # LOINC
    value: float
    unit: str
    date: str | None
    reference: str | None = None


@dataclass(frozen=True)
class Administration:
    """An earlier IV-iron administration (or an injection of an IV-iron product by another route its label allows)."""

    product_key: str | None          # None when the product could not be identified (still IV iron)
    date: str | None                 # start of the administration (ISO)
    end: str | None
    dose_mg: float | None
    minutes: float | None
    stopped: bool                    # status stopped / not-done / entered with a stop reason
    stop_reason: str | None
    reference: str | None
    # Added by the patient reader (optional):
    status: str | None = None          # MedicationAdministration.status ("completed", "stopped", "not-done"...);
                                       # a "not-done" administration gave no iron
    rate_mg_per_min: float | None = None
    route: str = "iv"                  # "iv" (intravenous or not stated), or the route group of codes.yaml that the
                                       # product's label allows besides IV ("intramuscular": INFeD IM; no time read)


@dataclass(frozen=True)
class Reaction:
    """An earlier reaction to IV iron (or to an iron product), graded."""

    kind: str                        # "infusion-pain" (benign, Fishbane-type) or "hypersensitivity"
    severity: str                    # "mild", "moderate" or "severe"
    product_key: str | None          # the product it followed, when known
    evidence: tuple[Evidence, ...]
    # Added by the patient reader (optional):
    date: str | None = None          # when it happened (or was recorded), ISO
    features: tuple[str, ...] = ()   # what graded it, in plain words ("anaphylaxis", "systolic 84 mmHg", "pain 6/10")


@dataclass(frozen=True)
class RiskFactor:
    code: str                        # key in the knowledge risk factors ("asthma", "mastocytosis", ...)
    label: str
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class Pregnancy:
    """A current pregnancy (``pregnancy.py``)."""

    weeks: float | None                  # gestational age today; None when nothing dates the pregnancy
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class PatientPicture:
    """What we know about the patient that matters for an IV-iron order."""

    weight_kg: float | None = None
    weight_date: str | None = None
    age_years: int | None = None
    labs: dict[str, LabValue] = field(default_factory=dict)      # latest value per LOINC code
    administrations: tuple[Administration, ...] = ()
    reactions: tuple[Reaction, ...] = ()
    risk_factors: tuple[RiskFactor, ...] = ()
    unavailable: tuple[str, ...] = ()    # data we could not obtain (prefetch keys), so checks that need it did not run
    # Added by the patient reader (optional):
    weight_note: str | None = None       # why the weight is unknown (none recorded, too old, unreadable unit)
    weight_reference: str | None = None  # "Observation/123" of the weight used
    weight_implausible: str | None = None   # the newest weight as recorded ("0.45 kg") when it could not be right
                                            # (protocol plausible_weight_kg): weight_kg is then None
    notes: tuple[str, ...] = ()          # other data that was present but not used, and why (stale lab, unknown unit)
    age_months: int | None = None        # completed months of age (the paediatric labels go down to 4 months)
    pregnancy: Pregnancy | None = None   # a current pregnancy; None when the record shows none (or nothing is known)
    # Pregnancy records written in words that could not be read with confidence ("possibly pregnant",
    # "about nine weeks") and that no newer readable record answers: the card says they were not read.
    pregnancy_unread: tuple[Evidence, ...] = ()


@dataclass(frozen=True)
class SuggestionSpec:
    """A one-click suggestion, before it is turned into CDS Hooks JSON."""

    label: str
    action: str                      # "create", "update" or "delete"
    description: str
    resource: dict | None = None     # full FHIR resource for create / update
    resource_id: str | None = None   # relative reference for delete
    is_recommended: bool = False


@dataclass(frozen=True)
class Finding:
    """One rule's result for one order: everything the card builder needs."""

    topic: str                       # card topic code from the contract
    indicator: str                   # "info", "warning" or "critical"
    order: IronOrder | None          # None for patient-level findings (history-unavailable)
    summary: str                     # < 140 characters, names the drug
    detail: str                      # markdown: why, the data points, what to do
    evidence: tuple[Evidence, ...] = ()
    sources: tuple[str, ...] = ()    # ids in the knowledge sources
    suggestions: tuple[SuggestionSpec, ...] = ()
    # Which override-reason lists of the topic's wording fit this card (e.g. premedication's
    # "override_reasons_h1" on a card about a drafted antihistamine); empty = "override_reasons".
    override_reason_sets: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvaluationContext:
    """What the engine is told about the call besides data: who, where, when."""

    patient_id: str
    encounter_id: str | None
    user_id: str | None
    hook: str
    now: datetime
    jurisdiction: str = "US"
    engine_seconds: float | None = None   # total time the engine may take for this call (None: no deadline)
