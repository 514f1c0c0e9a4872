"""A reusable checker of the CDS Hooks 2.0 response rules plus our interface contract.

``assert_valid_response(body, request=None)`` raises AssertionError listing every
violation found. With the hook ``request`` it also checks that suggestion
resources belong to this patient / encounter and that updates and deletes name
a draft order of the request. Suggestion resources are validated with
fhir.resources' R4B models (the closest to R4), which is too slow for the hot
path but fine in tests.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class

from cds_service.engine import topics

TOPIC_SYSTEM = "urn:iron-cds:card-topic"
TOPICS = topics.codes()  # the registry: every topic a rule module declares, and history-unavailable
INDICATORS = ("info", "warning", "critical")
SELECTION_BEHAVIORS = ("at-most-one", "any")
ACTION_TYPES = ("create", "update", "delete")
LINK_TYPES = ("absolute", "smart")
SUMMARY_LIMIT = 140
CARD_KEYS = {"uuid", "summary", "detail", "indicator", "source", "suggestions", "selectionBehavior",
             "overrideReasons", "links", "extension"}
SOURCE_KEYS = {"label", "url", "icon", "topic"}
SUGGESTION_KEYS = {"label", "uuid", "isRecommended", "actions", "extension"}
ACTION_KEYS = {"type", "description", "resource", "resourceId", "extension"}
# Resource types our suggestions may carry; anything else is a bug in the engine.
SUGGESTION_RESOURCE_TYPES = ("MedicationRequest", "ServiceRequest")
# R4 intent codes (the R4B models do not check code values, so we do).
INTENTS = {
    "MedicationRequest": ("proposal", "plan", "order", "original-order", "reflex-order", "filler-order",
                          "instance-order", "option"),
    "ServiceRequest": ("proposal", "plan", "directive", "order", "original-order", "reflex-order",
                       "filler-order", "instance-order", "option"),
}
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def response_problems(body: Any, request: dict | None = None) -> list[str]:
    """Every rule the response breaks, as readable strings (empty list = valid)."""
    problems: list[str] = []
    if not isinstance(body, dict):
        return ["response is not a JSON object"]
    extra = set(body) - {"cards", "systemActions", "extension"}
    if extra:
        problems.append(f"unexpected top-level keys {sorted(extra)}")
    cards = body.get("cards")
    if not isinstance(cards, list):
        return problems + ["'cards' is missing or not an array"]
    uuids: list[str] = []
    for index, card in enumerate(cards):
        problems.extend(_card_problems(card, f"cards[{index}]", request, uuids))
    for index, action in enumerate(body.get("systemActions") or []):
        problems.extend(_action_problems(action, f"systemActions[{index}]", request))
    if "systemActions" in body and not body["systemActions"]:
        problems.append("systemActions is present but empty")
    duplicates = sorted({u for u in uuids if uuids.count(u) > 1})
    if duplicates:
        problems.append(f"uuids are not unique: {duplicates}")
    return problems


def assert_valid_response(body: Any, request: dict | None = None) -> None:
    problems = response_problems(body, request)
    assert not problems, "invalid CDS Hooks 2.0 response:\n  " + "\n  ".join(problems)


def _card_problems(card: Any, where: str, request: dict | None, uuids: list[str]) -> list[str]:
    if not isinstance(card, dict):
        return [f"{where} is not an object"]
    problems = _empty_values(card, where)
    extra = set(card) - CARD_KEYS
    if extra:
        problems.append(f"{where} has keys the spec does not define: {sorted(extra)}")
    # Our contract: every card carries a uuid (feedback refers to it).
    problems.extend(_uuid_problem(card, where, uuids))
    summary = card.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        problems.append(f"{where}.summary is missing")
    elif len(summary) >= SUMMARY_LIMIT:
        problems.append(f"{where}.summary has {len(summary)} characters (must be < {SUMMARY_LIMIT})")
    if card.get("indicator") not in INDICATORS:
        problems.append(f"{where}.indicator {card.get('indicator')!r} is not one of {INDICATORS}")
    if "detail" in card and not isinstance(card["detail"], str):
        problems.append(f"{where}.detail is not a string")
    problems.extend(_source_problems(card.get("source"), f"{where}.source"))

    suggestions = card.get("suggestions")
    if suggestions is not None:
        if not isinstance(suggestions, list):
            problems.append(f"{where}.suggestions is not an array")
            suggestions = []
        behavior = card.get("selectionBehavior")
        if behavior not in SELECTION_BEHAVIORS:
            problems.append(f"{where}.selectionBehavior {behavior!r} must be one of {SELECTION_BEHAVIORS} "
                            "when suggestions are present")
        recommended = sum(1 for s in suggestions if isinstance(s, dict) and s.get("isRecommended") is True)
        if behavior == "at-most-one" and recommended > 1:
            problems.append(f"{where}: at-most-one with {recommended} recommended suggestions")
        for index, suggestion in enumerate(suggestions):
            problems.extend(_suggestion_problems(suggestion, f"{where}.suggestions[{index}]", request, uuids))
    elif "selectionBehavior" in card:
        problems.append(f"{where}.selectionBehavior without suggestions")

    reasons = card.get("overrideReasons")
    if reasons is not None:
        if not isinstance(reasons, list):
            problems.append(f"{where}.overrideReasons is not an array")
        else:
            for index, coding in enumerate(reasons):
                problems.extend(_coding_problems(coding, f"{where}.overrideReasons[{index}]", need_display=True))
    for index, link in enumerate(card.get("links") or []):
        problems.extend(_link_problems(link, f"{where}.links[{index}]"))
    return problems


def _source_problems(source: Any, where: str) -> list[str]:
    if not isinstance(source, dict):
        return [f"{where} is missing"]
    problems = _unknown_keys(source, SOURCE_KEYS, where) + _label_problem(source, where)
    for key in ("url", "icon"):
        if key in source and not _absolute_url(source[key]):
            problems.append(f"{where}.{key} is not an absolute URL: {source[key]!r}")
    topic = source.get("topic")
    # Our contract: every card carries one topic from the list.
    problems.extend(_coding_problems(topic, f"{where}.topic", need_display=True))
    if isinstance(topic, dict):
        if topic.get("system") != TOPIC_SYSTEM:
            problems.append(f"{where}.topic.system is {topic.get('system')!r}, expected {TOPIC_SYSTEM}")
        if topic.get("code") not in TOPICS:
            problems.append(f"{where}.topic.code {topic.get('code')!r} is not a contract topic")
    return problems


def _suggestion_problems(suggestion: Any, where: str, request: dict | None, uuids: list[str]) -> list[str]:
    if not isinstance(suggestion, dict):
        return [f"{where} is not an object"]
    problems = _unknown_keys(suggestion, SUGGESTION_KEYS, where) + _label_problem(suggestion, where)
    problems.extend(_uuid_problem(suggestion, where, uuids))
    if "isRecommended" in suggestion and not isinstance(suggestion["isRecommended"], bool):
        problems.append(f"{where}.isRecommended is not a boolean")
    actions = suggestion.get("actions")
    if actions is not None:
        if not isinstance(actions, list):
            problems.append(f"{where}.actions is not an array")
        else:
            for index, action in enumerate(actions):
                problems.extend(_action_problems(action, f"{where}.actions[{index}]", request))
    return problems


def _action_problems(action: Any, where: str, request: dict | None) -> list[str]:
    if not isinstance(action, dict):
        return [f"{where} is not an object"]
    problems = _unknown_keys(action, ACTION_KEYS, where)
    kind = action.get("type")
    if kind not in ACTION_TYPES:
        problems.append(f"{where}.type {kind!r} is not one of {ACTION_TYPES}")
    if not isinstance(action.get("description"), str) or not action["description"].strip():
        problems.append(f"{where}.description is missing")
    drafts = _draft_orders(request)
    if kind in ("create", "update"):
        resource = action.get("resource")
        if not isinstance(resource, dict):
            problems.append(f"{where}: a {kind} action must carry the resource")
        else:
            problems.extend(_resource_problems(resource, kind, f"{where}.resource", request, drafts))
    if kind == "delete":
        if "resource" in action:
            problems.append(f"{where}: a delete action carries resourceId, not the resource")
        rid = action.get("resourceId")
        if not isinstance(rid, str) or rid.count("/") != 1 or not all(rid.split("/")):
            problems.append(f"{where}.resourceId must be a relative reference Type/id, got {rid!r}")
        elif request is not None and rid not in drafts:
            problems.append(f"{where}.resourceId {rid} is not one of the draft orders {sorted(drafts)}")
    return problems


def _resource_problems(resource: dict, kind: str, where: str, request: dict | None,
                       drafts: dict[str, dict]) -> list[str]:
    rtype = resource.get("resourceType")
    if rtype not in SUGGESTION_RESOURCE_TYPES:
        return [f"{where}.resourceType {rtype!r} is not one we suggest {SUGGESTION_RESOURCE_TYPES}"]
    problems = []
    try:
        get_fhir_model_class(rtype).model_validate(resource)
    except Exception as exc:  # pydantic ValidationError and friends: report, do not crash the checker
        problems.append(f"{where} is not a valid R4 {rtype}: {exc}".replace("\n", " | ")[:1500])
    if resource.get("status") != "draft":
        problems.append(f"{where}.status is {resource.get('status')!r}, suggestions must be draft")
    if resource.get("intent") not in INTENTS[rtype]:
        problems.append(f"{where}.intent {resource.get('intent')!r} is not an R4 {rtype} intent")
    if kind == "create":
        problems.extend(_coded_problems(resource, rtype, where))
    if request is not None:
        context = request.get("context") or {}
        expected = f"Patient/{context.get('patientId')}"
        subject = _reference(resource.get("subject"))
        if subject != expected:
            problems.append(f"{where}.subject is {subject!r}, expected {expected}")
        if kind == "create" and context.get("encounterId"):
            expected_enc = f"Encounter/{context['encounterId']}"
            encounter = _reference(resource.get("encounter"))
            if encounter != expected_enc:
                problems.append(f"{where}.encounter is {encounter!r}, expected {expected_enc}")
        if kind == "update":
            ref = f"{rtype}/{resource.get('id')}"
            if ref not in drafts:
                problems.append(f"{where}: update of {ref}, which is not a draft order of the request "
                                f"({sorted(drafts)})")
        if kind == "create" and resource.get("id") and f"{rtype}/{resource['id']}" in drafts:
            problems.append(f"{where}: create reuses the id of draft order {rtype}/{resource['id']}")
    return problems


def _coded_problems(resource: dict, rtype: str, where: str) -> list[str]:
    """Suggested orders are coded: RxNorm for drugs, a system+code for services."""
    if rtype == "MedicationRequest":
        codings = (resource.get("medicationCodeableConcept") or {}).get("coding") or []
        if not any(c.get("system") == RXNORM and c.get("code") for c in codings):
            return [f"{where}.medicationCodeableConcept has no RxNorm coding"]
    else:
        codings = (resource.get("code") or {}).get("coding") or []
        if not any(c.get("system") and c.get("code") for c in codings):
            return [f"{where}.code has no coding"]
    return []


def _coding_problems(coding: Any, where: str, need_display: bool) -> list[str]:
    if not isinstance(coding, dict):
        return [f"{where} is missing or not a Coding"]
    problems = []
    for key in ("system", "code") + (("display",) if need_display else ()):
        if not isinstance(coding.get(key), str) or not coding[key].strip():
            problems.append(f"{where}.{key} is missing")
    return problems


def _link_problems(link: Any, where: str) -> list[str]:
    if not isinstance(link, dict):
        return [f"{where} is not an object"]
    problems = []
    if not isinstance(link.get("label"), str) or not link["label"]:
        problems.append(f"{where}.label is missing")
    if not _absolute_url(link.get("url")):
        problems.append(f"{where}.url is not an absolute URL")
    if link.get("type") not in LINK_TYPES:
        problems.append(f"{where}.type {link.get('type')!r} is not one of {LINK_TYPES}")
    if "appContext" in link and link.get("type") != "smart":
        problems.append(f"{where}.appContext is only allowed on smart links")
    return problems


def _unknown_keys(obj: dict, allowed, where: str) -> list[str]:
    extra = set(obj) - allowed
    return [f"{where} has unknown keys {sorted(extra)}"] if extra else []


def _label_problem(obj: dict, where: str) -> list[str]:
    label = obj.get("label")
    return [] if isinstance(label, str) and label.strip() else [f"{where}.label is missing"]


def _uuid_problem(obj: dict, where: str, uuids: list[str]) -> list[str]:
    value = obj.get("uuid")
    if not isinstance(value, str) or not value:
        return [f"{where}.uuid is missing (feedback needs it)"]
    uuids.append(value)
    return []


def _empty_values(obj: Any, where: str) -> list[str]:
    """Optional fields must be left out rather than sent empty (null, "", [], {})."""
    problems = []
    if isinstance(obj, dict):
        for key, value in obj.items():
            if value is None or value == "" or value == [] or value == {}:
                problems.append(f"{where}.{key} is empty ({value!r}); leave it out instead")
            else:
                problems.extend(_empty_values(value, f"{where}.{key}"))
    elif isinstance(obj, list):
        for index, item in enumerate(obj):
            problems.extend(_empty_values(item, f"{where}[{index}]"))
    return problems


def _draft_orders(request: dict | None) -> dict[str, dict]:
    if request is None:
        return {}
    bundle = (request.get("context") or {}).get("draftOrders") or {}
    drafts = {}
    for entry in bundle.get("entry") or []:
        resource = (entry or {}).get("resource") or {}
        if resource.get("resourceType") and resource.get("id"):
            drafts[f"{resource['resourceType']}/{resource['id']}"] = resource
    return drafts


def _reference(value: Any) -> Any:
    return value.get("reference") if isinstance(value, dict) else value


def _absolute_url(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(("https://", "http://")) and len(value) > 8
