"""Typed objects from a validated mapping, field by field, following the dataclass's own annotations.

The schemas (``schema*.py``) are what refuses a bad file, with a line naming file and field. This builder
only converts what they let through (mappings to the nested dataclasses, lists to tuples), and if the
schema and the model ever disagree it says which entry instead of failing with a ``KeyError``.
"""

from __future__ import annotations

import types
import typing
from dataclasses import MISSING, fields, is_dataclass
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


class ShapeError(ValueError):
    """An entry the model needs is missing or of the wrong kind: ``path`` is its dotted key path."""

    def __init__(self, path: str, message: str):
        self.path = path
        super().__init__(f"{path}: {message}")


def typed(cls: type[T], raw: Any, path: str) -> T:
    """``cls`` built from ``raw``; keys the dataclass does not have are ignored (the schema refuses them)."""
    if not isinstance(raw, dict):
        raise ShapeError(path, "Must be a mapping.")
    values = {}
    for item in fields(cls):
        where = f"{path}.{item.name}"
        hint = _hints(cls)[item.name]
        if raw.get(item.name) is not None:
            values[item.name] = _convert(_required(hint), raw[item.name], where)
        elif item.default is not MISSING:
            values[item.name] = item.default
        elif _optional(hint):
            values[item.name] = None
        else:
            raise ShapeError(where, "Missing data for required field.")
    return cls(**values)


def _convert(hint: Any, value: Any, path: str) -> Any:
    if is_dataclass(hint):
        return typed(hint, value, path)
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, list):
            raise ShapeError(path, "Must be a list.")
        return tuple(value)
    return value   # a leaf (number, text, flag): its type is the schema's to check


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _optional(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


def _required(hint: Any) -> Any:
    """``Fact`` for ``Fact | None``; any other hint unchanged."""
    if not _optional(hint):
        return hint
    rest = [arg for arg in typing.get_args(hint) if arg is not type(None)]
    return rest[0] if len(rest) == 1 else hint
