"""Load the knowledge files once, apply an institution's override, build typed objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ..paths import cards_dir
from .model import DoseBand, Fact, Knowledge, LabelLimits, MedicationSpec, Product, Source, TimeBand

FILES = ("sources.yaml", "products.yaml", "codes.yaml", "protocol.yaml", "wording.yaml")


class KnowledgeError(ValueError):
    """The knowledge files are missing or invalid; the message says where."""


def read_raw(directory: Path | None = None, override_path: str | None = None) -> dict[str, Any]:
    directory = directory or cards_dir()
    data: dict[str, Any] = {}
    for name in FILES:
        path = directory / name
        try:
            content = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise KnowledgeError(f"{path}: cannot read ({exc.strerror})") from None
        except yaml.YAMLError as exc:
            raise KnowledgeError(f"{path}: not valid YAML ({exc})") from None
        if name == "codes.yaml":
            content = {"codes": content}
        data.update(content)
    if override_path:
        try:
            override = yaml.safe_load(Path(override_path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise KnowledgeError(f"{override_path}: cannot read the override ({exc})") from None
        if not isinstance(override, dict):
            raise KnowledgeError(f"{override_path}: the override must be a mapping of sections")
        data = deep_merge(data, override)
    return data


def deep_merge(base: Any, override: Any) -> Any:
    """Mappings merge key by key; anything else (lists included) is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else value
        return merged
    return override


def _fact(raw: dict | None) -> Fact | None:
    if raw is None:
        return None
    return Fact(value=raw["value"], source=raw["source"], status=raw["status"], unit=raw.get("unit"), note=raw.get("note"))


def _label(raw: dict) -> LabelLimits:
    return LabelLimits(
        label=raw["label"],
        source=raw["source"],
        available=raw.get("available", True),
        max_single_dose=_fact(raw.get("max_single_dose")),
        dose_bands=tuple(DoseBand(**{k: b.get(k) for k in DoseBand.__dataclass_fields__}) for b in raw.get("dose_bands") or ()),
        max_weekly_mg=_fact(raw.get("max_weekly_mg")),
        max_daily_mg=_fact(raw.get("max_daily_mg")),
        time_bands=tuple(TimeBand(**{k: b.get(k) for k in TimeBand.__dataclass_fields__}) for b in raw.get("time_bands") or ()),
        max_rate_mg_per_min=_fact(raw.get("max_rate_mg_per_min")),
        test_dose=raw.get("test_dose"),
        boxed_warning=_fact(raw.get("boxed_warning")),
        observation_minutes=_fact(raw["observation_minutes"]),
        contraindications=tuple(raw.get("contraindications") or ()),
        risks=tuple(raw.get("risks") or ()),
    )


def build(data: dict[str, Any], overridden_by: str | None = None) -> Knowledge:
    products = {}
    for key, raw in (data.get("products") or {}).items():
        codes = raw.get("codes") or {}
        products[key] = Product(
            key=key,
            display=raw["display"],
            brands=tuple(raw.get("brands") or ()),
            names=tuple(raw.get("names") or ()),
            rxnorm={str(code): tty for code, tty in (codes.get("rxnorm") or {}).items()},
            ndc=tuple(codes.get("ndc") or ()),
            atc=tuple(codes.get("atc") or ()),
            unii=tuple(codes.get("unii") or ()),
            concentration_mg_per_ml=_fact(raw["concentration_mg_per_ml"]),
            is_dextran=bool(raw.get("is_dextran")),
            labels={j: _label(lab) for j, lab in (raw.get("labels") or {}).items()},
        )
    return Knowledge(
        version=str(data.get("version", "unversioned")),
        sources={sid: Source(id=sid, title=s["title"], url=s.get("url"), accessed=s.get("accessed"), note=s.get("note"))
                 for sid, s in (data.get("sources") or {}).items()},
        products=products,
        iv_iron_atc_prefixes=tuple(data.get("iv_iron_atc_prefixes") or ()),
        oral_iron_names=tuple(data.get("oral_iron_names") or ()),
        codes=data.get("codes") or {},
        protocol=data.get("protocol") or {},
        premedications={k: MedicationSpec(key=k, **v) for k, v in (data.get("premedications") or {}).items()},
        wording=data.get("wording") or {},
        overridden_by=overridden_by,
    )


_cache: dict[tuple, Knowledge] = {}


def load_knowledge(override_path: str | None = None, directory: Path | None = None) -> Knowledge:
    """Validated knowledge, built once per process for each (directory, override) pair."""
    key = (str(directory or cards_dir()), override_path)
    if key not in _cache:
        _cache[key] = build(read_raw(directory, override_path), overridden_by=override_path)
    return _cache[key]
