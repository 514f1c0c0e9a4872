"""Sign-off of the knowledge files: meta blocks, check-knowledge's warning and checks, the version in force."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from cds_service.cli import main
from cds_service.knowledge import signoff
from cds_service.knowledge.loader import FILES, KnowledgeError, load_knowledge
from support.paths import copy_of_cards

META_LINE = re.compile(r"^meta: .*\n", re.MULTILINE)
CHANGE = ("protocol:\n  observation:\n"
          "    after_reaction_minutes: {value: 90, unit: min, source: S-LOCAL-PROTOCOL, status: institutional}\n")


@pytest.fixture
def working_copy(tmp_path):
    """A pharmacist's working copy of cards/."""
    return copy_of_cards(tmp_path)


def _set_meta(path, line: str | None) -> None:
    text = META_LINE.sub("", path.read_text(encoding="utf-8"), count=1)
    path.write_text((line + "\n" if line else "") + text, encoding="utf-8")


def _check(*args):
    return CliRunner().invoke(main, ["check-knowledge", *args])


def test_every_packaged_file_is_signed_and_one_version_is_in_force():
    knowledge = load_knowledge()
    assert set(knowledge.signoffs) == set(FILES)
    for name, meta in knowledge.signoffs.items():
        assert meta and meta["reviewed_by"] and meta["reviewed_on"] and meta["version"], name
    assert knowledge.version == knowledge.signoffs["products.yaml"]["version"]
    assert knowledge.warnings == ()


def test_check_knowledge_warns_about_an_unsigned_file_but_passes(working_copy, monkeypatch):
    monkeypatch.delenv("IRON_CDS_KNOWLEDGE", raising=False)
    _set_meta(working_copy / "protocol.yaml", None)
    result = _check("--dir", str(working_copy))
    assert result.exit_code == 0, result.output
    assert "protocol.yaml: not signed off" in result.output
    assert "products.yaml: not signed off" not in result.output
    knowledge = load_knowledge(directory=working_copy)
    assert knowledge.signoffs["protocol.yaml"] is None and "(partly unsigned)" in knowledge.version


@pytest.mark.parametrize("meta, field", [
    ('meta: {reviewed_on: "2026-12-04", version: "1"}', "meta.reviewed_by"),
    ('meta: {reviewed_by: "A. Pharmacist", reviewed_on: "4/12/2026", version: "1"}', "meta.reviewed_on"),
    ('meta: {reviewed_by: "A. Pharmacist", reviewed_on: "2026-02-30", version: "1"}', "meta.reviewed_on"),
    ('meta: {reviewed_by: "A. Pharmacist", reviewed_on: "2026-12-04", version: "v 1"}', "meta.version"),
    ('meta: {reviewed_by: "A. Pharmacist", reviewed_on: "2026-12-04", version: "1", signed: true}', "meta.signed"),
    ("meta: signed by me", "meta"),
])
def test_a_sign_off_block_that_is_wrong_fails_naming_file_and_field(working_copy, monkeypatch, meta, field):
    monkeypatch.delenv("IRON_CDS_KNOWLEDGE", raising=False)
    _set_meta(working_copy / "wording.yaml", meta)
    result = _check("--dir", str(working_copy))
    assert result.exit_code == 1
    assert re.search(rf"wording\.yaml: {re.escape(field)}:", result.output), result.output
    with pytest.raises(KnowledgeError):
        load_knowledge(directory=working_copy)


def test_an_override_carries_its_own_sign_off(tmp_path):
    base = load_knowledge().version
    signed = tmp_path / "signed.yaml"
    signed.write_text('meta: {reviewed_by: "St Elsewhere P&T committee", reviewed_on: "2026-11-30", version: "ste-3"}\n'
                      + CHANGE, encoding="utf-8")
    knowledge = load_knowledge(str(signed))
    assert knowledge.version == f"{base} + local ste-3"
    assert knowledge.signoffs["override"]["reviewed_by"] == "St Elsewhere P&T committee"
    assert knowledge.protocol.observation.after_reaction_minutes.value == 90
    unsigned = tmp_path / "unsigned.yaml"
    unsigned.write_text(CHANGE, encoding="utf-8")
    knowledge = load_knowledge(str(unsigned))
    assert knowledge.version == f"{base} + local unsigned"
    assert any(str(unsigned) in w and "not signed off" in w for w in knowledge.warnings)
    result = _check("--file", str(unsigned))
    assert result.exit_code == 0 and f"{unsigned}: not signed off" in result.output


def test_an_invalid_override_sign_off_names_the_override_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text('meta: {reviewed_by: "x y", reviewed_on: "yesterday", version: "3"}\n', encoding="utf-8")
    result = _check("--file", str(bad))
    assert result.exit_code == 1 and f"{bad}: meta.reviewed_on:" in result.output


def test_version_in_force_names_each_version_when_the_files_differ():
    metas = {"a.yaml": {"version": "2"}, "b.yaml": {"version": "1"}, "c.yaml": None}
    assert signoff.version_in_force(metas) == "1 / 2 (partly unsigned)"
    assert signoff.version_in_force({}) is None
