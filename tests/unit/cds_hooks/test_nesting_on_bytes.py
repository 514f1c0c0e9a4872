"""The depth limit is checked on the request bytes: proven equal to the walk over the parsed value.

``nested_deeper`` (bytes, on the request path) must say exactly what ``nesting_exceeds`` (the
definition, on the parsed value) says, for every JSON text: strings full of brackets, quotes and
backslashes, escapes, non-ASCII text, any whitespace, and limits on both sides of the real depth.
"""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.cds_hooks.request_body import nested_deeper, nesting_exceeds

# Text that tries hard to look like structure: brackets, quotes, backslashes, escapes.
tricky_text = st.text(alphabet=st.sampled_from(list('{}[]"\\/:,0 ab\n\té€\U0001f600')), max_size=12)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                    st.floats(allow_nan=False, allow_infinity=False), tricky_text)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(tricky_text, children, max_size=4)),
    max_leaves=40,
)
objects = st.dictionaries(tricky_text, json_values, max_size=4)


def depth(value) -> int:
    """The depth by the definition: the smallest limit that is not exceeded."""
    limit = 0
    while nesting_exceeds(value, limit):
        limit += 1
    return limit


def encodings(value) -> list[bytes]:
    return [orjson.dumps(value), json.dumps(value).encode(), json.dumps(value, ensure_ascii=False).encode(),
            json.dumps(value, indent=3, separators=(" ,", " : ")).encode()]


@settings(max_examples=400, deadline=None)
@given(objects)
def test_the_byte_check_equals_the_walk_on_any_json(value):
    d = depth(value)
    for raw in encodings(value):
        for limit in {max(0, d - 2), max(0, d - 1), d, d + 1}:
            assert nested_deeper(raw, limit) == nesting_exceeds(value, limit), (raw, limit)


@pytest.mark.parametrize("text", ['\\', '\\"', '"{[', '\\\\"]', '}}}]]]', '\\\\\\"{', '"', '""', '\\u005b',
                                  "{}[]" * 20])
def test_strings_that_look_like_structure_do_not_count(text):
    for value in ({"a": text}, {text: [text, {text: text}]}, {"a": [[[text]]], text: {}}):
        for raw in encodings(value):
            for limit in range(0, 6):
                assert nested_deeper(raw, limit) == nesting_exceeds(value, limit), (raw, limit)


def test_a_parent_is_not_emptied_in_the_same_pass_as_its_children():
    value = {"a": [{}, [[]], {"b": [{}]}]}                                      # 5 levels
    raw = orjson.dumps(value)
    assert [nested_deeper(raw, limit) for limit in range(1, 7)] == [True, True, True, True, False, False]
    assert [nesting_exceeds(value, limit) for limit in range(1, 7)] == [True, True, True, True, False, False]


def test_very_deep_text_is_refused_without_recursion():
    raw = b'{"a":' + b"[" * 100_000 + b"1" + b"]" * 100_000 + b"}"
    assert nested_deeper(raw, 64)
    assert not nested_deeper(b'{"a":' + b"[" * 63 + b"1" + b"]" * 63 + b"}", 64)
    assert nested_deeper(b'{"a":' + b"[" * 64 + b"1" + b"]" * 64 + b"}", 64)
