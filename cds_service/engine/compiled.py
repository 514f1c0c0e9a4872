"""Matchers compiled from the knowledge once, not on every hook call."""

from __future__ import annotations

from typing import Callable, TypeVar

T = TypeVar("T")


def per_knowledge(build: Callable[[object], T]) -> Callable[[object], T]:
    """``build(knowledge)``, remembered for each Knowledge object (one per process in the service;
    tests build many, so the memory is bounded)."""
    cache: dict[int, tuple[object, T]] = {}

    def compiled(knowledge) -> T:
        entry = cache.get(id(knowledge))
        if entry is None or entry[0] is not knowledge:   # an id can be reused after an object is freed
            if len(cache) > 16:
                cache.clear()
            entry = cache[id(knowledge)] = (knowledge, build(knowledge))
        return entry[1]

    return compiled
