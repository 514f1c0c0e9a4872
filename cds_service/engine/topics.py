"""The card-topic registry: every topic is declared once, by the module that raises its card.

A rule module declares ``TOPIC = Topic("dose-limit", rank=30, display=..., label_fields=..., protocol_keys=...)``.
Everything else derives from those declarations: the order in which the engine runs the rules
(``rules.RULES``), the card builder's topic display and Sources caveats, the metric label
vocabulary, the knowledge check (wording for every topic) and the tests' contract checks.

``Topic`` is a ``str`` (the topic code) so that rules keep writing ``Finding(topic=TOPIC)`` and
``text.phrase(knowledge, TOPIC, ...)``; the declaration rides along as attributes.
"""

from __future__ import annotations

from functools import cache


class Topic(str):
    """A card topic code, with what the service must know about it.

    ``display``: shown when wording.yaml lacks the topic's display (a card never loses its topic).
    ``rank``: position of the card among one order's cards (lower first; equal indicators keep this order).
    ``label_fields``: the product-label fields (``LabelLimits`` attributes) the card's values come from, and
    ``protocol_keys``: the protocol entries, as key paths (``Protocol.at``: "observation" or
    "observation.default_minutes"), so the console can list the unverified or local values a
    topic's cards rest on (cards themselves never show verification status).
    ``premedications``: the card cites the premedications in protocol.yaml.
    ``wording``: its section under ``wording.topics`` in cards/wording.yaml (default: the code).
    ``iv_only``: the card checks an intravenous administration (rate, observation after the infusion,
    premedication before it): not run for an order by another route its label allows (INFeD IM).
    """

    display: str
    rank: int
    label_fields: tuple[str, ...]
    protocol_keys: tuple[str, ...]
    premedications: bool
    wording: str
    iv_only: bool

    def __new__(cls, code: str, *, display: str | None = None, rank: int = 0, label_fields: tuple[str, ...] = (),
                protocol_keys: tuple[str, ...] = (), premedications: bool = False, wording: str | None = None,
                iv_only: bool = False):
        topic = super().__new__(cls, code)
        topic.display = display or code
        topic.rank = rank
        topic.label_fields = tuple(label_fields)
        topic.protocol_keys = tuple(protocol_keys)
        topic.premedications = premedications
        topic.wording = wording or code
        topic.iv_only = iv_only
        return topic

    @property
    def code(self) -> str:
        return str(self)


@cache
def registered() -> tuple[Topic, ...]:
    """Every topic a card can carry: the rules' topics in card order, then history-unavailable."""
    from cds_service.engine import unavailable  # imported here: the rule modules import this module
    from cds_service.engine.rules import RULES

    return tuple(rule.TOPIC for rule in RULES) + (unavailable.TOPIC,)


def codes() -> tuple[str, ...]:
    return tuple(topic.code for topic in registered())


def by_code(code: str) -> Topic | None:
    return next((topic for topic in registered() if topic == code), None)
