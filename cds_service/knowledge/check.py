"""Validate the merged knowledge and report every problem as one line naming file and field.

A line reads ``cards/products.yaml: products.iron_sucrose.labels.US.time_bands[0].min_minutes: Must be
greater than 0.`` When an institution's override file supplied the offending value, the line names that
file instead, so the pharmacist knows which copy to fix.
"""

from __future__ import annotations

from typing import Any, Iterator

from marshmallow import Schema

from cds_service.knowledge.schema import STATUSES, ProductsFile, SourcesFile
from cds_service.knowledge.schema_courses import CoursesFile
from cds_service.knowledge.schema_handouts import handout_problems
from cds_service.knowledge.schema_protocol import CodesFile, ProtocolFile, wording_errors
from cds_service.knowledge.schema_suitability import SuitabilityFile

JURISDICTIONS = ("US", "EU")  # every product carries both labels: the engine uses the configured one

# file name -> (top-level sections it holds, schema). codes.yaml holds the "codes" section unwrapped.
FILES: dict[str, tuple[tuple[str, ...], Any]] = {
    "sources.yaml": (("sources",), SourcesFile),
    "products.yaml": (("iv_iron_atc_prefixes", "oral_iron_names", "products"), ProductsFile),
    "codes.yaml": (("codes",), CodesFile),
    "protocol.yaml": (("protocol", "premedications"), ProtocolFile),
    "wording.yaml": (("wording",), None),
    "handouts.yaml": (("handouts",), None),
    "suitability.yaml": (("suitability",), SuitabilityFile),
    "courses.yaml": (("courses",), CoursesFile),
}
SECTION_FILE = {section: name for name, (sections, _) in FILES.items() for section in sections}
FREE_SECTIONS = ("version", "meta")   # meta: each file's sign-off, validated by knowledge/signoff.py

Path = tuple  # a key path into the merged data, e.g. ("products", "iron_sucrose", "labels")


def format_path(path: Path) -> str:
    out = ""
    for key in path:
        if isinstance(key, int):
            out += f"[{key}]"
        else:
            out += ("." if out else "") + str(key)
    return out or "(top level)"


def flatten(errors: Any, data: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Marshmallow's nested messages -> (path, message) pairs.

    A ``fields.Dict`` reports value problems under an extra ``"value"`` (and key problems under
    ``"key"``) layer; the data tells that layer apart from a real field called ``value`` (facts).
    """
    if isinstance(errors, list):
        for message in errors:
            if isinstance(message, (dict, list)):
                yield from flatten(message, data, path)
            else:
                yield path, str(message)
        return
    if not isinstance(errors, dict):
        yield path, str(errors)
        return
    for key, sub in errors.items():
        if key == "_schema":
            yield from flatten(sub, data, path)
        elif key in ("value", "key") and not (isinstance(data, dict) and key in data):
            if key == "value":
                yield from flatten(sub, data, path)
            else:
                for _, message in flatten(sub, None, path):
                    yield path, f"key {path[-1]!r}: {message}" if path else message
        else:
            child = None
            if isinstance(data, dict):
                child = data.get(key)
            elif isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data):
                child = data[key]
            yield from flatten(sub, child, path + (key,))


def _walk(node: Any, path: Path = ()) -> Iterator[tuple[Path, dict]]:
    if isinstance(node, dict):
        yield path, node
        for key, value in node.items():
            yield from _walk(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, path + (index,))


def schema_problems(data: dict) -> list[tuple[Path, str]]:
    problems: list[tuple[Path, str]] = []
    for section in data:
        if section not in SECTION_FILE and section not in FREE_SECTIONS:
            problems.append(((section,), f"Unknown section (expected one of: {', '.join(sorted(SECTION_FILE))})."))
    for name, (sections, schema_cls) in FILES.items():
        if name == "codes.yaml":
            view, prefix = data.get("codes"), ("codes",)
            if not isinstance(view, dict):
                problems.append((prefix, "Must be a mapping of code sets."))
                continue
        elif name == "handouts.yaml":
            sources = data.get("sources") if isinstance(data.get("sources"), dict) else {}
            problems += [(("handouts",) + p, m) for p, m in handout_problems(data.get("handouts"), sources)]
            continue
        elif name == "wording.yaml":
            problems += [(("wording",) + p, m) for p,
                         m in flatten(wording_errors(data.get("wording", {})), data.get("wording"))]
            continue
        else:
            view, prefix = {s: data[s] for s in sections if s in data}, ()
        schema: Schema = schema_cls()
        problems += [(prefix + p, m) for p, m in flatten(schema.validate(view), view)]
    return problems


def cross_problems(data: dict) -> list[tuple[Path, str]]:
    """Checks that span files: citations, regimens, jurisdictions, codes claimed by two products."""
    problems: list[tuple[Path, str]] = []
    sources = data.get("sources") if isinstance(data.get("sources"), dict) else {}
    for path, node in _walk({k: v for k, v in data.items() if k != "sources"}):
        cited = node.get("source")
        if isinstance(cited, str) and cited not in sources:
            problems.append((path + ("source",), f"Unknown source id {cited!r}: add it to sources.yaml or fix the id."))
    protocol = data.get("protocol") if isinstance(data.get("protocol"), dict) else {}
    premeds = data.get("premedications") if isinstance(data.get("premedications"), dict) else {}
    regimens = protocol.get("premedication_regimens")
    if isinstance(regimens, dict):
        for situation, keys in regimens.items():
            for index, key in enumerate(keys if isinstance(keys, list) else ()):
                if key not in premeds:
                    problems.append((("protocol", "premedication_regimens", situation, index),
                                     f"Unknown premedication {key!r} "
                                     f"(defined: {', '.join(sorted(premeds)) or 'none'})."))
    products = data.get("products") if isinstance(data.get("products"), dict) else {}
    owners: dict[tuple[str, str], str] = {}
    for key, product in products.items():
        if not isinstance(product, dict):
            continue
        labels = product.get("labels") if isinstance(product.get("labels"), dict) else {}
        for jurisdiction in JURISDICTIONS:
            if jurisdiction not in labels:
                problems.append((("products", key, "labels"),
                                 f"Missing the {jurisdiction} label "
                                 f"(every product needs {' and '.join(JURISDICTIONS)})."))
        problems += _route_problems(key, product, data.get("codes"))
        problems += _injection_only_problems(key, product)
        codes = product.get("codes") if isinstance(product.get("codes"), dict) else {}
        claims = [("RxCUI",
                   str(c)) for c in (codes.get("rxnorm") or {})] + [("NDC", str(c)) for c in codes.get("ndc") or ()]
        claims += [("name",
                    str(n).lower()) for n in list(product.get("names") or ()) + list(product.get("brands") or ())]
        for claim in claims:
            other = owners.setdefault(claim, key)
            if other != key:
                problems.append((("products", key),
                                 f"{claim[0]} {claim[1]!r} is also listed for {other}: "
                                 "a code or name must identify one product."))
    return problems


def topic_problems(data: dict) -> list[tuple[Path, str]]:
    """Every card topic a rule module registers needs its wording; history-unavailable needs a line per prefetch key.

    Without it the rule would fail on every order, at the bedside instead of at review time.
    """
    from cds_service.engine import topics  # imported here: the engine imports the knowledge model
    from cds_service.fhir.templates import PREFETCH_KEYS

    wording = data.get("wording") if isinstance(data.get("wording"), dict) else {}
    sections = wording.get("topics") if isinstance(wording.get("topics"), dict) else {}
    problems: list[tuple[Path, str]] = []
    for topic in topics.registered():
        section = sections.get(topic.wording)
        path = ("wording", "topics", topic.wording)
        if not isinstance(section, dict):
            problems.append((path, f"Missing the wording of the card topic {topic.code!r} (its rule module "
                                   "declares it): add the section, with at least a display."))
        elif not isinstance(section.get("display"), str) or not section["display"].strip():
            problems.append((path + ("display",), f"Missing the display name of the card topic {topic.code!r}."))
    unavailable = topics.by_code("history-unavailable")
    section = sections.get(unavailable.wording) if unavailable else None
    if isinstance(section, dict):
        missing_data = section.get("missing_data") if isinstance(section.get("missing_data"), dict) else {}
        for key in PREFETCH_KEYS:
            if not isinstance(missing_data.get(key), str) or not missing_data[key].strip():
                problems.append((("wording", "topics", unavailable.wording, "missing_data", key),
                                 f"Say what the checks lose when the {key!r} prefetch data is missing."))
    return problems


def count_statuses(data: dict) -> dict[str, int]:
    counts = dict.fromkeys(STATUSES, 0)
    for _, node in _walk(data):
        status = node.get("status")
        if status in counts:
            counts[status] += 1
    return counts


def _injection_only_problems(key: str, product: dict) -> list[tuple[Path, str]]:
    """Each injection-only name is one of the product's own names (display, brands, names), as matched in text."""
    listed = product.get("injection_only_names")
    listed = listed.get("value") if isinstance(listed, dict) else None
    if not isinstance(listed, list):
        return []
    own = {str(n).lower() for n in [product.get("display"), *(product.get("brands") or ()),
                                    *(product.get("names") or ())] if isinstance(n, str)}
    return [(("products", key, "injection_only_names", "value"),
             f"{name!r} is not among the product's display, brands or names.")
            for name in listed if str(name).lower() not in own]


def _route_problems(key: str, product: dict, codes: Any) -> list[tuple[Path, str]]:
    """A product's routes name route groups of codes.yaml, intravenous among them (it is IV iron)."""
    routes = product.get("routes")
    listed = routes.get("value") if isinstance(routes, dict) else None
    if not isinstance(listed, list):
        return []
    groups = (codes or {}).get("routes") if isinstance(codes, dict) else None
    known = set(groups) if isinstance(groups, dict) else set()
    path = ("products", key, "routes", "value")
    problems = [(path, f"Unknown route group {group!r} (codes.yaml routes: {', '.join(sorted(known))}).")
                for group in listed if group not in known]
    if "iv" not in listed:
        problems.append((path, "An IV-iron product's routes must include 'iv'."))
    labels = product.get("labels") if isinstance(product.get("labels"), dict) else {}
    for jurisdiction, label in labels.items():
        test_dose = label.get("test_dose") if isinstance(label, dict) else None
        for group in (test_dose.get("routes") or ()) if isinstance(test_dose, dict) else ():
            if group not in listed:
                problems.append((("products", key, "labels", jurisdiction, "test_dose", "routes"),
                                 f"Route group {group!r} is not among the product's routes."))
    return problems
