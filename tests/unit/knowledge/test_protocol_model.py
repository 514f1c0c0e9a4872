"""The protocol as a typed model: built once from the validated files, in step with the schema, shown as written."""

from __future__ import annotations

import dataclasses
import json
import typing

import pytest
import yaml
from marshmallow import fields as schema_fields

from cds_service.console.provenance import caveats
from cds_service.engine import topics
from cds_service.knowledge import check, schema_protocol
from cds_service.knowledge.loader import KnowledgeError, deep_merge, load_knowledge, read_files, validate
from cds_service.knowledge.model import FACT_KEYS, CodingFact, Fact, Protocol
from cds_service.knowledge.report import check_knowledge
from cds_service.knowledge.typed import ShapeError, typed
from support.paths import copy_of_cards

CITED = (Fact, CodingFact)


@pytest.fixture
def cards(tmp_path):
    return copy_of_cards(tmp_path)


def edit_protocol(directory, change):
    path = directory / "protocol.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data["protocol"])
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def packaged_protocol() -> dict:
    return read_files()[0]["protocol"]


# --- the model and the schema describe the same file -------------------------------------------

def _nested_schema(field):
    nested = field.nested
    return nested() if callable(nested) and not isinstance(nested, type) else nested


def _assert_in_step(model: type, schema, path: str) -> None:
    declared = schema._declared_fields
    hints = typing.get_type_hints(model)
    assert {f.name for f in dataclasses.fields(model)} == set(declared), path
    for item in dataclasses.fields(model):
        hint, field, where = hints[item.name], declared[item.name], f"{path}.{item.name}"
        optional = type(None) in typing.get_args(hint)
        assert optional is (not field.required), f"{where}: optional in one, required in the other"
        kind = next(a for a in typing.get_args(hint) if a is not type(None)) if optional else hint
        if typing.get_origin(kind) is tuple:
            assert isinstance(field, schema_fields.List), where
        elif kind in CITED:
            assert isinstance(field, schema_fields.Nested), where
            keys = set(_nested_schema(field)._declared_fields)
            assert keys <= {f.name for f in dataclasses.fields(kind)}, f"{where}: the model would drop {keys}"
        else:
            assert isinstance(field, schema_fields.Nested) and dataclasses.is_dataclass(kind), where
            _assert_in_step(kind, _nested_schema(field), where)


def test_every_protocol_key_of_the_schema_is_a_typed_field_and_back():
    _assert_in_step(Protocol, schema_protocol.Protocol, "protocol")


def test_a_fact_is_shown_with_every_one_of_its_fields():
    assert set(FACT_KEYS) == {f.name for f in dataclasses.fields(Fact)}


# --- built from the files, after the override -------------------------------------------------

def test_the_packaged_protocol_is_typed_all_the_way_down():
    protocol = load_knowledge().protocol
    assert isinstance(protocol, Protocol)
    assert isinstance(protocol.data_recency_days.labs, Fact) and protocol.data_recency_days.labs.value == 90
    assert protocol.observation.vital_signs == ("blood pressure", "pulse")
    assert protocol.observation.service_code == CodingFact(
        system="http://snomed.info/sct", code="61746007", display="Taking patient vital signs (procedure)",
        source="S-SNOMED-VITALS", status="confirmed", note=protocol.observation.service_code.note)
    assert protocol.premedication_regimens.infusion_pain == ("acetaminophen_po",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        protocol.observation.default_minutes = protocol.observation.after_reaction_minutes


def test_to_dict_is_the_protocol_as_the_file_writes_it():
    """The console's knowledge page dumps ``to_dict()``: same keys, same order, same values as the YAML."""
    written = packaged_protocol()
    shown = load_knowledge().protocol.to_dict()
    assert shown == written
    assert json.dumps(shown) == json.dumps(written)   # key order too (the page does not sort keys)


def test_an_override_is_merged_key_by_key_before_the_model_is_built(tmp_path):
    path = tmp_path / "hospital.yaml"
    override = {"protocol": {"observation": {"vital_signs": ["blood pressure", "pulse", "oxygen saturation"],
                                             "standing_protocol": {"value": True, "source": "S-LOCAL-PROTOCOL",
                                                                   "status": "institutional"}}}}
    path.write_text(yaml.safe_dump(override), encoding="utf-8")
    protocol = load_knowledge(str(path)).protocol
    assert protocol.observation.vital_signs == ("blood pressure", "pulse", "oxygen saturation")   # list replaced
    assert protocol.observation.standing_protocol.value is True
    assert protocol.observation.default_minutes.value == 30                                     # kept
    assert protocol.to_dict() == deep_merge(packaged_protocol(), override["protocol"])


# --- a missing or ill-typed entry is a problem line, never a traceback --------------------------

@pytest.mark.parametrize("change,line", [
    (lambda p: p["observation"].pop("default_minutes"),
     "protocol.observation.default_minutes: Missing data for required field."),
    (lambda p: p["observation"].update(vital_signs="blood pressure and pulse"),
     "protocol.observation.vital_signs: Not a valid list."),
    (lambda p: p.update(data_recency_days=90), "protocol.data_recency_days: Invalid input type."),
    (lambda p: p["premedication_regimens"].pop("moderate_reaction"),
     "protocol.premedication_regimens.moderate_reaction: Missing data for required field."),
])
def test_a_missing_or_ill_typed_protocol_entry_is_a_knowledge_error(cards, change, line):
    edit_protocol(cards, change)
    report = check_knowledge(directory=cards)          # what `iron-cds check-knowledge` prints
    assert not report.ok and any(line in problem for problem in report.problems), report.problems
    with pytest.raises(KnowledgeError) as raised:      # what the service does at start-up
        load_knowledge(directory=cards)
    assert any(line in message for message in raised.value.messages)


def test_were_the_schema_to_let_a_gap_through_the_model_still_names_it(cards, monkeypatch):
    """Defence in depth: the typed build reports the entry and file, not a KeyError."""
    edit_protocol(cards, lambda p: p["hypotension"].pop("fall_mmhg"))
    monkeypatch.setattr(check, "schema_problems", lambda data: [])
    _, lines = validate(None, cards)
    assert len(lines) == 1 and lines[0].endswith(
        "protocol.yaml: protocol.hypotension.fall_mmhg: Missing data for required field."), lines
    with pytest.raises(KnowledgeError):
        load_knowledge(directory=cards)


def test_typed_names_the_entry_it_cannot_build():
    raw = packaged_protocol()
    assert typed(Protocol, raw, "protocol") == load_knowledge().protocol
    with pytest.raises(ShapeError, match=r"^protocol\.infusion_pain: Must be a mapping\.$"):
        typed(Protocol, {**raw, "infusion_pain": 4}, "protocol")
    with pytest.raises(ShapeError, match=r"^protocol\.observation\.vital_signs: Must be a list\.$"):
        typed(Protocol, {**raw, "observation": {**raw["observation"], "vital_signs": "pulse"}}, "protocol")
    optional = {k: v for k, v in raw.items() if k not in ("implausible_dose_mg", "premedication_source")}
    built = typed(Protocol, optional, "protocol")
    assert built.implausible_dose_mg is None and built.premedication_source is None
    assert "implausible_dose_mg" not in built.to_dict()


# --- entries named by key: the topic registry and the console ---------------------------------

def test_at_resolves_a_key_path_and_refuses_an_unknown_one():
    protocol = load_knowledge().protocol
    assert protocol.at("observation.default_minutes") is protocol.observation.default_minutes
    assert protocol.at("lab_thresholds") is protocol.lab_thresholds
    for wrong in ("observation.default", "nonsense", "observation.default_minutes.value", "observation.vital_signs.0"):
        with pytest.raises(LookupError, match="protocol has no entry"):
            protocol.at(wrong)


def test_every_topic_names_protocol_entries_that_exist():
    protocol = load_knowledge().protocol
    for topic in topics.registered():
        for key in topic.protocol_keys:
            protocol.at(key)


def test_the_console_lists_the_local_values_nested_in_a_protocol_entry():
    knowledge = load_knowledge()
    rows = dict(caveats(knowledge, "US"))["Post-infusion observation period"]
    observation = knowledge.protocol.observation
    for fact in (observation.first_dextran_dose_minutes, observation.after_reaction_minutes,
                 observation.standing_protocol):
        assert ("protocol: observation", fact.source, fact.status, fact.note) in rows
    assert all(row[2] in ("institutional", "unconfirmed-conservative") for row in rows)   # confirmed ones left out
