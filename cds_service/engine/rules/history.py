"""history-unavailable: say which data we could not obtain and which checks ran on the order alone.

Silence is worse than a partial answer for a prescriber, so when the record is
incomplete every rule still runs on what we have and this one card lists
what is missing (the prefetch key's ``feeds`` text) and why.
"""

from __future__ import annotations

from ...knowledge.model import Knowledge
from ..model import Finding
from . import text

TOPIC = "history-unavailable"


def check(unavailable: dict[str, str], drugs: list[str], knowledge: Knowledge,
          feeds: dict[str, str] | None) -> Finding | None:
    if not unavailable or not drugs:
        return None
    feeds = feeds or {}
    names = ", ".join(dict.fromkeys(drugs))
    items = [text.phrase(knowledge, TOPIC, "item", what=feeds.get(key, key), reason=reason)
             for key, reason in sorted(unavailable.items())]
    detail = text.compose(text.phrase(knowledge, TOPIC, "detail", drugs=names), text.bullet_list(items))
    return Finding(
        topic=TOPIC,
        indicator="warning",
        order=None,
        summary=text.summary(text.phrase(knowledge, TOPIC, "summary", drugs=names)),
        detail=detail,
    )
