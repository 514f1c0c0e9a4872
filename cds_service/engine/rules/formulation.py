"""formulation: what the product itself requires or risks.

One card per order gathering: an injectable product ordered by a route its label
does not allow (iron sucrose IM); product not marketed in this jurisdiction; a
test dose before the first iron-dextran dose (US label); phosphate before a
re-dose within the protocol window, or low phosphate, for products whose label
lists hypophosphataemia; boxed warnings; label risks the wording file asks to
always show (e.g. ferumoxytol's MRI interference); an earlier reaction to this
same product (consider another).
"""

from __future__ import annotations

import re

from cds_service.engine import text
from cds_service.engine.compiled import per_knowledge
from cds_service.engine.facts import (
    OrderFacts,
    codings,
    draft_resources_of_type,
    iron_administrations,
    parse_when,
    within_days,
)
from cds_service.engine.fhir_values import day
from cds_service.engine.identify import ndc_keys
from cds_service.engine.markdown import markdown_text
from cds_service.engine.model import INDICATORS, Evidence, Finding, SuggestionSpec
from cds_service.engine.order import labelled_routes_text
from cds_service.engine.rules import hypersensitivity
from cds_service.engine.suggest import LOINC, has_marker, lab_request, test_dose_request
from cds_service.engine.topics import Topic

TOPIC = Topic("formulation", rank=20, display="Formulation-specific requirement",
              label_fields=("test_dose", "boxed_warning", "risks"),
              protocol_keys=("fcm_redose_phosphate_days", "lab_thresholds"))
HYPOPHOSPHATAEMIA = "hypophosphataemia"
class _Card:
    def __init__(self, facts: OrderFacts):
        self.facts = facts
        self.items: list[str] = []
        self.parts: list[str] = []
        self.suggestions: list[SuggestionSpec] = []
        self.evidence: list[Evidence] = []
        self.indicator = "info"
        self.cite = text.Citations(facts.knowledge)

    def add(self, item_key: str, paragraph: str, indicator: str) -> None:
        item = text.phrase(self.facts.knowledge, TOPIC, "items", item_key)
        if item not in self.items:
            self.items.append(item)
        self.parts.append(paragraph)
        if INDICATORS.index(indicator) > INDICATORS.index(self.indicator):
            self.indicator = indicator


def _not_marketed(card: _Card) -> None:
    facts = card.facts
    if facts.label.available:
        return
    card.add("not_marketed", text.phrase(facts.knowledge, TOPIC, "not_marketed", drug=facts.drug,
                                         jurisdiction=facts.ctx.jurisdiction, label=facts.label.label), "warning")
    card.cite.add("Availability", value="not marketed", source=facts.label.source, status="confirmed")


def _route(card: _Card) -> None:
    """An injectable product ordered by a route its label does not allow (read as IV iron, see order.py)."""
    facts = card.facts
    if not facts.order.route_conflict:
        return
    routes = labelled_routes_text(facts.knowledge, facts.product)
    card.add("route", text.phrase(facts.knowledge, TOPIC, "route", drug=facts.drug, routes=routes,
                                  route=markdown_text(facts.order.route_text or "not stated")), "warning")
    if facts.product.routes is not None:
        card.cite.add("Route (label)", facts.product.routes, value=f"{routes} use")


def _test_dose(card: _Card) -> None:
    facts, knowledge = card.facts, card.facts.knowledge
    rule = facts.label.test_dose
    if not rule or not rule.get("required"):
        return
    dose_mg, wait = float(rule["dose_mg"]), rule["wait_minutes"]
    order = facts.order
    if order.dose_mg is not None and order.dose_mg <= dose_mg:
        return  # this order is the test dose
    if iron_administrations(facts.patient, knowledge, dextran_only=True):
        return
    if order.labelled_non_iv:   # INFeD IM: the label's test dose by that route, never the IV one
        _test_dose_by_route(card, rule, dose_mg, wait)
        return
    seconds = rule.get("min_administration_seconds")
    given_over = f" over at least {seconds:g} seconds" if seconds else ""
    paragraph = [text.phrase(knowledge, TOPIC, "test_dose", dose=f"{dose_mg:g} mg", wait=f"{wait:g}",
                             label=facts.label.label,
                             given_over=given_over)]
    if "ironAdministrations" in facts.history_missing:
        paragraph.append(text.phrase(knowledge, TOPIC, "test_dose_history_unknown"))
    drafted = _test_drafted(facts, dose_mg)
    if drafted:
        paragraph.append(text.phrase(knowledge, TOPIC, "test_dose_already_drafted"))
    elif not hypersensitivity.stops(facts):   # beside the stop card, no order that reads as a way to proceed
        iv = knowledge.codes["routes"]["iv"]["snomed"]
        code, display = next(iter(iv.items()))
        route = {"system": "http://snomed.info/sct", "code": str(code), "display": display}
        instruction = text.phrase(knowledge, TOPIC, "test_dose_instruction_timed", dose=f"{dose_mg:g} mg",
                                  seconds=f"{seconds:g}", wait=f"{wait:g}") if seconds else \
            text.phrase(knowledge, TOPIC, "test_dose_instruction", dose=f"{dose_mg:g} mg", wait=wait)
        note = text.phrase(knowledge, TOPIC, "test_dose_note", drug=facts.drug)
        label = text.phrase(knowledge, TOPIC, "suggestion_label_test_dose", dose=f"{dose_mg:g} mg")
        push = knowledge.codes["administration_methods"]["push"]["snomed"]
        method_code, method_display = next(iter(push.items()))
        method = {"system": "http://snomed.info/sct", "code": str(method_code), "display": method_display}
        resource = test_dose_request(facts.ctx, order, dose_mg, route, instruction, note, seconds=seconds,
                                     wait_minutes=wait, method_coding=method)
        card.suggestions.append(SuggestionSpec(label=label, action="create", description=instruction,
                                               resource=resource, is_recommended=True))
    # Once the test-dose order is among the drafts the action is taken: the reminder stays, no longer interruptive.
    card.add("test_dose", " ".join(paragraph), "info" if drafted else "warning")
    card.cite.add("Test dose", value=test_dose_value(card.facts, dose_mg, rule), source=rule.get("source"),
                  status=rule.get("status"), note=rule.get("note"), section=rule.get("section"))


def _test_drafted(facts: OrderFacts, dose_mg: float) -> bool:
    order = facts.order
    return any(o is not order and o.product_key == order.product_key and
               ((o.dose_mg is not None and o.dose_mg <= dose_mg) or has_marker(o.resource, TOPIC))
               for o in facts.iron_orders)


def _test_dose_by_route(card: _Card, rule, dose_mg: float, wait) -> None:
    """The test dose for an order by a route other than IV that the label allows (INFeD IM): given by that
    route, with its wait; offered as an order only when the label describes a test dose by that route."""
    facts, knowledge, order = card.facts, card.facts.knowledge, card.facts.order
    route = text.common(knowledge, "order_reading", "route_names", order.route)
    paragraph = [text.phrase(knowledge, TOPIC, "test_dose_by_route", dose=f"{dose_mg:g} mg", wait=f"{wait:g}",
                             label=facts.label.label, route=route)]
    if "ironAdministrations" in facts.history_missing:
        paragraph.append(text.phrase(knowledge, TOPIC, "test_dose_history_unknown"))
    drafted = _test_drafted(facts, dose_mg)
    codes = (knowledge.codes["routes"].get(order.route) or {}).get("snomed") or {}
    if drafted:
        paragraph.append(text.phrase(knowledge, TOPIC, "test_dose_already_drafted"))
    elif order.route in (rule.get("routes") or ()) and codes and not hypersensitivity.stops(facts):
        code, display = next(iter(codes.items()))
        coding = {"system": "http://snomed.info/sct", "code": str(code), "display": display}
        instruction = text.phrase(knowledge, TOPIC, "test_dose_instruction_by_route", dose=f"{dose_mg:g} mg",
                                  wait=f"{wait:g}", route=route)
        note = text.phrase(knowledge, TOPIC, "test_dose_note_by_route", drug=facts.drug, route=route)
        resource = test_dose_request(facts.ctx, order, dose_mg, coding, instruction, note, wait_minutes=wait)
        card.suggestions.append(SuggestionSpec(
            label=text.phrase(knowledge, TOPIC, "suggestion_label_test_dose_by_route", dose=f"{dose_mg:g} mg",
                              route=route),
            action="create", description=instruction, resource=resource, is_recommended=True))
    card.add("test_dose", " ".join(paragraph), "info" if drafted else "warning")
    value = f"{dose_mg:g} mg"
    concentration = float(facts.product.concentration_mg_per_ml.value or 0)
    if concentration:
        value += f" ({dose_mg / concentration:g} mL)"
    value += f" by {route} injection, then at least {text.minutes_phrase(float(wait))} before the rest"
    card.cite.add("Test dose", value=value, source=rule.get("source"), status=rule.get("status"),
                  note=rule.get("note"), section=rule.get("section"))


def test_dose_value(facts: OrderFacts, dose_mg: float, rule) -> str:
    """ "25 mg (0.5 mL) over at least 30 seconds, then at least 60 minutes before the rest" for the Sources line."""
    value = f"{dose_mg:g} mg"
    concentration = float(facts.product.concentration_mg_per_ml.value or 0)
    if concentration:
        value += f" ({dose_mg / concentration:g} mL)"
    seconds = rule.get("min_administration_seconds")
    if seconds:
        value += f" over at least {seconds:g} seconds"
    return value + f", then at least {text.minutes_phrase(float(rule['wait_minutes']))} before the rest"


def _phosphate(card: _Card) -> None:
    facts, knowledge = card.facts, card.facts.knowledge
    risk = next((r for r in facts.label.risks if r.get("code") == HYPOPHOSPHATAEMIA), None)
    if risk is None:
        return
    spec = knowledge.codes["labs"]["phosphate"]
    window = knowledge.protocol.fcm_redose_phosphate_days
    days = max(float(window.value), float(risk.get("redose_within_days") or 0))
    threshold = knowledge.protocol.lab_thresholds.phosphate_low_mg_dl
    recency = float(knowledge.protocol.data_recency_days.labs.value)
    phosphate = facts.patient.labs.get(spec["loinc"])
    if phosphate is not None and not within_days(phosphate.date, facts.ctx, recency):
        phosphate = None
    low = phosphate is not None and phosphate.value < float(threshold.value)
    earlier = [a for a in iron_administrations(facts.patient, knowledge, product_key=facts.order.product_key)
               if within_days(a.date, facts.ctx, days)]
    last = max(earlier, key=lambda a: parse_when(a.date)) if earlier else None
    if low:
        card.add("phosphate_low", text.phrase(knowledge, TOPIC, "phosphate_low", drug=facts.drug,
                                              value=f"{phosphate.value:g}",
                                              date=day(phosphate.date) or "date unknown",
                                              threshold=f"{threshold.value:g}"), "warning")
        card.evidence.append(Evidence(text=f"Serum phosphate {phosphate.value:g} mg/dL", date=phosphate.date,
                                      reference=phosphate.reference))
        card.cite.add("Low phosphate threshold (protocol)", threshold)
    if last is not None:
        checked_after = phosphate is not None and parse_when(phosphate.date) and parse_when(last.date) \
            and parse_when(phosphate.date) >= parse_when(last.date)
        paragraph = [text.phrase(knowledge, TOPIC, "phosphate_redose", drug=facts.drug, days=f"{days:g}",
                                 last_date=day(last.date))]
        card.evidence.append(Evidence(text=f"Earlier {facts.product.display} {last.dose_mg or '?'} mg", date=last.date,
                                      reference=last.reference))
        card.cite.add("Phosphate before a re-dose (protocol)", window)
        if checked_after and not low:
            return  # measured since the last dose and not low: nothing to ask
        if checked_after:
            paragraph.append(text.phrase(knowledge, TOPIC, "phosphate_recent", value=f"{phosphate.value:g}",
                                         date=day(phosphate.date)))
        drafted = any(c.get("system") == LOINC and c.get("code") == spec["loinc"]
                      for request in draft_resources_of_type(facts,
                                                             "ServiceRequest") for c in codings(request.get("code")))
        if not drafted and not low:
            note = text.phrase(knowledge, TOPIC, "phosphate_note", drug=facts.drug)
            card.suggestions.append(SuggestionSpec(
                label=text.phrase(knowledge, TOPIC, "suggestion_label_phosphate"), action="create", description=note,
                resource=lab_request(facts.ctx, facts.order, TOPIC, spec["loinc"], spec["display"], note),
                is_recommended=True))
        card.add("phosphate", " ".join(paragraph), "warning")
    if low or last is not None:
        card.cite.add("Hypophosphatemia (label)", value=risk.get("text", ""), source=risk.get("source"),
                      status=risk.get("status"), note=risk.get("note"), section=risk.get("section"))


def _label_warnings(card: _Card) -> None:
    facts, knowledge = card.facts, card.facts.knowledge
    always = text.topic_wording(knowledge, TOPIC).get("always_show_risks") or ()
    for risk in facts.label.risks:
        if risk.get("code") in always:
            card.add("label_risk", text.phrase(knowledge, TOPIC, "label_risk", text=risk.get("text", "")), "info")
            card.cite.add("Label warning", value="", source=risk.get("source"),
                          status=risk.get("status"), note=risk.get("note"), section=risk.get("section"))
    boxed, products, label_name = ordered_boxed_warning(facts)
    if boxed is None:
        return
    # A confirmed boxed warning of the whole product (every label carries it) earns a card on every order.
    # One that only some labels carry (generic ferric carboxymaltose: hypophosphatemia, acted on by the
    # phosphate check) is quoted when the card exists for a reason of its own: an info card on every order
    # would be noise that teaches prescribers to skip our cards. When the order does not say which product
    # (brand or generic) it is, the warning is quoted as those labels', never assumed to be the ordered one's.
    if products is None and ((boxed.status == "confirmed" and label_name == facts.label.label) or card.items):
        card.add("boxed_warning", text.phrase(knowledge, TOPIC, "boxed_warning", label=label_name, text=boxed.value),
                 "info")
        card.cite.add("Boxed warning", boxed, value="")
    elif card.items:
        card.add("boxed_warning", text.phrase(knowledge, TOPIC, "boxed_warning_other_products", products=products,
                                              label=label_name, text=boxed.value), "info")
        card.cite.add("Boxed warning", boxed, value="")


_CODE_IN_MATCH = re.compile(r"\b(RxNorm|NDC) ([0-9-]+)")


def ordered_boxed_warning(facts: OrderFacts):
    """(boxed warning, None, label name) when it is the ordered product's; (warning, "which labels", label
    name) when the order names only the ingredient and some labels of the product box it; else Nones.

    The ordered codes are those that identified the product (``IronOrder.matched_on``)."""
    label = facts.label
    if label.boxed_warning is not None or not label.boxed_warning_by_product:
        return label.boxed_warning, None, label.label
    found = _CODE_IN_MATCH.findall(facts.order.matched_on or "")
    rxnorm = {code for kind, code in found if kind == "RxNorm"}
    ndc = {key for kind, code in found if kind == "NDC" for key in ndc_keys(code)}
    brand_named = any(f"name '{b}'".lower() in (facts.order.matched_on or "").lower() for b in facts.product.brands)
    entry_codes = _boxed_codes(facts.knowledge)[facts.order.product_key, facts.ctx.jurisdiction]
    for (rxnorm_codes, ndc_codes), (_, _, warning) in zip(entry_codes, label.boxed_warning_by_product, strict=True):
        if rxnorm & rxnorm_codes or ndc & ndc_codes:
            return warning, None, _source_title(facts, warning.source)
    if rxnorm & _brand_codes(facts.knowledge)[facts.order.product_key] or brand_named or ndc:
        return None, None, None   # a brand product, or a product whose label has no box: nothing is assumed
    codes, products, warning = label.boxed_warning_by_product[0]
    return warning, products, _source_title(facts, warning.source)


def _compile_brand_codes(knowledge) -> dict[str, frozenset[str]]:
    """Product key -> the RxNorm codes of its brands (SBD, SBDC, BN...)."""
    return {key: frozenset(code for code, tty in product.rxnorm.items() if tty.startswith("SB") or tty == "BN")
            for key, product in knowledge.products.items()}


def _compile_boxed_codes(knowledge) -> dict[tuple[str, str], tuple[tuple[frozenset[str], frozenset[str]], ...]]:
    """(product key, jurisdiction) -> per entry of the label's ``boxed_warning_by_product``: its RxNorm codes and
    its NDCs' labeler+product keys, as sets to meet the ordered codes."""
    def entry(codes) -> tuple[frozenset[str], frozenset[str]]:
        return frozenset(codes["rxnorm"]), frozenset(k for c in codes["ndc"] for k in ndc_keys(c))

    return {(key, jurisdiction): tuple(entry(codes) for codes, _, _ in label.boxed_warning_by_product)
            for key, product in knowledge.products.items() for jurisdiction, label in product.labels.items()}


# Every order of a product is compared with the same label codes: the sets are made once per Knowledge.
_brand_codes = per_knowledge(_compile_brand_codes)
_boxed_codes = per_knowledge(_compile_boxed_codes)


def _source_title(facts: OrderFacts, source_id: str) -> str:
    source = facts.knowledge.sources.get(source_id)
    return source.title if source else facts.label.label


def _same_product_reaction(card: _Card) -> None:
    facts = card.facts
    same = [r for r in facts.patient.reactions if r.product_key == facts.order.product_key]
    if not same:
        return
    days = dict.fromkeys(day(e.date) for r in same for e in r.evidence if e.date)  # one reaction, several records
    card.add("other_product", text.phrase(facts.knowledge, TOPIC, "other_product", drug=facts.product.display,
                                          date=", ".join(days) or "date unknown"), "info")
    card.evidence.extend(e for r in same for e in r.evidence)
    text.cite_from_wording(card.cite, TOPIC, "other_product")


def check(facts: OrderFacts) -> Finding | None:
    if not facts.identified:
        return None  # the rate and dose cards already say the product is unknown
    card = _Card(facts)
    for part in (_route, _not_marketed, _test_dose, _phosphate, _same_product_reaction, _label_warnings):
        part(card)
    if not card.items:
        return None
    knowledge = facts.knowledge
    summary = text.phrase(knowledge, TOPIC, "summary", drug=facts.drug, items=", ".join(card.items))
    detail = text.compose(*card.parts, text.evidence_block(knowledge, card.evidence), card.cite.block())
    return Finding(topic=TOPIC, indicator=card.indicator, order=facts.order, summary=text.summary(summary),
                   detail=detail,
                   evidence=tuple(card.evidence), sources=tuple(card.cite.ids), suggestions=tuple(card.suggestions))
