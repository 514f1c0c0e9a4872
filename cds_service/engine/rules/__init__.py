"""One module per concern; each exposes ``TOPIC`` and ``check(OrderFacts) -> Finding | None``.

The order of ``RULES`` is the order of the cards for one IV-iron order: the
loudest concern (earlier hypersensitivity) first, the routine observation order
last but one.
"""

from __future__ import annotations

from cds_service.engine.rules import dose, formulation, hypersensitivity, iron_status, observation, premedication, rate

RULES = (hypersensitivity, formulation, dose, rate, premedication, observation, iron_status)
