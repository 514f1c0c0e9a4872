"""Scenarios: patient + draft orders + hook -> the cards a prescriber should see.

``expected`` lists one entry per card: topic, indicator and the action types of
its suggestions (sorted). The end-to-end tests compare the service's cards with
it exactly, with full prefetch and with FHIR reads, so a missing card and a
noisy extra card both fail.
"""

from __future__ import annotations

from fx_patients import pid
from fx_resources import (
    IV_ROUTE,
    ORAL_ROUTE,
    SNOMED,
    concept,
    drug_order,
    iron_order,
    observation_order,
)

NOW = "2026-11-25T12:00:00Z"

OBSERVE = {"topic": "observation-period", "indicator": "info", "actions": ["create"]}
# Confirmed US boxed warnings (ferumoxytol and iron dextran: anaphylaxis) are quoted on every order of those
# products: advice with no action of its own rides on a card that already exists (engine/consolidate.py), so
# only when no other card may take it (a stop card takes none) is it a formulation card of its own. The other
# formulation concerns (test dose, phosphate) have actions and keep their card, quoting the box too.
BOXED = {"topic": "formulation", "indicator": "info", "actions": []}


def card(topic: str, indicator: str, *actions: str) -> dict:
    return {"topic": topic, "indicator": indicator, "actions": sorted(actions)}


SCENARIOS: dict[str, dict] = {}
ORDERS: dict[str, list[dict]] = {}


def scenario(name: str, patient: str, orders: list[dict], expected: list[dict], demonstrates: str,
             hook: str = "order-sign", jurisdiction: str = "US") -> None:
    """``jurisdiction`` is the service's IRON_CDS_JURISDICTION the expectation assumes."""
    ORDERS[name] = orders
    SCENARIOS[name] = {
        "patient": f"patients/{patient}.json",
        "patient_id": pid(patient),
        "order": f"orders/{name}.json",
        "hook": hook,
        "jurisdiction": jurisdiction,
        "expected": expected,
        "demonstrates": demonstrates,
    }


def mr(name: str) -> str:
    return f"icds-{name}-mr"


def fcm(name: str, patient: str, dose: float = 750, minutes: float | None = 30, **kw) -> dict:
    return iron_order(mr(name), pid(patient), "ferric_carboxymaltose", dose, minutes, **kw)


# --- the observation card for each of the six products (clean patient, label-compliant orders) -------
CLEAN_ORDERS = {
    "iron_sucrose": (200, 30),
    "ferric_carboxymaltose": (750, 30),
    "ferric_derisomaltose": (1000, 30),
    "ferumoxytol": (510, 30),
    "sodium_ferric_gluconate": (125, 60),
    "iron_dextran": (75, 30),   # a first dose: with the 25 mg test dose, 100 mg that day (the label's daily maximum)
}
CLEAN_EXTRA = {
    # US iron dextran with no earlier iron-dextran dose: the label requires a test dose first.
    "iron_dextran": [card("formulation", "warning", "create")],
    "ferumoxytol": [],   # the boxed warning and MRI note ride on the observation card
}
for product, (dose, minutes) in CLEAN_ORDERS.items():
    name = "clean-" + product.replace("_", "-")
    scenario(name, "clean", [iron_order(mr(name), pid("clean"), product, dose, minutes)],
             CLEAN_EXTRA.get(product, []) + [OBSERVE],
             f"{product.replace('_', ' ')} recognised by RxNorm code; a label-compliant dose and time on a clean "
             "patient gives only the observation-period card")

scenario("clean-fcm-by-name", "clean",
         [iron_order(mr("clean-fcm-by-name"), pid("clean"), "ferric_carboxymaltose", 750, 30,
                     by_name="Injectafer 750 mg in 100 mL sodium chloride 0.9%")],
         [OBSERVE], "ferric carboxymaltose recognised by brand name only (no code)")
scenario("clean-fcm-order-select", "clean", [fcm("clean-fcm-order-select", "clean")], [OBSERVE],
         "the same card at order-select (context.selections)", hook="order-select")
scenario("observation-already-drafted", "clean",
         [fcm("observation-already-drafted", "clean"),
          observation_order("icds-observation-already-drafted-sr", pid("clean"), mr("observation-already-drafted"),
                            30)],
         [],
         "no observation card when the observation ServiceRequest (accepted at order-select) is in the draft orders")
scenario("dextran-observation-drafted", "clean",
         [iron_order(mr("dextran-observation-drafted"), pid("clean"), "iron_dextran", 75, 30),
          observation_order("icds-dextran-observation-drafted-sr", pid("clean"), mr("dextran-observation-drafted"),
                            60)],
         [card("formulation", "warning", "create")],
         "first iron-dextran dose with its observation order already drafted: the test-dose card remains and carries "
         "the patient handout link the observation card would have carried")
scenario("oral-iron", "clean",
         [drug_order(mr("oral-iron"), pid("clean"), "310325", "ferrous sulfate 325 MG Oral Tablet", 325, "mg",
                     ORAL_ROUTE, "325 mg by mouth once daily")],
         [], "oral iron never gets a card")
# An injectable product by a route its label does not allow is a wrong route, never silence; INFeD's label
# allows IM, and an IM order is outside an IV-iron check.
IM_ROUTE = {"coding": [{"system": SNOMED, "code": "78421000", "display": "Intramuscular route"}], "text": "IM"}
_IM_SUCROSE = iron_order(mr("iron-sucrose-intramuscular"), pid("clean"), "iron_sucrose", 200, 30,
                         text="200 mg IM over 30 minutes")
_IM_SUCROSE["dosageInstruction"][0]["route"] = IM_ROUTE
scenario("iron-sucrose-intramuscular", "clean", [_IM_SUCROSE],
         [card("formulation", "warning"), OBSERVE],
         "iron sucrose (an injectable's code) ordered IM: its label allows intravenous use only, so a warning names "
         "the label's route and the order is checked as IV iron")
_IM_SUCROSE_NAME = iron_order(mr("iron-sucrose-by-name-intramuscular"), pid("clean"), "iron_sucrose", 200, 30,
                              by_name="Venofer 200 mg", text="200 mg IM over 30 minutes")
_IM_SUCROSE_NAME["dosageInstruction"][0]["route"] = IM_ROUTE
scenario("iron-sucrose-by-name-intramuscular", "clean", [_IM_SUCROSE_NAME],
         [card("formulation", "warning"), OBSERVE],
         "Venofer named only in text (a brand that exists only as an injection) ordered IM: the same wrong-route "
         "warning as for its code, and the order is checked as IV iron")
_IM_ORAL_IRON = drug_order(mr("oral-iron-intramuscular"), pid("clean"), "310325", "ferrous sulfate 325 MG Oral Tablet",
                           325, "mg", IM_ROUTE, "325 mg IM")
_IM_ORAL_IRON["medicationCodeableConcept"] = {"text": "ferrous sulfate 325 mg"}
scenario("oral-iron-intramuscular", "clean", [_IM_ORAL_IRON], [],
         "oral iron named in text with an IM route: oral iron never gets a card, whatever the route says")
# INFeD's label allows IM: the boxed warning (anaphylaxis; a test dose first) and the daily maximum apply to an IM
# order too; the checks of an IV administration (rate, observation after the infusion) do not.
_IM_DEXTRAN = iron_order(mr("iron-dextran-intramuscular"), pid("clean"), "iron_dextran", 75, None,
                         text="75 mg deep IM, upper outer buttock")
_IM_DEXTRAN["dosageInstruction"][0]["route"] = IM_ROUTE
scenario("iron-dextran-intramuscular", "clean", [_IM_DEXTRAN], [card("formulation", "warning", "create")],
         "INFeD ordered IM, a route its label allows, as a first iron-dextran dose (75 mg: with the 25 mg test dose, "
         "the label's 100 mg daily maximum): the label's IM test dose first, with the boxed warning; no rate or "
         "observation card")
_IM_DEXTRAN_SEVERE = iron_order(mr("iron-dextran-intramuscular-severe-reaction"), pid("severe-reaction"),
                                "iron_dextran", 75, None, text="75 mg deep IM, upper outer buttock")
_IM_DEXTRAN_SEVERE["dosageInstruction"][0]["route"] = IM_ROUTE
scenario("iron-dextran-intramuscular-severe-reaction", "severe-reaction", [_IM_DEXTRAN_SEVERE],
         [card("hypersensitivity-history", "critical", "delete"), BOXED],
         "INFeD ordered IM after anaphylaxis to FCM: the critical stop card fires whatever the route; the test dose "
         "and boxed warning stay beside it as information, with no test-dose order (it would read as a way to go on)")
scenario("non-iron", "clean",
         [drug_order(mr("non-iron"), pid("clean"), "11124", "vancomycin", 1000, "mg", IV_ROUTE,
                     "1,000 mg IV every 12 hours")],
         [], "an order that is not iron gets no card")

# --- infusion rate ------------------------------------------------------------------------------------
scenario("rate-too-fast", "clean", [fcm("rate-too-fast", "clean", 750, 5)],
         [card("infusion-rate", "warning", "update"), OBSERVE],
         "FCM 750 mg over 5 min is faster than the label's 15-minute minimum: update to the label minimum")
scenario("rate-at-label-minimum", "clean", [fcm("rate-at-label-minimum", "clean", 750, 15)], [OBSERVE],
         "FCM 750 mg over exactly 15 min (the label minimum) is allowed")
# Infusion pain: half the rate, acetaminophen per protocol (advice: info), longer observation, and the
# formulation card also notes the earlier reaction to this same product.
# The note that the reaction followed this same product (another may be better tolerated) rides on the rate card.
PAIN_CARDS = [card("infusion-rate", "warning", "update"), card("premedication", "info", "create"), OBSERVE]
scenario("pain-history", "pain-history", [fcm("pain-history", "pain-history", 750, 15)], PAIN_CARDS,
         "pain 4/10 during an earlier FCM infusion: at most half the rate (30 min instead of 15) and "
         "acetaminophen premedication")
scenario("pain-within-window", "pain-within-window", [fcm("pain-within-window", "pain-within-window", 750, 15)],
         PAIN_CARDS, "pain 7/10 90 minutes after the earlier infusion still counts (window 2 hours)")
scenario("pain-below-threshold", "pain-below-threshold",
         [fcm("pain-below-threshold", "pain-below-threshold", 750, 15)], [OBSERVE],
         "pain 3/10 is below the 4/10 threshold: no rate or premedication card")
scenario("pain-after-window", "pain-after-window", [fcm("pain-after-window", "pain-after-window", 750, 15)],
         [OBSERVE], "pain 7/10 four hours after the infusion is outside the 2-hour window")

# --- how the order is given: push, dialysis, infusion bag (issue 13 item 1) -------------------------
scenario("dialysis-push-undiluted", "haemodialysis",
         [iron_order(mr("dialysis-push-undiluted"), pid("haemodialysis"), "iron_sucrose", 100, 2,
                     text="100 mg into the venous line over 2 min, undiluted")],
         [OBSERVE], "haemodialysis: iron sucrose 100 mg undiluted into the venous line over 2 min is the label's "
         "slow injection (2-5 min): no rate card at every session")
scenario("dialysis-push-coded", "haemodialysis",
         [iron_order(mr("dialysis-push-coded"), pid("haemodialysis"), "iron_sucrose", 100, 5,
                     text="100 mg IV over 5 min",
                     method=concept(SNOMED, "422145002", "Inject - dosing instruction imperative (qualifier value)"))],
         [OBSERVE], "the SNOMED method code 'Inject' marks a slow injection: 100 mg over 5 min is within the label")
scenario("peritoneal-dialysis-300-in-250", "peritoneal-dialysis",
         [iron_order(mr("peritoneal-dialysis-300-in-250"), pid("peritoneal-dialysis"), "iron_sucrose", 300, 90,
                     text="300 mg in 250 mL sodium chloride 0.9% over 90 minutes")],
         [OBSERVE], "peritoneal dialysis: iron sucrose 300 mg in 250 mL over 1.5 h is exactly the label (no 150-minute "
         "demand)")
scenario("slow-push-1-min", "haemodialysis",
         [iron_order(mr("slow-push-1-min"), pid("haemodialysis"), "iron_sucrose", 100, 1,
                     text="100 mg slow IV push over 1 min")],
         [card("infusion-rate", "warning", "update"), OBSERVE],
         "iron sucrose 100 mg by slow IV push over 1 min is faster than the label's 2-5 min: the update keeps it a "
         "push over 2 min (accepting it settles: no further card)")

# A rate in mL/h for a named bag: 100 mL at 600 mL/h is 10 min, faster than the 15-minute infusion; the update
# keeps the bag and the words and restates the rate for it (400 mL/h), so signing again settles.
_ML_PER_H = fcm("rate-ml-per-hour-bag", "clean", 750, None, text="750 mg in 100 mL sodium chloride 0.9% at 600 mL/h")
_ML_PER_H["dosageInstruction"][0]["doseAndRate"][0]["rateQuantity"] = {
    "value": 600, "unit": "mL/h", "system": "http://unitsofmeasure.org", "code": "mL/h"}
scenario("rate-ml-per-hour-bag", "clean", [_ML_PER_H],
         [card("infusion-rate", "warning", "update"), OBSERVE],
         "FCM 750 mg in 100 mL at 600 mL/h (10 min) is an infusion faster than 15 min: the update sets 15 min and "
         "400 mL/h for the bag the order names, keeping its words")

# Ferumoxytol's boxed warning: only as an infusion, never as an IV injection. A push gets a warning whatever its time.
scenario("ferumoxytol-push", "clean",
         [iron_order(mr("ferumoxytol-push"), pid("clean"), "ferumoxytol", 510, 17,
                     text="510 mg slow IV push over 17 min")],
         [card("infusion-rate", "warning"), OBSERVE],
         "ferumoxytol ordered as a slow IV push (17 min): the label allows only an infusion, so a warning with no "
         "one-click change (the boxed warning rides on it)")

# The test-dose order our formulation card creates (25 mg over 30 s, wait 60 min), re-fired with the first dose:
# no rate card and no rewrite for it, the first dose's test-dose reminder no longer interrupts.
_TEST_DOSE = iron_order("icds-test-dose-refired-td", pid("clean"), "iron_dextran", 25, None,
                        text="Test dose 25 mg IV, undiluted, over at least 30 seconds; then wait at least 60 minutes, "
                             "observing the patient, before giving the rest of the dose.",
                        method=concept(SNOMED, "422145002", "Inject - dosing instruction imperative"))
_TEST_DOSE["identifier"] = [{"system": "urn:iron-cds:suggested-order",
                             "value": f"formulation/{mr('test-dose-refired')}/test-dose"}]
_TEST_DOSE["dosageInstruction"][0]["timing"] = {"repeat": {"count": 1, "duration": 30, "durationUnit": "s"}}
_TEST_DOSE["dosageInstruction"][0]["extension"] = [{
    "url": "urn:iron-cds:extension:wait-before-rest-of-dose",
    "valueDuration": {"value": 60, "unit": "min", "system": "http://unitsofmeasure.org", "code": "min"}}]
scenario("test-dose-refired", "clean",
         [iron_order(mr("test-dose-refired"), pid("clean"), "iron_dextran", 75, 30), _TEST_DOSE],
         [OBSERVE],
         "US iron dextran with the test-dose order the service created: the test dose gets no card of its own "
         "(its time and wait are read), the first dose keeps its observation card, which carries the reminder")

# Neither dose nor time readable: one card says what could not be checked (was two warnings saying the same).
_UNREADABLE = fcm("unreadable-dose-and-time", "clean", 750, None, text="Injectafer IV as directed")
_UNREADABLE["dosageInstruction"][0]["doseAndRate"] = [{"doseQuantity": {"unit": "mg"}}]
scenario("unreadable-dose-and-time", "clean", [_UNREADABLE],
         [card("dose-limit", "warning"), OBSERVE],
         "an FCM order whose dose has no number and that gives no time: one 'not checked' warning for dose and rate, "
         "plus the observation order")

# --- dose limit -----------------------------------------------------------------------------------------
scenario("dose-over-absolute", "clean", [fcm("dose-over-absolute", "clean", 1500, 30)],
         [card("dose-limit", "warning", "update"), OBSERVE],
         "FCM 1,500 mg is above the 1,000 mg single-dose maximum (70 kg: 15 mg/kg would allow 1,050)")
scenario("dose-and-time-over", "clean",
         [iron_order(mr("dose-and-time-over"), pid("clean"), "iron_sucrose", 500, 30)],
         [card("dose-limit", "warning", "update"), OBSERVE],
         "iron sucrose 500 mg over 30 min: above the 400 mg maximum, and 400 mg needs at least 150 min; one update "
         "sets both (400 mg over 150 min), so accepting it gives an order with no new warning, and no competing rate "
         "update that would put the 500 mg back")
scenario("dose-over-per-kg", "light", [fcm("dose-over-per-kg", "light", 750, 30)],
         [card("dose-limit", "warning", "update"), OBSERVE],
         "45 kg: FCM 15 mg/kg allows 675 mg, 750 mg is too much")
scenario("dose-within-per-kg", "light", [fcm("dose-within-per-kg", "light", 600, 30)], [OBSERVE],
         "45 kg: FCM 600 mg is within 15 mg/kg")
scenario("weight-error-newest", "weight-error-newest", [fcm("weight-error-newest", "weight-error-newest", 750, 30)],
         [card("dose-limit", "warning", "update"), OBSERVE],
         "the newest weight (70 kg) is entered-in-error: the valid 45 kg one is read, and 15 mg/kg allows 675 mg")
scenario("weight-implausible", "weight-implausible",
         [fcm("weight-implausible", "weight-implausible", 750, 30)], [card("dose-limit", "info"), OBSERVE],
         "adult weighing 0.45 kg on record: the weight could not be right, so no per-kg dose is offered (750 mg "
         "passes the absolute limit) and the card says the per-kg limit was not checked")
scenario("weight-unknown", "no-weight", [fcm("weight-unknown", "no-weight", 750, 30)],
         [card("dose-limit", "info"), OBSERVE],
         "no weight: the absolute limit is checked (750 mg passes) and the card says the per-kg limit was not")
scenario("weight-unknown-over-absolute", "no-weight",
         [fcm("weight-unknown-over-absolute", "no-weight", 1200, 30)],
         [card("dose-limit", "warning", "update"), OBSERVE],
         "no weight, FCM 1,200 mg: above the absolute maximum whatever the weight")

# --- premedication ----------------------------------------------------------------------------------------
scenario("diphenhydramine-premedication", "clean",
         [fcm("diphenhydramine-premedication", "clean"),
          drug_order("icds-diphenhydramine-premedication-premed", pid("clean"), "3498", "diphenhydramine", 50, "mg",
                     IV_ROUTE, "diphenhydramine 50 mg IV 30 minutes before the iron infusion (premedication)")],
         [card("premedication", "warning", "delete"), OBSERVE],
         "a diphenhydramine premedication in the draft orders is warned against, with a suggestion to remove it "
         "(H1 antihistamines mimic anaphylaxis)")
scenario("risk-several", "risk-several", [fcm("risk-several", "risk-several", 750, 15)],
         [card("infusion-rate", "warning", "update"), card("premedication", "info", "create"), OBSERVE],
         "asthma + two drug allergies, FCM at the label minimum (15 min): half the label rate (30 min) and "
         "corticosteroid premedication per protocol")
scenario("risk-one", "risk-one", [fcm("risk-one", "risk-one", 750, 15)],
         [card("infusion-rate", "info", "update"), OBSERVE],
         "asthma alone, FCM over 15 min: half the label rate (30 min) offered as an info note (a single risk "
         "factor is not interruptive), and below the protocol's two risk factors for a corticosteroid")
scenario("risk-one-already-slow", "risk-one", [fcm("risk-one-already-slow", "risk-one", 750, 30)],
         [OBSERVE], "asthma alone, FCM already over 30 min (half the label rate): no rate card")

# --- hypersensitivity history --------------------------------------------------------------------------------
scenario("severe-reaction", "severe-reaction", [fcm("severe-reaction", "severe-reaction")],
         [card("hypersensitivity-history", "critical", "delete"), BOXED],
         "anaphylaxis with hypotension after FCM: critical, with a suggestion to cancel the draft (no rate, "
         "premedication or observation suggestion that would read as permission to go ahead)")
scenario("severe-reaction-too-fast", "severe-reaction", [fcm("severe-reaction-too-fast", "severe-reaction", 750, 5)],
         [card("hypersensitivity-history", "critical", "delete"), card("infusion-rate", "info")],
         "the same severe reaction, FCM ordered over 5 min: the stop card, and beside it (not interruptive, no "
         "one-click change) that 5 min is faster than the label's 15 min, in case the order is given after all")
scenario("moderate-reaction", "moderate-reaction", [fcm("moderate-reaction", "moderate-reaction")],
         [card("hypersensitivity-history", "warning"), card("premedication", "info", "create"), OBSERVE],
         "moderate reaction (urticaria, dyspnoea) to iron sucrose: warning and corticosteroid premedication; FCM over "
         "30 min is already half its own label rate (iron sucrose's earlier mg/min is never the reference)")
scenario("mild-allergy-ferumoxytol", "mild-allergy",
         [iron_order(mr("mild-allergy-ferumoxytol"), pid("mild-allergy"), "ferumoxytol", 510, 30)],
         [card("hypersensitivity-history", "critical", "delete"), BOXED],
         "ferumoxytol after a mild allergic reaction to iron sucrose: label contraindication, critical (and, as "
         "after any critical finding, no rate, premedication or observation suggestion)")
scenario("mild-allergy-iron-sucrose", "mild-allergy",
         [iron_order(mr("mild-allergy-iron-sucrose"), pid("mild-allergy"), "iron_sucrose", 200, 30)],
         [card("infusion-rate", "warning", "update"), card("premedication", "info", "create"), OBSERVE],
         "the same mild reaction (forearm rash) with iron sucrose again: one warning, the slower rate (at most half "
         "the earlier rate) carrying the history and the note that the reaction followed this same product; "
         "premedication and observation as info (three cards, was five)")
scenario("refuted-allergy", "refuted-allergy", [fcm("refuted-allergy", "refuted-allergy")], [OBSERVE],
         "a refuted anaphylaxis record does not count")

scenario("allergy-free-text", "allergy-free-text", [fcm("allergy-free-text", "allergy-free-text")],
         [card("hypersensitivity-history", "critical", "delete")],
         "an allergy written only as text ('anaphylaxis to Venofer 2019') is read from its words: a severe earlier "
         "reaction to IV iron, so the stop card (not the slower rate and acetaminophen of a mild reaction)")
scenario("administration-note-anaphylaxis", "administration-note-anaphylaxis",
         [fcm("administration-note-anaphylaxis", "administration-note-anaphylaxis")],
         [card("hypersensitivity-history", "critical", "delete"), BOXED],
         "an earlier FCM infusion recorded as completed whose note says anaphylaxis, adrenaline given: a severe "
         "reaction, the stop card")

# --- formulation ---------------------------------------------------------------------------------------------
scenario("dextran-experienced", "dextran-experienced",
         [iron_order(mr("dextran-experienced"), pid("dextran-experienced"), "iron_dextran", 100, 30)],
         [OBSERVE], "iron dextran after an earlier iron-dextran dose: no test dose needed (the boxed warning rides on "
         "the observation card)")
scenario("fcm-recent", "fcm-recent", [fcm("fcm-recent", "fcm-recent")],
         [card("formulation", "warning", "create"), OBSERVE],
         "FCM again 36 days after the last FCM, phosphate not measured since: order a phosphate check before "
         "re-dosing within 90 days")
scenario("fcm-recent-phosphate-checked", "fcm-recent-phosphate-checked",
         [fcm("fcm-recent-phosphate-checked", "fcm-recent-phosphate-checked")], [OBSERVE],
         "FCM again 36 days after the last FCM, phosphate 3.1 measured since then: nothing more to ask")
scenario("low-phosphate", "low-phosphate", [fcm("low-phosphate", "low-phosphate")],
         [card("formulation", "warning"), OBSERVE],
         "FCM with phosphate 2.1 mg/dL: hypophosphataemia warning (correct phosphate first)")
scenario("fcm-old-dose", "fcm-old-dose", [fcm("fcm-old-dose", "fcm-old-dose")], [OBSERVE],
         "last FCM 208 days ago and phosphate 2.6 mg/dL: no phosphate card")

scenario("eu-iron-dextran-first-dose", "clean",
         [iron_order(mr("eu-iron-dextran-first-dose"), pid("clean"), "iron_dextran", 100, 60)],
         [OBSERVE],
         "EU (SmPC) jurisdiction: no test dose for a first iron-dextran dose (dropped in the EU in 2013) and no "
         "US boxed warning; 100 mg over 60 min respects the SmPC infusion time",
         jurisdiction="EU")

# --- data too old to use ---------------------------------------------------------------------------------------
scenario("stale-data", "stale-data", [fcm("stale-data", "stale-data")],
         [card("dose-limit", "info"), OBSERVE],
         "a 177-day-old weight (45 kg) and iron-replete labs are not used: the per-kg limit is reported as not "
         "checked and no iron-status card is raised on stale labs")

# --- iron status -----------------------------------------------------------------------------------------------
scenario("iron-replete", "iron-replete", [fcm("iron-replete", "iron-replete")],
         [card("iron-status", "warning"), OBSERVE],
         "ferritin 820 and TSAT 48 %: labs argue against iron now")
scenario("high-ferritin-only", "high-ferritin-only", [fcm("high-ferritin-only", "high-ferritin-only")], [OBSERVE],
         "ferritin 820 with TSAT 18 %: high ferritin alone does not trigger the iron-status card")

# --- issue 12: graded reactions, intolerances, the right slowing reference ---------------------------------------
STOP = card("hypersensitivity-history", "critical", "delete")
scenario("graded-mild", "graded-mild", [fcm("graded-mild", "graded-mild", 750, 30)],
         [card("premedication", "info", "create"), OBSERVE],
         "iron sucrose reaction the clinician graded mild (flushing): infusion pain; FCM over 30 min is already half "
         "its label rate, so only premedication and the longer observation")
scenario("graded-moderate", "graded-moderate", [fcm("graded-moderate", "graded-moderate", 750, 30)],
         [card("hypersensitivity-history", "warning"), card("premedication", "info", "create"), OBSERVE],
         "the same flushing recorded as moderate is a moderate reaction (the record is never read down): warning "
         "and corticosteroid premedication")
scenario("graded-severe", "graded-severe", [fcm("graded-severe", "graded-severe", 750, 30)],
         [STOP],
         "a reaction the clinician recorded as severe (rash only) stops the order: critical card with a cancel "
         "suggestion, and no premedication, slower-rate or observation suggestion")
scenario("graded-throat", "graded-throat", [fcm("graded-throat", "graded-throat", 750, 30)],
         [STOP],
         "throat tightness (airway involvement) is severe even when the record says moderate: stop")
scenario("intolerances", "intolerances", [fcm("intolerances", "intolerances", 750, 15)], [OBSERVE],
         "a codeine intolerance and a ferrous sulfate record with constipation only are not drug allergies: "
         "no risk factor, FCM at its label minimum is fine")
scenario("drug-allergies-two", "drug-allergies-two", [fcm("drug-allergies-two", "drug-allergies-two", 750, 15)],
         [card("infusion-rate", "info", "update"), OBSERVE],
         "allergies to two unrelated drugs are one risk factor: a slower rate is offered as an info note, "
         "not an interruptive warning")
scenario("sucrose-pain-then-fcm", "sucrose-pain",
         [fcm("sucrose-pain-then-fcm", "sucrose-pain", 1000, 15)],
         [card("infusion-rate", "warning", "update"), card("premedication", "info", "create"), OBSERVE],
         "pain during iron sucrose 100 mg over 60 min, now FCM 1,000 mg: slowed to half the FCM label rate "
         "(30 min), not from iron sucrose's 1.7 mg/min (which would give 1,200 min)")

# --- issue 12: patient suitability (age against the label, paediatric dose, pregnancy) -----------------------
SUIT_WARN = card("patient-suitability", "warning")


def child_order(name: str, patient: str, product: str, dose: float, minutes: float) -> list[dict]:
    return [iron_order(mr(name), pid(patient), product, dose, minutes)]


scenario("child-1y-iron-sucrose", "child-1y", child_order("child-1y-iron-sucrose", "child-1y", "iron_sucrose", 5, 30),
         [SUIT_WARN, OBSERVE], "1 year old: iron sucrose is labelled from 2 years (warning, no dose offered)")
scenario("child-1y-fcm", "child-1y", child_order("child-1y-fcm", "child-1y", "ferric_carboxymaltose", 150, 30),
         [OBSERVE], "1 year old, 10 kg: FCM 150 mg is the labelled 15 mg/kg from 1 year")
scenario("child-2y-iron-sucrose-over", "child-2y",
         child_order("child-2y-iron-sucrose-over", "child-2y", "iron_sucrose", 100, 30),
         [card("patient-suitability", "warning", "update"), OBSERVE],
         "2 years, 12 kg: iron sucrose 100 mg is above 0.5 mg/kg: update to 6 mg")
scenario("child-2y-iron-sucrose-ok", "child-2y",
         child_order("child-2y-iron-sucrose-ok", "child-2y", "iron_sucrose", 6, 30), [OBSERVE],
         "2 years, 12 kg: iron sucrose 6 mg (0.5 mg/kg) is the labelled paediatric dose")
scenario("child-4y-iron-sucrose-300", "child-4y",
         child_order("child-4y-iron-sucrose-300", "child-4y", "iron_sucrose", 300, 90),
         [card("patient-suitability", "warning", "update"), OBSERVE],
         "4 years, 15 kg: iron sucrose 300 mg (20 mg/kg) is forty times the paediatric dose: update to 7.4 mg "
         "(0.37 mL, measured with a 1 mL syringe)")
scenario("child-4y-fcm-750", "child-4y-16kg",
         child_order("child-4y-fcm-750", "child-4y-16kg", "ferric_carboxymaltose", 750, 30),
         [card("patient-suitability", "warning", "update"), card("dose-limit", "info"), OBSERVE],
         "4 years, 16 kg: FCM 750 mg is above 15 mg/kg: one update, to 240 mg (4.8 mL), on the suitability card; "
         "the dose card names the same dose and offers no second change")
scenario("child-4y-no-weight", "child-4y-no-weight",
         child_order("child-4y-no-weight", "child-4y-no-weight", "iron_sucrose", 300, 90), [SUIT_WARN, OBSERVE],
         "4 years, no weight: the per-kg dose could not be checked, and 300 mg is above the 100 mg paediatric cap")
scenario("child-5y-sfgc", "child-5y",
         child_order("child-5y-sfgc", "child-5y", "sodium_ferric_gluconate", 27, 60), [SUIT_WARN, OBSERVE],
         "5 years: sodium ferric gluconate is labelled from 6 years")
scenario("child-6y-sfgc-ok", "child-6y",
         child_order("child-6y-sfgc-ok", "child-6y", "sodium_ferric_gluconate", 30, 60), [OBSERVE],
         "6 years, 20 kg: sodium ferric gluconate 30 mg is the labelled 1.5 mg/kg")
scenario("child-6y-sfgc-over", "child-6y",
         child_order("child-6y-sfgc-over", "child-6y", "sodium_ferric_gluconate", 62.5, 60),
         [card("patient-suitability", "warning", "update"), OBSERVE],
         "6 years, 20 kg: sodium ferric gluconate 62.5 mg is above 1.5 mg/kg: update to 30 mg")
scenario("teen-17y-ferumoxytol", "teen-17y",
         child_order("teen-17y-ferumoxytol", "teen-17y", "ferumoxytol", 510, 30), [SUIT_WARN, OBSERVE],
         "17 years: ferumoxytol is not established under 18")
scenario("teen-17y-fcm", "teen-17y", child_order("teen-17y-fcm", "teen-17y", "ferric_carboxymaltose", 750, 30),
         [OBSERVE], "17 years, 60 kg: FCM 750 mg is the labelled paediatric dose (at most 750 mg)")
scenario("adult-18y-ferumoxytol", "adult-18y",
         child_order("adult-18y-ferumoxytol", "adult-18y", "ferumoxytol", 510, 30), [OBSERVE],
         "18 years: an adult; ferumoxytol as labelled")

PREGNANT_INFO = card("patient-suitability", "info")
for _name, _expected, _why in (
        ("pregnant-lmp-8w", [SUIT_WARN, OBSERVE],
         "last period 8 weeks ago: first trimester, IV iron should not be used (EMA 2013 / MHRA); oral iron instead"),
        ("pregnant-edd-21w", [PREGNANT_INFO, OBSERVE],
         "due date gives 21 weeks: second trimester, info with the label text"),
        ("pregnant-13w", [SUIT_WARN, OBSERVE], "13 weeks 1 day: still the first trimester"),
        ("pregnant-14w", [PREGNANT_INFO, OBSERVE], "14 weeks 1 day: second trimester"),
        ("pregnant-undated", [PREGNANT_INFO, OBSERVE],
         "pregnant with nothing dating it: info asking for the gestational age before IV iron")):
    scenario(_name, _name, [fcm(_name, _name, 750, 30)], _expected, _why)

# --- pregnancy written in words; dating carried forward past 42 weeks (postterm) ------------------------------
for _name, _expected, _why in (
        ("pregnant-ga-text-9w", [SUIT_WARN, OBSERVE],
         'gestational age written "9+3 weeks": read as text, first trimester: IV iron should not be used'),
        ("pregnant-status-text", [PREGNANT_INFO, OBSERVE],
         'pregnancy status written "Pregnant": a current pregnancy of unknown age, info asking for the trimester'),
        ("not-pregnant-status-text", [OBSERVE], 'pregnancy status written "Not pregnant": no pregnancy card'),
        ("pregnancy-status-unread", [PREGNANT_INFO, OBSERVE],
         'pregnancy status written "possibly pregnant": not guessed; info that the record could not be read'),
        ("pregnant-ga-carried-37w", [PREGNANT_INFO, OBSERVE],
         "gestational age 9 weeks recorded 200 days ago: 37.6 weeks today, before postterm: still current"),
        ("pregnancy-ga-postterm", [OBSERVE],
         "gestational age 20 weeks recorded 200 days ago: 48.6 weeks today, past 42 weeks: that pregnancy has "
         "ended, no pregnancy card")):
    scenario(_name, _name, [fcm(_name, _name, 750, 30)], _expected, _why)

# --- issue 12: dose intervals, the day's total with the test dose, duplicate orders ---------------------------
for _days in (2, 3, 8, 9):
    _name = f"ferumoxytol-after-{_days}-days"
    scenario(_name, _name, [iron_order(mr(_name), pid(_name), "ferumoxytol", 510, 30)],
             {2: [card("dose-limit", "warning"), OBSERVE], 9: [card("dose-limit", "info"), OBSERVE]}
             .get(_days, [OBSERVE]),
             f"second ferumoxytol 510 mg {_days} days after the first: the label gives 3 to 8 days "
             + {2: "(too soon: warning, no dose offered)", 9: "(later than the window: info)"}.get(_days, "(allowed)"))
_TD = dict(_TEST_DOSE, id="icds-dextran-100-with-test-dose-td",
           identifier=[{"system": "urn:iron-cds:suggested-order",
                        "value": f"formulation/{mr('dextran-100-with-test-dose')}/test-dose"}])
scenario("dextran-100-with-test-dose", "clean",
         [iron_order(mr("dextran-100-with-test-dose"), pid("clean"), "iron_dextran", 100, 30), _TD],
         [card("dose-limit", "warning", "update"), OBSERVE],
         "first iron-dextran dose 100 mg beside its 25 mg test dose: 125 mg that day is above the label's 100 mg a "
         "day, so the dose is lowered (rest the next day); the test dose itself gets no card")
scenario("two-iv-iron-orders", "clean",
         [fcm("two-iv-iron-orders", "clean", 750, 30),
          iron_order("icds-two-iv-iron-orders-mr-2", pid("clean"), "iron_sucrose", 200, 30)],
         [card("dose-limit", "warning"), OBSERVE, OBSERVE],
         "FCM and iron sucrose in the same draft orders: one warning (on the first) naming both")
