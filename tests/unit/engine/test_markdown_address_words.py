"""Escaping skips the search for web addresses in text that cannot hold one: the result is exactly
what searching every text gives, whatever the case, the script or where the text is cut."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.engine import markdown

# Pieces of addresses in every case, the non-ASCII letters the case-blind pattern takes for ASCII ones,
# and the characters around them that make or break a word boundary.
_PIECES = ["http", "HTTPS:", "hTtP:", "ftp", "FTP:", "mailto:", "MailTo", "www.", "WwW", "maılto:", "MAİLTO:",
           "httpſ:", ":", ".", "//", " ", "_", "*", "x", "1.", "\n", "\x1b", "é", "\u00a0"]
_TEXT = st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=3)), max_size=12).map("".join)


def searched_always(value, limit):
    """The plain way: every text searched for addresses."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(markdown, "_may_hold_address", lambda line: True)
        return markdown.markdown_text(value, limit)


@settings(max_examples=1500, deadline=None)
@given(value=_TEXT, limit=st.one_of(st.none(), st.integers(1, 40)))
def test_the_same_escaping_as_searching_every_text(value, limit):
    assert markdown.markdown_text(value, limit) == searched_always(value, limit)


def test_text_without_address_words_is_not_searched():
    assert not markdown._may_hold_address("Body weight 72 kg (20 Jul 2026)")
    assert markdown._may_hold_address("see WWW.example")
    assert markdown._may_hold_address("maılto:x")   # not ASCII: searched
