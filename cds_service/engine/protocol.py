"""Reading institutional protocol values from the knowledge: the readers' import path.

One behaviour everywhere: a value the protocol does not set raises ``MissingKnowledge`` (the
validated knowledge always sets them; a reader or rule that runs without one fails visibly).
"""

from __future__ import annotations

from cds_service.engine.facts import protocol_fact, protocol_node, protocol_value

__all__ = ["protocol_fact", "protocol_node", "protocol_value"]
