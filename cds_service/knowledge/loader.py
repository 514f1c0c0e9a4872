"""Load the knowledge files once, apply an institution's override, build typed objects."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import yaml

from cds_service.knowledge import check, signoff
from cds_service.knowledge.model import (
    DoseBand,
    Fact,
    Knowledge,
    LabelLimits,
    MedicationSpec,
    Product,
    Protocol,
    Source,
    TimeBand,
)
from cds_service.knowledge.typed import ShapeError, typed
from cds_service.paths import cards_dir

FILES = ("sources.yaml", "products.yaml", "codes.yaml", "protocol.yaml", "wording.yaml", "handouts.yaml",
         "suitability.yaml", "courses.yaml")


class KnowledgeError(ValueError):
    """The knowledge files are missing or invalid; ``messages`` holds one line per problem."""

    def __init__(self, messages: list[str] | str):
        self.messages = [messages] if isinstance(messages, str) else list(messages)
        super().__init__("\n".join(self.messages))


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _read_yaml(path: Path, what: str) -> tuple[Any, str | None]:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")), None
    except OSError as exc:
        return None, f"{_display(path)}: cannot read {what} ({exc.strerror})"
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        reason = getattr(exc, "problem", None) or str(exc)
        return None, f"{_display(path)}: not valid YAML{line}: {reason}"


def read_files(directory: Path | None = None) -> tuple[dict[str, Any], list[str]]:
    """Each file's sections merged into one mapping, and a line per file that could not be read."""
    directory = directory or cards_dir()
    data: dict[str, Any] = {}
    errors: list[str] = []
    for name in FILES:
        content, error = _read_yaml(directory / name, "the file")
        if error:
            errors.append(error)
            continue
        content = content or {}
        if not isinstance(content, dict):
            errors.append(f"{_display(directory / name)}: must be a mapping of sections")
            continue
        content, meta = signoff.split_meta(content)
        data.setdefault(signoff.META, {})[name] = meta
        data.update({"codes": content} if name == "codes.yaml" else content)
    return data, errors


def read_override(override_path: str) -> tuple[dict[str, Any] | None, list[str]]:
    content, error = _read_yaml(Path(override_path), "the override")
    if error:
        return None, [error]
    if content is None:
        content = {}
    if not isinstance(content, dict):
        return None, [f"{override_path}: the override must be a mapping of sections (protocol:, premedications:, ...)"]
    content, meta = signoff.split_meta(content)
    return {**content, signoff.META: {signoff.OVERRIDE: meta}}, []


def _supplied_by(override: dict | None, path: tuple) -> bool:
    """True when the override file set the value at (or above) this path."""
    node: Any = override
    if not isinstance(node, dict) or not path or path[0] not in node:
        return False
    for key in path:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return not isinstance(node, dict)  # a list or scalar replaced the whole branch
    return True


def validation_messages(data: dict[str, Any], directory: Path | None = None, override: dict | None = None,
                        override_path: str | None = None) -> list[str]:
    """Every schema and cross-file problem, one line each, naming the file that holds the value."""
    directory = directory or cards_dir()
    lines = []
    for path, message in (check.schema_problems(data) + check.cross_problems(data)
                          + check.topic_problems(data)):
        name = check.SECTION_FILE.get(path[0], "?") if path else "?"
        shown = path[1:] if path and path[0] == "codes" else path
        if override_path and _supplied_by(override, path):
            where = f"{override_path} (override of {name})"
        else:
            where = _display(directory / name)
        lines.append(f"{where}: {check.format_path(shown)}: {message}")
    return lines


def signoff_messages(data: dict[str, Any], directory: Path | None = None,
                     override_path: str | None = None) -> list[str]:
    """A sign-off block that is present but invalid, one line each, naming its file."""
    directory = directory or cards_dir()
    return [f"{_where(name, directory, override_path)}: {message}"
            for name, message in signoff.problems(data.get(signoff.META) or {})]


def signoff_warnings(data: dict[str, Any], directory: Path | None = None,
                     override_path: str | None = None) -> list[str]:
    """One line per file that carries no sign-off (a warning: the knowledge still loads)."""
    directory = directory or cards_dir()
    return [f"{_where(name, directory, override_path)}: not signed off: add "
            f"meta: {{reviewed_by, reviewed_on, version}} (see README, For pharmacists)"
            for name in signoff.unsigned(data.get(signoff.META) or {})]


def _where(name: str, directory: Path, override_path: str | None) -> str:
    return override_path or "the override" if name == signoff.OVERRIDE else _display(directory / name)


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
    return Fact(value=raw["value"], source=raw["source"], status=raw["status"], unit=raw.get("unit"),
                note=raw.get("note"), section=raw.get("section"))


def _routes(raw: dict | None) -> Fact | None:
    fact = _fact(raw)
    return dataclasses.replace(fact, value=tuple(fact.value)) if fact is not None else None


def _product_warning(raw: dict) -> tuple:
    codes = raw.get("codes") or {}
    listed = {kind: tuple(str(c) for c in codes.get(kind) or ()) for kind in ("rxnorm", "ndc")}
    return listed, raw["products"], _fact(raw["warning"])


def _label(raw: dict) -> LabelLimits:
    return LabelLimits(
        label=raw["label"],
        source=raw["source"],
        available=raw.get("available", True),
        max_single_dose=_fact(raw.get("max_single_dose")),
        dose_bands=tuple(
            DoseBand(**{k: b.get(k) for k in DoseBand.__dataclass_fields__}) for b in raw.get("dose_bands") or ()),
        max_weekly_mg=_fact(raw.get("max_weekly_mg")),
        max_daily_mg=_fact(raw.get("max_daily_mg")),
        time_bands=tuple(
            TimeBand(**{k: b.get(k) for k in TimeBand.__dataclass_fields__}) for b in raw.get("time_bands") or ()),
        max_rate_mg_per_min=_fact(raw.get("max_rate_mg_per_min")),
        test_dose=raw.get("test_dose"),
        boxed_warning=_fact(raw.get("boxed_warning")),
        observation_minutes=_fact(raw["observation_minutes"]),
        contraindications=tuple(raw.get("contraindications") or ()),
        risks=tuple(raw.get("risks") or ()),
        boxed_warning_by_product=tuple(_product_warning(w) for w in raw.get("boxed_warning_by_product") or ()),
        dose_step_ml=_fact(raw.get("dose_step_ml")),
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
            routes=_routes(raw.get("routes")),
            injection_only_names=_routes(raw.get("injection_only_names")),
        )
    return Knowledge(
        version=signoff.version_in_force(data.get(signoff.META) or {}) or str(data.get("version", "unversioned")),
        signoffs={name: dict(meta) if isinstance(meta, dict) else None
                  for name, meta in (data.get(signoff.META) or {}).items()},
        warnings=tuple(signoff_warnings(data, override_path=overridden_by)),
        sources={sid: Source(id=sid, title=s["title"], url=s.get("url"), accessed=s.get("accessed"), note=s.get("note"))
                 for sid, s in (data.get("sources") or {}).items()},
        products=products,
        iv_iron_atc_prefixes=tuple(data.get("iv_iron_atc_prefixes") or ()),
        oral_iron_names=tuple(data.get("oral_iron_names") or ()),
        codes=data.get("codes") or {},
        protocol=typed(Protocol, data.get("protocol"), "protocol"),
        premedications={k: MedicationSpec(key=k, **v) for k, v in (data.get("premedications") or {}).items()},
        wording=data.get("wording") or {},
        overridden_by=overridden_by,
        handouts=data.get("handouts") or {},
        suitability=data.get("suitability") or {},
        courses=data.get("courses") or {},
    )


_cache: dict[tuple, Knowledge] = {}


def validate(override_path: str | None = None, directory: Path | None = None) -> tuple[dict[str, Any], list[str]]:
    """Read, merge and validate without caching: (merged data, problem lines). For check-knowledge."""
    data, errors = read_files(directory)
    override = None
    if override_path:
        override, override_errors = read_override(override_path)
        errors += override_errors
        if override is not None:
            data = deep_merge(data, override)
    if errors:  # a file that cannot be read makes every further message misleading
        return data, errors
    messages = validation_messages(data, directory, override, override_path)
    messages += signoff_messages(data, directory, override_path)
    return data, messages or _build_problems(data, directory)


def _build_problems(data: dict[str, Any], directory: Path | None) -> list[str]:
    """The typed knowledge builds, and from it every handout renders; a line per problem."""
    try:
        knowledge = build(data)
    except ShapeError as exc:   # the schemas should make this unreachable: still a line, never a traceback
        name = check.SECTION_FILE.get(exc.path.split(".")[0], "?")
        return [f"{_display((directory or cards_dir()) / name)}: {exc}"]
    return _handout_render_problems(knowledge)


def _handout_render_problems(knowledge: Knowledge) -> list[str]:
    """Every product's handout renders in every language under both labels (numbers come from the facts)."""
    from cds_service.handouts.content import HandoutUnavailable, build_handout

    problems = []
    for product_key, product in knowledge.products.items():
        for jurisdiction in product.labels:
            for language in knowledge.handouts.get("languages") or {}:
                try:
                    build_handout(knowledge, product_key, language, jurisdiction)
                except HandoutUnavailable as exc:
                    where = f"languages.{language}: {product_key} ({jurisdiction} label)"
                    problems.append(f"cards/handouts.yaml: {where}: {exc}")
    return problems


def load_knowledge(override_path: str | None = None, directory: Path | None = None) -> Knowledge:
    """Validated knowledge, built once per process for each (directory, override) pair."""
    key = (str(directory or cards_dir()), override_path)
    if key not in _cache:
        data, errors = validate(override_path, directory)
        if errors:
            raise KnowledgeError(errors)
        _cache[key] = build(data, overridden_by=override_path)
    return _cache[key]
