"""Institution overrides (IRON_CDS_KNOWLEDGE) and the check-knowledge command."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cds_service.cli import main
from cds_service.knowledge.loader import KnowledgeError, load_knowledge
from support.paths import copy_of_cards


@pytest.fixture
def override(tmp_path):
    def _write(text: str):
        path = tmp_path / "hospital.yaml"
        path.write_text(text, encoding="utf-8")
        return str(path)

    return _write


VALID = """
protocol:
  observation:
    after_reaction_minutes: {value: 90, unit: min, source: S-ISSUE-PROTOCOL, status: institutional, note: local choice}
  lab_thresholds:
    ferritin_high_ng_ml: {value: 800, unit: ng/mL, source: S-KDIGO, status: institutional}
"""


def test_override_changes_a_protocol_value_and_is_named(override):
    path = override(VALID)
    knowledge = load_knowledge(path)
    assert knowledge.overridden_by == path
    assert knowledge.protocol.observation.after_reaction_minutes.value == 90
    assert knowledge.protocol.lab_thresholds.ferritin_high_ng_ml.value == 800
    # deep merge: what the override does not mention is kept
    assert knowledge.protocol.observation.default_minutes.value == 30
    assert knowledge.protocol.lab_thresholds.tsat_high_percent.value == 30
    assert load_knowledge().overridden_by is None


def test_invalid_override_is_refused_naming_the_override_file(override):
    path = override("protocol:\n  observation:\n"
                    "    default_minutes: {value: 15, unit: min, source: S-EMA, status: institutional}\n")
    with pytest.raises(KnowledgeError) as err:
        load_knowledge(path)
    assert err.value.messages == [
        f"{path} (override of protocol.yaml): protocol.observation.default_minutes.value: "
        "Must be at least 30 (every label and the EMA ask for 30 minutes after each dose)."
    ]


def test_override_citing_an_unknown_source_is_refused(override):
    path = override("protocol:\n  weekly_window_days: {value: 7, unit: d, source: S-OUR-SOP, status: institutional}\n")
    with pytest.raises(KnowledgeError, match=r"override of protocol.yaml\): "
                                             r"protocol.weekly_window_days.source: Unknown source id 'S-OUR-SOP'"):
        load_knowledge(path)


def test_override_can_add_its_own_source(override):
    path = override("sources:\n  S-OUR-SOP: {title: 'St Elsewhere IV iron SOP v3', url: null, accessed: '2026-11-01'}\n"
                    "protocol:\n  weekly_window_days: {value: 7, unit: d, source: S-OUR-SOP, status: institutional}\n")
    assert load_knowledge(path).protocol.weekly_window_days.source == "S-OUR-SOP"


def test_override_with_an_unknown_section_is_refused(override):
    path = override("protcol:\n  weekly_window_days: {value: 7}\n")
    with pytest.raises(KnowledgeError, match=r"protcol: Unknown section"):
        load_knowledge(path)


def test_override_that_is_not_a_mapping_is_refused(override):
    with pytest.raises(KnowledgeError, match="must be a mapping of sections"):
        load_knowledge(override("- just\n- a list\n"))


# --- the command ---------------------------------------------------------------------------

def test_check_knowledge_passes_on_packaged_data(monkeypatch):
    monkeypatch.delenv("IRON_CDS_KNOWLEDGE", raising=False)
    result = CliRunner().invoke(main, ["check-knowledge"])
    assert result.exit_code == 0, result.output
    assert "knowledge OK: version " in result.output and "; 6 products" in result.output
    assert "unconfirmed-conservative" in result.output


def test_check_knowledge_fails_on_a_broken_copy_with_the_message(tmp_path, monkeypatch):
    monkeypatch.delenv("IRON_CDS_KNOWLEDGE", raising=False)
    copy = copy_of_cards(tmp_path)
    path = copy / "products.yaml"
    text = path.read_text(encoding="utf-8")
    broken = text.replace('observation_minutes: {value: 30, unit: min, source: S-FER-US',
                          'observation_minutes: {value: 30, unit: min, source: S-FER-USA', 1)
    assert broken != text
    path.write_text(broken, encoding="utf-8")
    result = CliRunner().invoke(main, ["check-knowledge", "--dir", str(copy)])
    assert result.exit_code == 1
    assert "knowledge check FAILED (1 problem)" in result.output
    expected = "products.yaml: products.ferumoxytol.labels.US.observation_minutes.source: Unknown source id 'S-FER-USA'"
    assert expected in result.output


BAD_OVERRIDE = """
protocol:
  observation:
    default_minutes: {value: 15, unit: min, source: S-NOWHERE, status: institutional}
  weekly_window_days: {value: -1, unit: d, source: S-EMA, status: institutional}
"""


def test_check_knowledge_with_a_bad_file_exits_1_listing_every_problem_without_a_traceback(override, monkeypatch):
    monkeypatch.delenv("IRON_CDS_KNOWLEDGE", raising=False)
    path = override(BAD_OVERRIDE)
    result = CliRunner().invoke(main, ["check-knowledge", "--file", path])
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)          # a clean exit, not an escaped exception
    assert "Traceback" not in result.output and "Error" not in result.output.split("FAILED")[0]
    lines = result.output.splitlines()
    assert lines[0].startswith("knowledge check FAILED (") and "knowledge OK" not in result.output
    problems = [line.strip() for line in lines[1:]]
    assert len(problems) >= 3 and all(line.startswith(f"{path} (override of protocol.yaml)") for line in problems)
    assert any("observation.default_minutes.source: Unknown source id 'S-NOWHERE'" in line for line in problems)
    assert any("observation.default_minutes.value: Must be at least 30" in line for line in problems)
    assert any("weekly_window_days.value" in line for line in problems)


def test_check_knowledge_with_an_unreadable_file_exits_1_naming_it(tmp_path, monkeypatch):
    monkeypatch.delenv("IRON_CDS_KNOWLEDGE", raising=False)
    missing = tmp_path / "nowhere.yaml"
    result = CliRunner().invoke(main, ["check-knowledge", "--file", str(missing)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "knowledge check FAILED (1 problem)" in result.output and str(missing) in result.output


def test_check_knowledge_reads_the_override_from_the_environment(override, monkeypatch):
    path = override("protocol:\n  rate_after_reaction_factor: "
                    "{value: 2, source: S-LOCAL-PROTOCOL, status: institutional}\n")
    monkeypatch.setenv("IRON_CDS_KNOWLEDGE", path)
    result = CliRunner().invoke(main, ["check-knowledge"])
    assert result.exit_code == 1
    assert f"{path} (override of protocol.yaml): protocol.rate_after_reaction_factor.value:" in result.output


def test_check_knowledge_names_a_valid_override(override, monkeypatch):
    monkeypatch.delenv("IRON_CDS_KNOWLEDGE", raising=False)
    path = override(VALID)
    result = CliRunner().invoke(main, ["check-knowledge", "--file", path])
    assert result.exit_code == 0, result.output
    assert f"override applied: {path}" in result.output


def test_check_knowledge_validates_the_hypotension_and_negation_data(tmp_path, monkeypatch):
    monkeypatch.delenv("IRON_CDS_KNOWLEDGE", raising=False)
    copy = copy_of_cards(tmp_path)
    protocol = copy / "protocol.yaml"
    text = protocol.read_text(encoding="utf-8")
    broken = text.replace("systolic_max_mmhg: {value: 90,", "systolic_max_mmhg: {value: 900,", 1)
    assert broken != text
    protocol.write_text(broken, encoding="utf-8")
    codes = copy / "codes.yaml"
    text = codes.read_text(encoding="utf-8")
    broken = text.replace("  window_words: 4\n", "  window_words: 40\n", 1)
    assert broken != text
    codes.write_text(broken, encoding="utf-8")
    result = CliRunner().invoke(main, ["check-knowledge", "--dir", str(copy)])
    assert result.exit_code == 1
    assert "knowledge check FAILED (2 problems)" in result.output
    assert "protocol.yaml: protocol.hypotension.systolic_max_mmhg.value: Must be between 60 and 120" in result.output
    assert "codes.yaml: negation.window_words:" in result.output


def test_override_can_lengthen_the_baseline_window(override):
    path = override("protocol:\n  hypotension:\n    baseline_window_hours: "
                    "{value: 48, unit: h, source: S-ISSUE-PROTOCOL, status: institutional}\n")
    knowledge = load_knowledge(path)
    assert knowledge.protocol.hypotension.baseline_window_hours.value == 48
    assert knowledge.protocol.hypotension.systolic_max_mmhg.value == 90   # merged, not replaced
