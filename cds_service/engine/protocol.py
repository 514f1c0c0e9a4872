"""Reading institutional protocol values from the knowledge (``knowledge.protocol[...]["value"]``)."""

from __future__ import annotations


def protocol_value(knowledge, *path: str, default=None):
    """The value of the protocol fact at ``path``, or ``default`` when the protocol does not set it."""
    node = knowledge.protocol
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return default
        node = node[key]
    if isinstance(node, dict):
        return node.get("value", default)
    return getattr(node, "value", node)
