"""Reactions seen in observations taken during or soon after an earlier IV-iron dose.

- a pain score >= ``protocol.infusion_pain.pain_score_threshold`` during the
  administration or up to ``window_after_minutes`` after its end (or an
  Observation whose ``partOf`` names the administration) is infusion pain;
- a systolic pressure <= ``protocol.hypotension.systolic_max_mmhg`` in that
  window, or a fall >= ``fall_mmhg`` from the last value in the
  ``baseline_window_hours`` before the infusion, is hypotension: a severe
  reaction (ASH 2023 definition, after Rampton 2014: 90 and 30 mmHg).
"""

from __future__ import annotations

from datetime import timedelta

from cds_service.engine.administrations import span
from cds_service.engine.facts import minutes_phrase
from cds_service.engine.fhir_values import day, reference_target
from cds_service.engine.model import Administration, Evidence, Reaction
from cds_service.engine.observations import ObservationIndex, Reading, days_around
from cds_service.engine.units import fmt


def _admin_name(knowledge, admin: Administration) -> str:
    product = knowledge.products.get(admin.product_key) if admin.product_key else None
    return product.display if product else "IV iron"


def _admin_evidence(knowledge, admin: Administration) -> Evidence:
    dose = f" {fmt(admin.dose_mg)} mg" if admin.dose_mg is not None else ""
    return Evidence(f"{_admin_name(knowledge, admin)}{dose} given on {day(admin.date)}", admin.date, admin.reference)


def _part_of(reading: Reading) -> set[str]:
    """Administrations this Observation says it belongs to ("MedicationAdministration/12")."""
    refs = reading.resource.get("partOf")
    out = set()
    for ref in refs if isinstance(refs, list) else ():
        rtype, rid = reference_target(ref)
        if rtype and rid:
            out.add(f"{rtype}/{rid}")
    return out


def pain_reactions(index: ObservationIndex, knowledge, admins: list[Administration]) -> list[Reaction]:
    threshold = knowledge.protocol.infusion_pain.pain_score_threshold.value
    window = knowledge.protocol.infusion_pain.window_after_minutes.value
    codes = knowledge.codes.get("pain_score_loinc") or ()
    if not codes:
        return []
    # Pain after an intramuscular injection is injection-site pain, not the pain of an infusion.
    spans = [(admin, span(admin)) for admin in admins if admin.route == "iv"]
    spans = [(a, s) for a, s in spans if s is not None]
    worst: dict[int, Reading] = {}
    for code in codes:
        for reading in index.readings(code, at_least=float(threshold)):   # low scores: no date is parsed
            linked = _part_of(reading)
            for i, (admin, (start, end)) in enumerate(spans):
                during = reading.when is not None and start < reading.when <= end + timedelta(minutes=float(window))
                if during or (admin.reference and admin.reference in linked):
                    if i not in worst or reading.value > worst[i].value:
                        worst[i] = reading
    reactions = []
    for i, reading in sorted(worst.items()):
        admin, (start, end) = spans[i]
        if reading.when is not None and reading.when > end:
            minutes = (reading.when - end).total_seconds() / 60
            when = f"{minutes_phrase(float(fmt(minutes)))} after the end of"
        else:
            when = "during"
        text = (f"Pain score {fmt(reading.value)}/10 recorded {when} the {_admin_name(knowledge, admin)} "
                f"infusion on {day(admin.date)}")
        reactions.append(Reaction(
            kind="infusion-pain", severity="mild", product_key=admin.product_key,
            evidence=(Evidence(text, reading.when_text, reading.reference), _admin_evidence(knowledge, admin)),
            date=reading.when_text, features=(f"pain score {fmt(reading.value)}/10",)))
    return reactions


def _systolic(index: ObservationIndex, knowledge, windows) -> list[Reading]:
    """Dated systolic readings that may fall in one of ``windows``: only those are parsed."""
    vitals = knowledge.codes.get("vitals") or {}
    code = vitals.get("systolic")
    if not code or not windows:
        return []
    return [r for r in index.readings(str(code), components=True, days=days_around(windows)) if r.when is not None]


def hypotension_reactions(index: ObservationIndex, knowledge, admins: list[Administration]) -> list[Reaction]:
    hypotension = knowledge.protocol.hypotension
    window = knowledge.protocol.infusion_pain.window_after_minutes.value
    maximum, fall = float(hypotension.systolic_max_mmhg.value), float(hypotension.fall_mmhg.value)
    baseline_hours = hypotension.baseline_window_hours.value
    spans = [(admin, s) for admin in admins if (s := span(admin)) is not None]
    before_start, after_end = timedelta(hours=float(baseline_hours)), timedelta(minutes=float(window))
    readings = _systolic(index, knowledge, [(start - before_start, end + after_end) for _, (start, end) in spans])
    if not readings:
        return []
    reactions = []
    for admin, (start, end) in spans:
        after = end + after_end
        during = [r for r in readings if start < r.when <= after]
        if not during:
            continue
        before = [r for r in readings if start - before_start <= r.when <= start]
        baseline = before[0] if before else None            # readings are newest first
        lowest = min(during, key=lambda r: r.value)
        features = []
        if lowest.value <= maximum:
            features.append(f"systolic {fmt(lowest.value)} mmHg (at or below {fmt(maximum)})")
        if baseline is not None and baseline.value - lowest.value >= fall:
            features.append(f"systolic fell {fmt(baseline.value - lowest.value)} mmHg "
                            f"from {fmt(baseline.value)} before the infusion")
        if not features:
            continue
        evidence = [Evidence(f"Blood pressure {fmt(lowest.value)} mmHg systolic after {_admin_name(knowledge, admin)} "
                             f"started on {day(admin.date)}", lowest.when_text, lowest.reference)]
        if baseline is not None:
            evidence.append(Evidence(f"Systolic {fmt(baseline.value)} mmHg before the infusion", baseline.when_text,
                                     baseline.reference))
        evidence.append(_admin_evidence(knowledge, admin))
        reactions.append(Reaction(kind="hypersensitivity", severity="severe", product_key=admin.product_key,
                                  evidence=tuple(evidence), date=lowest.when_text, features=("hypotension", *features)))
    return reactions

