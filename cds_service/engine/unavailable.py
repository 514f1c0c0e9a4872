"""history-unavailable: say which data we could not obtain and which checks ran on the order alone.

Silence is worse than a partial answer for a prescriber, so when the record is
incomplete every rule still runs on what we have and this one card lists
what is missing (``missing_data`` in its wording, one line per prefetch key) and why. It also says when
free text was longer than the engine reads (``budget.TEXT_CAP``), and, when the
call's deadline stopped the engine, that the checks could not be completed.
"""

from __future__ import annotations

from typing import Sequence

from cds_service.engine import text
from cds_service.engine.budget import TEXT_CAP
from cds_service.engine.markdown import markdown_text
from cds_service.engine.model import Finding, IronOrder
from cds_service.engine.topics import Topic
from cds_service.knowledge.model import Knowledge

TOPIC = Topic("history-unavailable", display="Patient history unavailable")


def check(unavailable: dict[str, str], drugs: list[str], knowledge: Knowledge,
          unresolved: Sequence[IronOrder] = (), texts_cut: int = 0) -> Finding | None:
    """``unresolved``: IV orders whose Medication could not be read (so not known to be iron);
    ``texts_cut``: how many free-text fields were read only up to the cap."""
    # A Medication read that failed for an order already identified (by the reference's name) is
    # not missing history: only the unresolved orders speak for those reads.
    history = {key: reason for key, reason in unavailable.items() if not key.startswith("medication:")}
    if not unresolved and (not (history or texts_cut) or not drugs):
        return None
    feeds = text.topic_wording(knowledge, TOPIC).get("missing_data") or {}
    items = [text.phrase(knowledge, TOPIC, "unresolved_item", order_id=markdown_text(order.request_id),
                         why=order.matched_on or "not readable")
             for order in unresolved]
    items += [text.phrase(knowledge, TOPIC, "item", what=feeds.get(key, key), reason=markdown_text(reason))
              for key, reason in sorted(history.items())]
    if texts_cut:
        items.append(text.phrase(knowledge, TOPIC, "text_cut_item", count=texts_cut, cap=TEXT_CAP))
    if not items:   # never "Check these by hand:" followed by nothing
        return None
    if drugs and (history or texts_cut):
        names = ", ".join(dict.fromkeys(drugs))
        summary = text.phrase(knowledge, TOPIC, "summary", drugs=names)
        intro = text.phrase(knowledge, TOPIC, "detail", drugs=names)
    else:
        summary = text.phrase(knowledge, TOPIC, "summary_unresolved")
        intro = text.phrase(knowledge, TOPIC, "detail_unresolved")
    return Finding(
        topic=TOPIC,
        indicator="warning",
        order=None,
        summary=text.summary(summary),
        detail=text.compose(intro, text.bullet_list(items)),
    )


def incomplete(findings: list[Finding], drugs: list[str], knowledge: Knowledge) -> list[Finding]:
    """The findings done before the call's deadline, led by one card saying the checks did not finish.

    A history-unavailable finding made earlier in the call is folded into this card (one card per topic).
    """
    names = ", ".join(dict.fromkeys(drugs)) or text.phrase(knowledge, TOPIC, "incomplete_unnamed")
    earlier = [f for f in findings if f.topic == TOPIC]
    card = Finding(
        topic=TOPIC,
        indicator="warning",
        order=None,
        summary=text.summary(text.phrase(knowledge, TOPIC, "incomplete_summary", drugs=names)),
        detail=text.compose(text.phrase(knowledge, TOPIC, "incomplete_detail", drugs=names),
                            *(f.detail or "" for f in earlier)),
    )
    return [card, *(f for f in findings if f.topic != TOPIC)]
