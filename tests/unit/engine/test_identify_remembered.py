"""A medication identified once is remembered by what it is read from: the remembered answer is always the
one reading it again gives (``ProductMatcher.identify`` against ``_identify``)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.engine.identify import ProductMatcher
from cds_service.knowledge.loader import load_knowledge


@pytest.fixture(scope="module")
def knowledge():
    return load_knowledge()


# Small pools: a key that left out a value identify reads would give one medication another's answer.
_TEXTS = ["24909", "1435170", "0517-2325", "B03AC", "Venofer", "ferrous sulfate", "IV iron", 1, None]
_VALUES = st.sampled_from(_TEXTS)
_SYSTEMS = st.sampled_from(["http://www.nlm.nih.gov/research/umls/rxnorm", "http://hl7.org/fhir/sid/ndc",
                            "http://www.whocc.no/atc", None, 1])
_CODING = st.one_of(st.fixed_dictionaries({}, optional={"code": _VALUES, "system": _SYSTEMS, "display": _VALUES}),
                    _VALUES)
_CONCEPT = st.one_of(st.fixed_dictionaries({}, optional={"text": _VALUES, "coding": st.lists(_CODING, max_size=2)}),
                     _VALUES, st.fixed_dictionaries({"text": st.just(["a list"])}))
_CALL = st.tuples(st.lists(_CONCEPT, max_size=2), st.lists(_VALUES, max_size=2), st.lists(_CONCEPT, max_size=1))


def _variants(call):
    """``call`` with one value changed (every text, code, system and display, to every other value in the pool)."""
    concepts, extra, forms = call
    for part in (0, 2):
        for i, concept in enumerate(call[part]):
            if not isinstance(concept, dict):
                continue
            for changed in _changed(concept, "text"):
                yield _replace(call, part, i, changed)
            for j, coding in enumerate(concept.get("coding") or ()):
                for field in ("code", "system", "display") if isinstance(coding, dict) else ():
                    for new in _changed(coding, field):
                        codings = [*concept["coding"][:j], new, *concept["coding"][j + 1:]]
                        yield _replace(call, part, i, {**concept, "coding": codings})
    for i in range(len(extra)):
        for value in _TEXTS:
            yield concepts, [*extra[:i], value, *extra[i + 1:]], forms


def _changed(holder: dict, field: str):
    for value in [*_TEXTS, "http://www.nlm.nih.gov/research/umls/rxnorm", "http://hl7.org/fhir/sid/ndc"]:
        if holder.get(field, "absent") != value:
            yield {**holder, field: value}


def _replace(call, part, i, concept):
    parts = list(call)
    parts[part] = [*call[part][:i], concept, *call[part][i + 1:]]
    return tuple(parts)


@settings(max_examples=300, deadline=None)
@given(call=_CALL)
def test_a_remembered_medication_is_identified_as_reading_it_again_would(knowledge, call):
    matcher = ProductMatcher(knowledge)
    for concepts, extra, forms in [call, *_variants(call), call]:   # the first one remembered, then one value changed
        assert matcher.identify(concepts, extra, forms) == matcher._identify(concepts, extra, forms)
