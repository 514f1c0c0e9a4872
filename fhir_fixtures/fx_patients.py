"""The synthetic patients: each a handful of resources, each date placed far from its threshold."""

from __future__ import annotations

from fx_resources import (  # noqa: I001
    INGREDIENTS,
    RXNORM,
    administration,
    adverse_event,
    allergy,
    blood_pressure,
    condition,
    dated_observation,
    drug_allergy,
    ferritin,
    gestational_age,
    hemoglobin,
    pain_score,
    patient,
    phosphate,
    text_observation,
    tsat,
    weight,
)

LABS_DATE = "2026-11-18T08:30:00Z"       # a week before NOW: recent for every recency window


def pid(name: str) -> str:
    return f"icds-{name}"


def baseline(name: str, *, weight_kg: float | None = 70, hb: float = 10.2, ferritin_ng_ml: float = 25,
             tsat_percent: float = 11, phosphate_mg_dl: float = 3.4, phosphate_date: str = LABS_DATE,
             labs_date: str = LABS_DATE, birth_date: str = "1980-03-14", gender: str = "female") -> list[dict]:
    """An adult with iron-deficiency anaemia and nothing else of note."""
    p = pid(name)
    resources = [patient(p, name, birth_date, gender)]
    if weight_kg is not None:
        resources.append(weight(f"{p}-weight", p, weight_kg, labs_date))
    resources += [
        hemoglobin(f"{p}-hb", p, hb, labs_date),
        ferritin(f"{p}-ferritin", p, ferritin_ng_ml, labs_date),
        tsat(f"{p}-tsat", p, tsat_percent, labs_date),
        phosphate(f"{p}-phosphate", p, phosphate_mg_dl, phosphate_date),
        blood_pressure(f"{p}-bp", p, 122, 78, labs_date),
    ]
    return resources


def earlier_infusion(name: str, product: str, dose_mg: float, start: str, end: str, **kw) -> dict:
    p = pid(name)
    return administration(f"{p}-admin-1", p, product, dose_mg, start, end, **kw)


def _pain_patient(name: str, score: int, when: str, during: bool) -> list[dict]:
    """Earlier FCM 750 mg over 15 min on 2026-07-20, and one pain score."""
    p = pid(name)
    admin = earlier_infusion(name, "ferric_carboxymaltose", 750, "2026-07-20T09:00:00Z", "2026-07-20T09:15:00Z")
    part_of = f"MedicationAdministration/{admin['id']}" if during else None
    return baseline(name) + [
        admin,
        pain_score(f"{p}-pain-1", p, score, when, part_of),
        blood_pressure(f"{p}-bp-infusion", p, 126, 80, "2026-07-20T09:12:00Z",
                       part_of=f"MedicationAdministration/{admin['id']}"),
    ]


def _iron_allergy(name: str, product: str, **kw) -> dict:
    code, display = INGREDIENTS[product]
    return allergy(f"{pid(name)}-allergy-iron", pid(name), (RXNORM, code, display), **kw)


def _asthma(name: str) -> dict:
    return condition(f"{pid(name)}-asthma", pid(name), "195967001", "Asthma", "J45.909", "2004-05-01")


PATIENTS: dict[str, list[dict]] = {}
PATIENT_NOTES: dict[str, str] = {}


def _add(name: str, note: str, resources: list[dict]) -> None:
    PATIENTS[name] = resources
    PATIENT_NOTES[name] = f"{pid(name)}: {note}"


_add("clean", "70 kg, iron deficient (ferritin 25, TSAT 11 %), phosphate 3.4, no iron history, no allergies",
     baseline("clean"))
_add("light", "45 kg (below the 50 kg dose band), otherwise like clean", baseline("light", weight_kg=45))
_add("no-weight", "no body weight recorded, otherwise like clean", baseline("no-weight", weight_kg=None))

_add("pain-history", "pain score 4/10 (the threshold) during an earlier FCM 750 mg/15 min infusion (2026-07-20)",
     _pain_patient("pain-history", 4, "2026-07-20T09:10:00Z", during=True))
_add("pain-below-threshold", "pain score 3/10 during an earlier FCM infusion: below the threshold",
     _pain_patient("pain-below-threshold", 3, "2026-07-20T09:10:00Z", during=True))
_add("pain-within-window", "pain score 7/10 90 minutes after an earlier FCM infusion ended (inside the 2-hour window)",
     _pain_patient("pain-within-window", 7, "2026-07-20T10:45:00Z", during=False))
_add("pain-after-window", "pain score 7/10 four hours after an earlier FCM infusion ended (outside the 2-hour window)",
     _pain_patient("pain-after-window", 7, "2026-07-20T13:15:00Z", during=False))

_moderate = baseline("moderate-reaction")
_moderate_admin = earlier_infusion("moderate-reaction", "iron_sucrose", 200, "2026-06-02T10:00:00Z",
                                   "2026-06-02T10:08:00Z", status="stopped",
                                   stop_reason="urticaria and shortness of breath during the infusion")
_add("moderate-reaction",
     "moderate allergic reaction (urticaria, dyspnoea, no hypotension) to iron sucrose, infusion stopped",
     _moderate + [
         _moderate_admin,
         blood_pressure(f"{pid('moderate-reaction')}-bp-infusion", pid("moderate-reaction"), 118, 76,
                        "2026-06-02T10:07:00Z", part_of=f"MedicationAdministration/{_moderate_admin['id']}"),
         _iron_allergy("moderate-reaction", "iron_sucrose", kind="allergy", criticality="low", severity="moderate",
                       manifestations=[("126485001", "Urticaria"), ("267036007", "Dyspnea")],
                       onset="2026-06-02T10:06:00Z"),
     ])

_severe_admin = earlier_infusion("severe-reaction", "ferric_carboxymaltose", 750, "2026-04-14T11:00:00Z",
                                 "2026-04-14T11:06:00Z", status="stopped", stop_reason="anaphylaxis")
_add("severe-reaction", "anaphylaxis with hypotension (SBP 82) during FCM, criticality high, AdverseEvent recorded",
     baseline("severe-reaction") + [
         _severe_admin,
         blood_pressure(f"{pid('severe-reaction')}-bp-infusion", pid("severe-reaction"), 82, 48,
                        "2026-04-14T11:05:00Z", part_of=f"MedicationAdministration/{_severe_admin['id']}"),
         _iron_allergy("severe-reaction", "ferric_carboxymaltose", kind="allergy", criticality="high",
                       severity="severe", manifestations=[("39579001", "Anaphylaxis"), ("45007003", "Hypotension")],
                       onset="2026-04-14T11:04:00Z"),
         adverse_event(f"{pid('severe-reaction')}-ae-1", pid("severe-reaction"), "39579001", "Anaphylaxis",
                       "2026-04-14T11:04:00Z", f"MedicationAdministration/{_severe_admin['id']}", "severe", True),
     ])

_add("mild-allergy", "mild allergic reaction (erythema only) to iron sucrose: ferumoxytol is contraindicated after it",
     baseline("mild-allergy") + [
         earlier_infusion("mild-allergy", "iron_sucrose", 200, "2026-05-20T14:00:00Z", "2026-05-20T14:30:00Z"),
         _iron_allergy("mild-allergy", "iron_sucrose", kind="allergy", criticality="low", severity="mild",
                       manifestations=[(None, "mild erythema of the forearm")], onset="2026-05-20T14:20:00Z"),
     ])

_add("refuted-allergy", "an anaphylaxis record to FCM that was refuted (does not count)",
     baseline("refuted-allergy") + [
         _iron_allergy("refuted-allergy", "ferric_carboxymaltose", kind="allergy", criticality="high",
                       severity="severe", manifestations=[("39579001", "Anaphylaxis")], onset="2025-09-01",
                       verification="refuted", clinical="inactive"),
     ])

_add("allergy-free-text", "an allergy recorded as free text only: 'anaphylaxis to Venofer 2019' (no code, no reaction)",
     baseline("allergy-free-text") + [{
         "resourceType": "AllergyIntolerance", "id": f"{pid('allergy-free-text')}-allergy-iron",
         "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                        "code": "active"}]},
         "category": ["medication"], "code": {"text": "anaphylaxis to Venofer 2019"},
         "patient": {"reference": f"Patient/{pid('allergy-free-text')}"}, "recordedDate": "2019-03-02",
     }])
_add("administration-note-anaphylaxis", "an earlier FCM infusion completed, its note recording anaphylaxis treated "
     "with adrenaline (no allergy record, infusion not marked stopped)",
     baseline("administration-note-anaphylaxis") + [
         earlier_infusion("administration-note-anaphylaxis", "ferric_carboxymaltose", 750, "2026-07-20T09:00:00Z",
                          "2026-07-20T09:15:00Z", note="anaphylaxis at the end of the infusion - adrenaline IM given"),
     ])

_add("risk-several", "asthma and two drug allergies (penicillin, sulfamethoxazole): several risk factors",
     baseline("risk-several") + [
         _asthma("risk-several"),
         drug_allergy(f"{pid('risk-several')}-allergy-pen", pid("risk-several"), "7980", "penicillin G",
                      ("126485001", "Urticaria"), "2011-02-01"),
         drug_allergy(f"{pid('risk-several')}-allergy-sulfa", pid("risk-several"), "10180", "sulfamethoxazole",
                      ("271807003", "Eruption of skin"), "2015-08-01"),
     ])
_add("risk-one", "asthma only: one risk factor", baseline("risk-one") + [_asthma("risk-one")])

_add("dextran-experienced", "an earlier iron dextran dose (2026-06-15) given without reaction",
     baseline("dextran-experienced") + [
         earlier_infusion("dextran-experienced", "iron_dextran", 100, "2026-06-15T10:00:00Z", "2026-06-15T10:30:00Z"),
     ])

_add("fcm-recent", "FCM 750 mg 36 days ago (2026-10-20); phosphate 3.1 measured before it (2026-10-10), not since",
     baseline("fcm-recent", phosphate_mg_dl=3.1, phosphate_date="2026-10-10T08:30:00Z") + [
         earlier_infusion("fcm-recent", "ferric_carboxymaltose", 750, "2026-10-20T09:00:00Z", "2026-10-20T09:30:00Z"),
     ])
_add("fcm-recent-phosphate-checked", "FCM 750 mg 36 days ago (2026-10-20); phosphate 3.1 measured since (2026-11-18)",
     baseline("fcm-recent-phosphate-checked", phosphate_mg_dl=3.1) + [
         earlier_infusion("fcm-recent-phosphate-checked", "ferric_carboxymaltose", 750, "2026-10-20T09:00:00Z",
                          "2026-10-20T09:30:00Z"),
     ])
_add("fcm-old-dose", "FCM 750 mg 208 days ago (2026-05-01), phosphate 2.6 (just above 2.5)",
     baseline("fcm-old-dose", phosphate_mg_dl=2.6) + [
         earlier_infusion("fcm-old-dose", "ferric_carboxymaltose", 750, "2026-05-01T09:00:00Z", "2026-05-01T09:30:00Z"),
     ])
_add("low-phosphate", "phosphate 2.1 mg/dL (below 2.5), no earlier FCM", baseline("low-phosphate", phosphate_mg_dl=2.1))

_add("stale-data", "45 kg and ferritin 820 / TSAT 48 %, but all measured 2026-06-01 (177 days ago: too old to use)",
     baseline("stale-data", weight_kg=45, ferritin_ng_ml=820, tsat_percent=48, hb=13.1,
              labs_date="2026-06-01T08:30:00Z", phosphate_date="2026-06-01T08:30:00Z"))

_add("iron-replete", "ferritin 820 ng/mL and TSAT 48 %: iron replete",
     baseline("iron-replete", ferritin_ng_ml=820, tsat_percent=48, hb=13.1))
_add("high-ferritin-only", "ferritin 820 ng/mL but TSAT 18 % (inflammation pattern)",
     baseline("high-ferritin-only", ferritin_ng_ml=820, tsat_percent=18))

_add("haemodialysis", "end-stage kidney disease on haemodialysis, otherwise like clean",
     baseline("haemodialysis") + [condition(f"{pid('haemodialysis')}-esrd", pid("haemodialysis"), "46177005",
                                            "End-stage renal disease", "N18.6", "2019-03-01")])
_add("peritoneal-dialysis", "end-stage kidney disease on peritoneal dialysis, otherwise like clean",
     baseline("peritoneal-dialysis") + [condition(f"{pid('peritoneal-dialysis')}-esrd", pid("peritoneal-dialysis"),
                                                  "46177005", "End-stage renal disease", "N18.6", "2021-09-01")])

# --- issue 12: the clinician's grading is respected; intolerances are not allergies -------------------------
def _graded(name: str, severity: str, manifestations: list[tuple[str | None, str]],
            criticality: str = "low") -> list[dict]:
    """An earlier iron sucrose reaction (2026-05-20), graded by the clinician; no infusion record."""
    return baseline(name) + [
        _iron_allergy(name, "iron_sucrose", kind="allergy", criticality=criticality, severity=severity,
                      manifestations=manifestations, onset="2026-05-20T14:20:00Z"),
    ]


_add("graded-mild", "iron sucrose reaction recorded as mild: flushing only (infusion pain)",
     _graded("graded-mild", "mild", [(None, "flushing")]))
_add("graded-moderate", "iron sucrose reaction recorded as moderate: flushing only (the record is not read down)",
     _graded("graded-moderate", "moderate", [(None, "flushing")]))
_add("graded-severe", "iron sucrose reaction recorded as severe: rash only (severe because the clinician said so)",
     _graded("graded-severe", "severe", [(None, "rash")]))
_add("graded-throat", "iron sucrose reaction recorded as moderate, with throat tightness and rash (airway: severe)",
     _graded("graded-throat", "moderate", [(None, "throat tightness"), ("271807003", "Eruption of skin")]))


def _side_effect(name: str, suffix: str, code: str, display: str, manifestation: tuple[str, str], kind: str) -> dict:
    return allergy(f"{pid(name)}-allergy-{suffix}", pid(name), (RXNORM, code, display), kind=kind, criticality="low",
                   severity="mild", manifestations=[manifestation], onset="2019-03-01")


_add("intolerances",
     "codeine intolerance (nausea) and ferrous sulfate 'allergy' with constipation only: no drug allergy",
     baseline("intolerances") + [
         _side_effect("intolerances", "codeine", "2670", "codeine", ("422587007", "Nausea"), "intolerance"),
         _side_effect("intolerances", "ferrous", "310325", "ferrous sulfate 325 MG Oral Tablet",
                      ("14760008", "Constipation"), "allergy"),
     ])
_add("drug-allergies-two", "allergies to penicillin (urticaria) and sulfamethoxazole (rash): one risk factor",
     baseline("drug-allergies-two") + [
         drug_allergy(f"{pid('drug-allergies-two')}-allergy-pen", pid("drug-allergies-two"), "7980", "penicillin G",
                      ("126485001", "Urticaria"), "2011-02-01"),
         drug_allergy(f"{pid('drug-allergies-two')}-allergy-sulfa", pid("drug-allergies-two"), "10180",
                      "sulfamethoxazole", ("271807003", "Eruption of skin"), "2015-08-01"),
     ])

# --- issue 12: slowing from the same product's infusion, never another product's mg/min ----------------------
_sucrose_pain = earlier_infusion("sucrose-pain", "iron_sucrose", 100, "2026-08-03T09:00:00Z", "2026-08-03T10:00:00Z")
_add("sucrose-pain", "pain 6/10 during iron sucrose 100 mg over 60 min (2026-08-03): FCM is slowed from its own label",
     baseline("sucrose-pain") + [
         _sucrose_pain,
         pain_score(f"{pid('sucrose-pain')}-pain-1", pid("sucrose-pain"), 6, "2026-08-03T09:40:00Z",
                    f"MedicationAdministration/{_sucrose_pain['id']}"),
     ])

# --- body weight: a newer weight entered in error must not hide the valid one; an impossible weight is not used --
_error_weight = weight(f"{pid('weight-error-newest')}-weight-error", pid("weight-error-newest"), 70,
                       "2026-11-24T08:30:00Z")
_error_weight["status"] = "entered-in-error"
_add("weight-error-newest", "45 kg (final, a week ago) and a newer 70 kg weight marked entered-in-error",
     baseline("weight-error-newest", weight_kg=45) + [_error_weight])
_add("weight-implausible", "adult whose latest weight reads 0.45 kg (a unit slip), otherwise like clean",
     baseline("weight-implausible", weight_kg=0.45))

# --- issue 12: age against the labels (birthdays six months from NOW, so a few days never flip an age) ----
def _child(name: str, birth_date: str, weight_kg: float | None, note: str) -> None:
    _add(name, note, baseline(name, weight_kg=weight_kg, birth_date=birth_date))


_child("child-1y", "2025-05-25", 10, "1 year 6 months, 10 kg: FCM is labelled from 1 year, iron sucrose from 2")
_child("child-2y", "2024-05-25", 12, "2 years 6 months, 12 kg: iron sucrose labelled (0.5 mg/kg, at most 100 mg)")
_child("child-4y", "2022-05-25", 15, "4 years 6 months, 15 kg (iron sucrose 0.5 mg/kg = 7.5 mg)")
_child("child-4y-16kg", "2022-05-25", 16, "4 years 6 months, 16 kg (FCM 15 mg/kg = 240 mg = 4.8 mL)")
_child("child-4y-no-weight", "2022-05-25", None, "4 years 6 months, no body weight recorded")
_child("child-5y", "2021-05-25", 18, "5 years 6 months, 18 kg: sodium ferric gluconate is labelled from 6 years")
_child("child-6y", "2020-05-25", 20, "6 years 6 months, 20 kg: sodium ferric gluconate 1.5 mg/kg = 30 mg")
_child("teen-17y", "2009-05-25", 60, "17 years 6 months, 60 kg: ferumoxytol not established under 18")
_child("adult-18y", "2008-05-25", 60, "18 years 6 months, 60 kg: adult labels apply")


# --- issue 12: pregnancy dated by LMP, due date or gestational age; or undated --------------------------
def _pregnant(name: str, note: str, extra: list[dict]) -> None:
    _add(name, note, baseline(name, birth_date="1994-03-14") + extra)


_pregnant("pregnant-lmp-8w", "last menstrual period 2026-09-30: about 8 weeks pregnant (first trimester)",
          [dated_observation(f"{pid('pregnant-lmp-8w')}-lmp", pid("pregnant-lmp-8w"), "8665-2",
                             "Last menstrual period start date", "2026-09-30", "2026-11-18T09:00:00Z")])
_pregnant("pregnant-edd-21w", "estimated delivery date 2027-04-02: about 21 weeks pregnant (second trimester)",
          [dated_observation(f"{pid('pregnant-edd-21w')}-edd", pid("pregnant-edd-21w"), "11778-8",
                             "Delivery date Estimated", "2027-04-02", "2026-11-18T09:00:00Z")])
_pregnant("pregnant-13w", "gestational age 13 weeks recorded 2026-11-24: 13 weeks 1 day today (first trimester)",
          [gestational_age(f"{pid('pregnant-13w')}-ga", pid("pregnant-13w"), 13, "2026-11-24T12:00:00Z")])
_pregnant("pregnant-14w", "gestational age 14 weeks recorded 2026-11-24: 14 weeks 1 day today (second trimester)",
          [gestational_age(f"{pid('pregnant-14w')}-ga", pid("pregnant-14w"), 14, "2026-11-24T12:00:00Z")])
_pregnant("pregnant-undated", "a current pregnancy on the problem list, nothing dates it",
          [condition(f"{pid('pregnant-undated')}-pregnancy", pid("pregnant-undated"), "77386006", "Pregnant",
                     "Z34.90", "2026-10-01")])

# --- pregnancy written in words, and dating carried forward past 42 weeks -----------------------------------
def _words(name: str, loinc: str, display: str, words: str, when: str = "2026-11-18T09:00:00Z") -> list[dict]:
    return [text_observation(f"{pid(name)}-words", pid(name), loinc, display, words, when)]


_pregnant("pregnant-ga-text-9w", 'gestational age written "9+3 weeks" on 2026-11-18: about 10 weeks today',
          _words("pregnant-ga-text-9w", "49051-6", "Gestational age in weeks", "9+3 weeks"))
_pregnant("pregnant-status-text", 'pregnancy status written "Pregnant" on 2026-11-18, nothing dates it',
          _words("pregnant-status-text", "82810-3", "Pregnancy status", "Pregnant"))
_pregnant("not-pregnant-status-text", 'pregnancy status written "Not pregnant" on 2026-11-18',
          _words("not-pregnant-status-text", "82810-3", "Pregnancy status", "Not pregnant"))
_pregnant("pregnancy-status-unread", 'pregnancy status written "possibly pregnant" on 2026-11-18',
          _words("pregnancy-status-unread", "82810-3", "Pregnancy status", "possibly pregnant"))
_pregnant("pregnant-ga-carried-37w", "gestational age 9 weeks recorded 2026-05-09 (200 days ago): 37.6 weeks today",
          [gestational_age(f"{pid('pregnant-ga-carried-37w')}-ga", pid("pregnant-ga-carried-37w"), 9,
                           "2026-05-09T12:00:00Z")])
_pregnant("pregnancy-ga-postterm", "gestational age 20 weeks recorded 2026-05-09 (200 days ago): 48.6 weeks today",
          [gestational_age(f"{pid('pregnancy-ga-postterm')}-ga", pid("pregnancy-ga-postterm"), 20,
                           "2026-05-09T12:00:00Z")])

# --- issue 12: a first ferumoxytol 510 mg dose 2, 3, 8 or 9 days before NOW (2026-11-25) ----------------------
for _days, _day in ((2, "23"), (3, "22"), (8, "17"), (9, "16")):
    _name = f"ferumoxytol-after-{_days}-days"
    _add(_name, f"ferumoxytol 510 mg on 2026-11-{_day} ({_days} days before NOW)",
         baseline(_name) + [earlier_infusion(_name, "ferumoxytol", 510, f"2026-11-{_day}T10:00:00Z",
                                             f"2026-11-{_day}T10:30:00Z")])

assert all(r["id"].startswith("icds-") for resources in PATIENTS.values() for r in resources)
