"""history-unavailable: say which data we could not obtain and which checks ran on the order alone.

Silence is worse than a partial answer for a prescriber, so when the record is
incomplete every rule still runs on what we have and this one card lists
what is missing (the prefetch key's ``feeds`` text) and why.
"""

from __future__ import annotations

from typing import Sequence

from cds_service.engine import text
from cds_service.engine.model import Finding, IronOrder
from cds_service.knowledge.model import Knowledge

TOPIC = "history-unavailable"


def check(unavailable: dict[str, str], drugs: list[str], knowledge: Knowledge,
          feeds: dict[str, str] | None, unresolved: Sequence[IronOrder] = ()) -> Finding | None:
    """``unresolved``: IV orders whose Medication could not be read (so not known to be iron)."""
    if not unresolved and (not unavailable or not drugs):
        return None
    feeds = feeds or {}
    items = [text.phrase(knowledge, TOPIC, "unresolved_item", order_id=order.request_id,
                         why=order.matched_on or "not readable")
             for order in unresolved]
    items += [text.phrase(knowledge, TOPIC, "item", what=feeds.get(key, key), reason=reason)
              for key, reason in sorted(unavailable.items()) if not key.startswith("medication:")]
    if drugs:
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
