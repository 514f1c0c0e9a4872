"""Property tests of the request loaders: any JSON put anywhere in a valid request is either accepted
or refused with a 4xx ApiError naming a field; nothing else ever escapes (no 500 in the making)."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.cds_hooks.errors import ApiError
from cds_service.cds_hooks.schemas import load_feedback, load_hook_request
from cds_service.config import Config
from support.hook_requests import hook_request, medication_request

CONFIG = Config()
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=15,
)
VALID_HOOK = hook_request(medication_request("mr-1"), medication_request("mr-2"), hook="order-select",
                          fhirServer="https://ehr.example.org/fhir",
                          fhirAuthorization={"access_token": "t", "token_type": "Bearer", "expires_in": 60,
                                             "scope": "patient/*.read", "subject": "iron-cds"},
                          prefetch={"patient": {"resourceType": "Patient", "id": "pat-1"}, "weight": None})
VALID_FEEDBACK = {"feedback": [
    {"card": "c1", "outcome": "accepted", "acceptedSuggestions": [{"id": "s1"}],
     "outcomeTimestamp": "2026-01-05T10:00:00Z"},
    {"card": "c2", "outcome": "overridden", "outcomeTimestamp": "2026-01-05T10:00:00+02:00",
     "overrideReason": {"reason": {"system": "urn:x", "code": "other", "display": "Other"}, "userComment": "c"}},
]}


def paths(value, prefix=()):
    """Every path to a node of a JSON value (the root excluded)."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield prefix + (key,)
        yield from paths(child, prefix + (key,))


HOOK_PATHS = sorted(paths(VALID_HOOK), key=repr)
FEEDBACK_PATHS = sorted(paths(VALID_FEEDBACK), key=repr)


def mutate(valid, path, value, delete):
    body = copy.deepcopy(valid)
    node = body
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return body


def accepted_or_refused_cleanly(load, body):
    try:
        load(body)
    except ApiError as exc:
        assert 400 <= exc.status < 500
        assert exc.message and "Traceback" not in exc.message
        return "refused"
    return "accepted"


def test_the_valid_examples_are_valid():
    assert load_hook_request(copy.deepcopy(VALID_HOOK), CONFIG) is not None
    assert len(load_feedback(copy.deepcopy(VALID_FEEDBACK))) == 2


@settings(max_examples=300, deadline=None)
@given(path=st.sampled_from(HOOK_PATHS), value=JSON, delete=st.booleans())
def test_any_value_anywhere_in_a_hook_request_is_accepted_or_refused_cleanly(path, value, delete):
    accepted_or_refused_cleanly(lambda body: load_hook_request(body, CONFIG), mutate(VALID_HOOK, path, value, delete))


@settings(max_examples=200, deadline=None)
@given(path=st.sampled_from(FEEDBACK_PATHS), value=JSON, delete=st.booleans())
def test_any_value_anywhere_in_feedback_is_accepted_or_refused_cleanly(path, value, delete):
    accepted_or_refused_cleanly(load_feedback, mutate(VALID_FEEDBACK, path, value, delete))


@settings(max_examples=100, deadline=None)
@given(body=JSON)
def test_any_json_as_a_whole_request_is_refused_cleanly(body):
    assert accepted_or_refused_cleanly(lambda b: load_hook_request(b, CONFIG), body) == "refused"
    assert accepted_or_refused_cleanly(load_feedback, body) == "refused"


@settings(max_examples=200, deadline=None)
@given(moment=st.datetimes(), offset_minutes=st.integers(-1439, 1439), fraction=st.text("0123456789", max_size=12))
def test_any_timestamp_shape_is_accepted_or_refused_cleanly(moment, offset_minutes, fraction):
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S").zfill(19) + (f".{fraction}" if fraction else "") \
        + f"{sign}{hours:02d}:{minutes:02d}"
    body = copy.deepcopy(VALID_FEEDBACK)
    body["feedback"][1]["outcomeTimestamp"] = stamp
    if accepted_or_refused_cleanly(load_feedback, body) == "accepted":
        assert load_feedback(body)[1]["outcomeTimestamp"].endswith("Z")
