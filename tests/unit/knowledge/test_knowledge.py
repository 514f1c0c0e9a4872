"""The reviewed knowledge: packaged data validates; broken copies fail with lines naming file and field."""

from __future__ import annotations

import pytest
import yaml

from cds_service.cds_hooks.discovery import prefetch_keys
from cds_service.engine import topics
from cds_service.fhir.templates import PREFETCH_KEYS
from cds_service.knowledge import check
from cds_service.knowledge.loader import KnowledgeError, load_knowledge, validate
from support.paths import copy_of_cards

PRODUCTS = ("iron_sucrose", "ferric_carboxymaltose", "ferric_derisomaltose", "ferumoxytol", "sodium_ferric_gluconate",
            "iron_dextran")


@pytest.fixture
def cards(tmp_path):
    """A private copy of the cards directory to break."""
    return copy_of_cards(tmp_path)


def edit(directory, name, change):
    path = directory / name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def problems(directory, override=None):
    _, lines = validate(override, directory)
    return lines


# --- the packaged data -----------------------------------------------------------------------

def test_packaged_knowledge_validates_without_problems():
    data, lines = validate()
    assert lines == []
    counts = check.count_statuses(data)
    assert counts["confirmed"] > 0 and counts["unconfirmed-conservative"] > 0


def test_packaged_knowledge_has_all_six_products_with_us_and_eu_labels():
    knowledge = load_knowledge()
    assert set(knowledge.products) == set(PRODUCTS)
    for product in knowledge.products.values():
        assert set(product.labels) == {"US", "EU"}
        assert "IN" in product.rxnorm.values()
        assert product.concentration_mg_per_ml.value > 0
        for label in product.labels.values():
            assert label.observation_minutes.value >= 30
            assert label.time_bands


def test_label_facts_the_engine_relies_on():
    products = load_knowledge().products
    dextran_us = products["iron_dextran"].labels["US"]
    assert dextran_us.test_dose["required"] is True
    assert (dextran_us.test_dose["dose_mg"], dextran_us.test_dose["wait_minutes"]) == (25, 60)
    assert products["iron_dextran"].labels["EU"].test_dose["required"] is False
    assert products["iron_dextran"].is_dextran and not products["iron_sucrose"].is_dextran
    fer_us = products["ferumoxytol"].labels["US"]
    assert {c["code"] for c in fer_us.contraindications} >= {"product-hypersensitivity", "prior-iv-iron-allergy"}
    assert fer_us.boxed_warning is not None
    assert "mri-interference" in {r["code"] for r in fer_us.risks}
    assert products["ferumoxytol"].labels["EU"].available is False
    for key in PRODUCTS:
        if key != "ferumoxytol":
            eu = {c["code"] for c in products[key].labels["EU"].contraindications}
            assert "serious-hypersensitivity-other-parenteral-iron" in eu, key
    fcm_risks = {r["code"]: r for r in products["ferric_carboxymaltose"].labels["US"].risks}
    assert fcm_risks["hypophosphataemia"]["redose_within_days"] == 90
    eu_bands = products["ferric_carboxymaltose"].labels["EU"].dose_bands
    assert {b.method for b in eu_bands} == {"push", "infusion"}


def test_no_code_or_name_identifies_two_products():
    seen: dict[str, str] = {}
    for key, product in load_knowledge().products.items():
        for claim in list(product.rxnorm) + [n.lower() for n in product.names + product.brands]:
            assert seen.setdefault(claim, key) == key, claim


def test_prefetch_templates_read_the_code_keys():
    knowledge = load_knowledge()
    templates = {p.key: p.template for p in prefetch_keys(knowledge)}
    assert "2777-1" in templates["labs"] and "29463-7" in templates["weight"]
    assert "24909" in templates["ironAdministrations"]  # iron sucrose IN


def test_protocol_and_premedications_are_complete():
    knowledge = load_knowledge()
    protocol = knowledge.protocol
    assert protocol.infusion_pain.pain_score_threshold.value == 4
    assert protocol.observation.service_code.code
    regimens = protocol.premedication_regimens
    for keys in (regimens.infusion_pain, regimens.moderate_reaction, regimens.multiple_risk_factors):
        assert keys and all(key in knowledge.premedications for key in keys)
    assert knowledge.premedications["methylprednisolone_iv"].route_code == "47625008"
    assert all("diphenhydramine" not in spec.display.lower() for spec in knowledge.premedications.values())


def test_load_knowledge_is_cached_per_directory():
    assert load_knowledge() is load_knowledge()


# --- broken copies ---------------------------------------------------------------------------

def test_zero_minimum_time_is_reported_with_file_and_field(cards):
    edit(cards, "products.yaml",
         lambda d: d["products"]["iron_sucrose"]["labels"]["US"]["time_bands"][0].update(min_minutes=0))
    lines = problems(cards)
    expected = "products.yaml: products.iron_sucrose.labels.US.time_bands[0].min_minutes: Must be greater than 0."
    assert any(line.endswith(expected) for line in lines), lines
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(directory=cards)
    assert "time_bands[0].min_minutes" in str(err.value)


def test_unknown_source_id_is_reported(cards):
    edit(cards, "protocol.yaml", lambda d: d["protocol"]["observation"]["default_minutes"].update(source="S-MISSING"))
    lines = problems(cards)
    expected = "protocol.yaml: protocol.observation.default_minutes.source: Unknown source id 'S-MISSING'"
    assert any(expected in line for line in lines), lines


def test_every_problem_is_collected_not_just_the_first(cards):
    def breaks(d):
        d["products"]["ferumoxytol"]["labels"]["US"]["max_single_dose"]["value"] = -510
        d["products"]["iron_dextran"]["labels"]["EU"]["observation_minutes"]["status"] = "probably"
    edit(cards, "products.yaml", breaks)
    edit(cards, "sources.yaml", lambda d: d["sources"]["S-EMA"].update(accessed="25/11/2026"))
    lines = problems(cards)
    assert len(lines) == 3, lines
    assert any(
        "products.ferumoxytol.labels.US.max_single_dose.value: Must be greater than 0." in line for line in lines)
    assert any("products.iron_dextran.labels.EU.observation_minutes.status: Must be one of" in line for line in lines)
    assert any("sources.yaml: sources.S-EMA.accessed: Use an ISO date" in line for line in lines)


def test_bad_yaml_names_the_file_and_line(cards):
    (cards / "codes.yaml").write_text("labs:\n  body_weight: {loinc: 29463-7\n", encoding="utf-8")
    lines = problems(cards)
    assert len(lines) == 1 and "codes.yaml: not valid YAML at line" in lines[0]


def test_missing_file_is_reported(cards):
    (cards / "sources.yaml").unlink()
    assert any("sources.yaml: cannot read" in line for line in problems(cards))


def test_misspelt_key_is_refused(cards):
    edit(cards, "products.yaml",
         lambda d: d["products"]["iron_sucrose"]["labels"]["US"]["time_bands"][0].update(min_minute=5))
    assert any("time_bands[0].min_minute: Unknown field." in line for line in problems(cards))


def test_product_without_eu_label_is_refused(cards):
    edit(cards, "products.yaml", lambda d: d["products"]["ferric_derisomaltose"]["labels"].pop("EU"))
    assert any("products.ferric_derisomaltose.labels: Missing the EU label" in line for line in problems(cards))


def test_regimen_naming_an_unknown_premedication_is_refused(cards):
    edit(cards, "protocol.yaml",
         lambda d: d["protocol"]["premedication_regimens"].update(infusion_pain=["paracetamol_po"]))
    assert any("protocol.premedication_regimens.infusion_pain[0]: Unknown premedication 'paracetamol_po'" in line
               for line in problems(cards))


def test_time_bands_out_of_order_are_refused(cards):
    def swap(d):
        bands = d["products"]["iron_sucrose"]["labels"]["US"]["time_bands"]
        bands[2], bands[3] = bands[3], bands[2]  # infusion 300 mg band before the 200 mg band
    edit(cards, "products.yaml", swap)
    expected = "products.iron_sucrose.labels.US.time_bands[3].up_to_mg: Must be greater than the previous infusion band"
    assert any(expected in line for line in problems(cards))


def test_larger_dose_needing_less_time_is_refused(cards):
    edit(cards, "products.yaml",
         lambda d: d["products"]["iron_sucrose"]["labels"]["US"]["time_bands"][3].update(min_minutes=10))
    assert any("time_bands[3].min_minutes: A larger dose cannot need less time" in line for line in problems(cards))


def test_dose_band_weight_range_must_be_sane(cards):
    edit(cards, "products.yaml",
         lambda d: d[
             "products"]["iron_dextran"]["labels"]["US"]["dose_bands"][1].update(min_weight_kg=10, max_weight_kg=5))
    assert any(
        "products.iron_dextran.labels.US.dose_bands[1].max_weight_kg: Must be greater than min_weight_kg." in line
               for line in problems(cards))


def test_rxcui_claimed_by_two_products_is_refused(cards):
    edit(cards, "products.yaml", lambda d: d["products"]["iron_dextran"]["codes"]["rxnorm"].update({"24909": "SCD"}))
    assert any("RxCUI '24909' is also listed for iron_sucrose" in line for line in problems(cards))


def test_wording_override_reason_needs_a_display(cards):
    def breaks(d):
        d["wording"].setdefault("topics", {}).setdefault("observation-period", {})["override_reasons"] = [{"code": "x"}]
    edit(cards, "wording.yaml", breaks)
    assert any("wording.yaml: wording.topics.observation-period.override_reasons[0].display: Missing data" in line
               for line in problems(cards))


def test_wording_template_with_a_stray_brace_is_refused(cards):
    edit(cards, "wording.yaml", lambda d: d["wording"].update(service_label="iron-cds {oops"))
    assert any("wording.yaml: wording.service_label: Not a valid template" in line for line in problems(cards))


def test_keywords_must_be_lower_case(cards):
    edit(cards, "codes.yaml", lambda d: d["risk_factors"]["asthma"]["keywords"].append("Asthma"))
    expected = "codes.yaml: risk_factors.asthma.keywords[2]: Keywords are matched in lower case"
    assert any(expected in line for line in problems(cards))


@pytest.mark.parametrize("minutes, ok", [(30, True), (29, False)])
def test_observation_default_never_below_30_minutes(cards, minutes, ok):
    edit(cards, "protocol.yaml", lambda d: d["protocol"]["observation"]["default_minutes"].update(value=minutes))
    lines = problems(cards)
    assert (lines == []) is ok, lines


@pytest.mark.parametrize("factor, ok", [(1.0, True), (0.01, True), (0, False), (1.01, False)])
def test_rate_factor_is_a_fraction(cards, factor, ok):
    edit(cards, "protocol.yaml", lambda d: d["protocol"]["rate_after_reaction_factor"].update(value=factor))
    assert (problems(cards) == []) is ok


# --- values the engine used to hard-code, now cited data ---------------------------------------

def test_moved_values_are_in_the_packaged_data_with_sources():
    knowledge = load_knowledge()
    protocol, codes = knowledge.protocol, knowledge.codes
    assert protocol.hypotension.systolic_max_mmhg.value == 90
    assert protocol.hypotension.fall_mmhg.value == 30
    assert {protocol.hypotension.systolic_max_mmhg.source, protocol.hypotension.fall_mmhg.source} == {"S-ASH23"}
    assert protocol.hypotension.baseline_window_hours.value == 24
    pregnancy = protocol.data_recency_days.pregnancy
    assert (pregnancy.value, pregnancy.status) == (300, "institutional")
    assert "iv iron" in codes["iv_iron_class_names"]["names"]
    assert codes["routes"]["intramuscular"]["snomed"] == {"78421000": "Intramuscular route"}
    assert codes["routes"]["subcutaneous"]["snomed"] == {"34206005": "Subcutaneous route"}
    negation = codes["negation"]
    assert negation["source"] == "S-NEGEX" and negation["status"] == "institutional"
    assert "no" in negation["pre"] and "ruled out" in negation["post"] and negation["window_words"] >= 1
    assert "doi.org/10.1006/jbmi.2001.1029" in knowledge.sources["S-NEGEX"].url


def _drop(path):
    def change(d):
        node = d
        for key in path[:-1]:
            node = node[key]
        node.pop(path[-1])
    return change


@pytest.mark.parametrize("name,path,message", [
    ("protocol.yaml", ("protocol", "hypotension", "fall_mmhg"),
     "protocol.hypotension.fall_mmhg: Missing data for required field."),
    ("protocol.yaml", ("protocol", "hypotension"), "protocol.hypotension: Missing data for required field."),
    ("protocol.yaml", ("protocol", "data_recency_days", "pregnancy"),
     "protocol.data_recency_days.pregnancy: Missing data"),
    ("codes.yaml", ("negation",), "codes.yaml: negation: Missing data for required field."),
    ("codes.yaml", ("iv_iron_class_names",), "codes.yaml: iv_iron_class_names: Missing data for required field."),
    ("codes.yaml", ("routes", "intramuscular"), "codes.yaml: routes: Missing: intramuscular."),
    ("codes.yaml", ("routes", "subcutaneous"), "codes.yaml: routes: Missing: subcutaneous."),
])
def test_moved_values_are_required(cards, name, path, message):
    edit(cards, name, _drop(path))
    lines = problems(cards)
    assert any(message in line for line in lines), lines


@pytest.mark.parametrize("key,value,ok", [
    ("systolic_max_mmhg", 90, True), ("systolic_max_mmhg", 120, True), ("systolic_max_mmhg", 900, False),
    ("systolic_max_mmhg", 59, False), ("fall_mmhg", 30, True), ("fall_mmhg", 3, False),
    ("baseline_window_hours", 24, True),
    ("baseline_window_hours", 0, False), ("baseline_window_hours", 73, False),
])
def test_hypotension_values_must_be_plausible(cards, key, value, ok):
    edit(cards, "protocol.yaml", lambda d: d["protocol"]["hypotension"][key].update(value=value))
    lines = problems(cards)
    assert (lines == []) is ok, lines
    if not ok:
        assert any(f"protocol.hypotension.{key}.value: Must be" in line for line in lines), lines


def test_hypotension_fact_needs_a_known_source(cards):
    edit(cards, "protocol.yaml", lambda d: d["protocol"]["hypotension"]["systolic_max_mmhg"].update(source="S-ASH"))
    assert any(
        "protocol.hypotension.systolic_max_mmhg.source: Unknown source id 'S-ASH'" in line for line in problems(cards))


@pytest.mark.parametrize("window,ok", [(1, True), (8, True), (0, False), (9, False), ("4", False)])
def test_negation_window_is_short(cards, window, ok):
    edit(cards, "codes.yaml", lambda d: d["negation"].update(window_words=window))
    lines = problems(cards)
    assert (lines == []) is ok, lines


def test_negation_pseudo_phrase_must_hold_a_cue(cards):
    edit(cards, "codes.yaml", lambda d: d["negation"]["pseudo"].append("cannot exclude"))
    assert any(
        "codes.yaml: negation.pseudo[" in line and "must contain a pre or post cue" in line for line in problems(cards))


def test_negation_cues_are_lower_case_and_pre_cues_not_empty(cards):
    def breaks(d):
        d["negation"]["post"].append("Ruled Out")
        d["negation"]["pre"] = []
    edit(cards, "codes.yaml", breaks)
    lines = problems(cards)
    assert any("negation.post[" in line and "lower case" in line for line in lines), lines
    assert any("negation.pre: Shorter than minimum length 1." in line for line in lines), lines


def test_unquoted_yaml_no_is_refused_as_a_cue(cards):
    # YAML 1.1 reads a bare `no` as false: the cue would silently vanish, so it must fail the check
    path = cards / "codes.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('pre: ["no", not,', "pre: [no, not,", 1), encoding="utf-8")
    assert any("negation.pre[0]: Not a valid string." in line for line in problems(cards))


def test_route_groups_are_checked(cards):
    def breaks(d):
        d["routes"]["Rectal"] = d["routes"].pop("other_non_iv")
        d["routes"]["subcutaneous"]["snomed"] = {"SC-1": "Subcutaneous route"}
    edit(cards, "codes.yaml", breaks)
    lines = problems(cards)
    assert any("routes: key 'Rectal'" in line or "routes.Rectal" in line for line in lines), lines
    assert any("routes.subcutaneous.snomed" in line and "digits" in line for line in lines), lines


def test_class_names_need_a_citation_and_lower_case(cards):
    def breaks(d):
        d["iv_iron_class_names"].pop("source")
        d["iv_iron_class_names"]["names"].append("IV Iron")
    edit(cards, "codes.yaml", breaks)
    lines = problems(cards)
    assert any("iv_iron_class_names.source: Missing data for required field." in line for line in lines), lines
    assert any("iv_iron_class_names.names[" in line and "lower case" in line for line in lines), lines


# --- the topic registry: a rule's card needs its wording --------------------------------------


@pytest.mark.parametrize("topic", topics.codes())
def test_a_registered_topic_without_wording_is_refused(cards, topic):
    edit(cards, "wording.yaml", lambda d: d["wording"]["topics"].pop(topic))
    lines = problems(cards)
    assert any(f"wording.topics.{topic}: Missing the wording of the card topic {topic!r}" in line
               for line in lines), lines


def test_a_registered_topic_without_a_display_is_refused(cards):
    edit(cards, "wording.yaml", lambda d: d["wording"]["topics"]["dose-limit"].pop("display"))
    assert any("wording.topics.dose-limit.display: Missing the display name" in line for line in problems(cards))


@pytest.mark.parametrize("key", PREFETCH_KEYS)
def test_every_prefetch_key_needs_its_missing_data_wording(cards, key):
    edit(cards, "wording.yaml", lambda d: d["wording"]["topics"]["history-unavailable"]["missing_data"].pop(key))
    expected = f"wording.topics.history-unavailable.missing_data.{key}: Say what the checks lose"
    assert any(expected in line for line in problems(cards))


def test_wording_for_an_unregistered_topic_is_not_required(cards):
    assert problems(cards) == []


def test_a_products_routes_name_known_route_groups_and_include_iv(cards):
    assert problems(cards) == []

    def breaks(d):
        d["products"]["iron_sucrose"]["routes"]["value"] = ["intramuscular", "intramusclar"]
    edit(cards, "products.yaml", breaks)
    lines = problems(cards)
    assert any("iron_sucrose.routes.value" in line and "'intramusclar'" in line for line in lines), lines
    assert any("iron_sucrose.routes.value" in line and "must include 'iv'" in line for line in lines), lines


def test_injection_only_names_are_the_products_own_and_cited(cards):
    knowledge = load_knowledge()
    for key in ("iron_sucrose", "ferric_carboxymaltose", "ferric_derisomaltose", "ferumoxytol",
                "sodium_ferric_gluconate", "iron_dextran"):
        fact = knowledge.products[key].injection_only_names
        assert fact is not None and fact.value and fact.source in knowledge.sources
    assert "iron-dextran complex" not in knowledge.products["iron_dextran"].injection_only_names.value

    def breaks(d):
        d["products"]["iron_sucrose"]["injection_only_names"]["value"].append("Venofar")
    edit(cards, "products.yaml", breaks)
    lines = problems(cards)
    assert any("iron_sucrose.injection_only_names.value" in line and "'Venofar'" in line for line in lines), lines


def test_a_test_dose_route_is_one_of_the_products_routes(cards):
    assert load_knowledge().products["iron_dextran"].labels["US"].test_dose["routes"] == ["iv", "intramuscular"]

    def breaks(d):
        d["products"]["iron_dextran"]["labels"]["US"]["test_dose"]["routes"] = ["iv", "subcutaneous"]
    edit(cards, "products.yaml", breaks)
    lines = problems(cards)
    assert any("test_dose.routes" in line and "'subcutaneous'" in line for line in lines), lines
