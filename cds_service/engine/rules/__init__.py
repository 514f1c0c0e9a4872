"""One module per card topic; each declares ``TOPIC`` (an ``engine.topics.Topic``) and
``check(OrderFacts) -> Finding | None``.

Every module in this package is a rule: adding a topic means adding one module here (plus its
wording in cards/wording.yaml and its tests). ``RULES`` runs them in their topics' ``rank``: the
loudest concern (earlier hypersensitivity) first, the routine observation order last but one.
"""

from __future__ import annotations

import importlib
import pkgutil


def _discover() -> tuple:
    modules = [importlib.import_module(f"{__name__}.{info.name}") for info in pkgutil.iter_modules(__path__)]
    ranks = [module.TOPIC.rank for module in modules]
    if len(set(ranks)) != len(ranks):  # two rules with one rank would order their cards by file name
        raise RuntimeError(f"rule modules share a rank: {sorted(ranks)}")
    return tuple(sorted(modules, key=lambda module: module.TOPIC.rank))


RULES = _discover()
# A test-dose order our card created, drafted beside the order it belongs to: only its speed is checked.
COMPANION_RULES = tuple(module for module in RULES if module.TOPIC.code == "infusion-rate")
