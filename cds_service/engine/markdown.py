"""Patient text inside card markdown: the one place it is escaped.

A card's ``detail`` is markdown (CDS Hooks: GitHub-flavoured), and EHRs render
it. Text from the EHR (a Condition's name, a stop reason, a unit, an order's
medication text) must show as the text it is: never a link, an image, HTML or
emphasis. ``markdown_text`` turns such text into markdown that renders as that
text on one line; every place that puts patient text into a card's detail calls
it. ``plain_text`` undoes it for the places that are plain text (the summary).

Escaped: the characters that open inline markup anywhere (``\\ ` * _ [ ] < > | ~ &``),
the marks that open a block at the start of the text (``#``, ``>``, ``-``, ``+``,
``=``, ``1.``, ``1)``), and the ``:`` of ``http://`` / the ``.`` of ``www.`` so GFM
renderers do not make a bare address a link. Line breaks become spaces and other
control characters U+FFFD.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")   # would reach a terminal or a log viewer
_INLINE = re.compile(r"[\\`*_\[\]<>|~&]")
_BLOCK_START = re.compile(r"^(?:[#>+=-]|\d{1,9}[.)])")
_AUTOLINK = re.compile(r"(?i)(\b(?:https?|ftp|mailto)):|(\bwww)\.")
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")   # a backslash before ASCII punctuation (CommonMark)
ELLIPSIS = "\u2026"


def markdown_text(value: object, limit: int | None = None) -> str:
    """``value`` as markdown that shows exactly this text, on one line; at most ``limit`` characters of markdown."""
    line = " ".join(_CONTROL.sub("\ufffd", str(value)).split())
    if limit is not None:
        line = line[: limit * 2]   # escaping at most doubles it: the rest cannot be shown anyway
    line = _INLINE.sub(lambda m: "\\" + m.group(0), line)
    if _may_hold_address(line):
        line = _AUTOLINK.sub(lambda m: f"{m.group(1)}\\:" if m.group(1) else f"{m.group(2)}\\.", line)
    start = _BLOCK_START.match(line)
    if start:
        mark = start.group(0)
        line = mark[:-1] + "\\" + mark[-1] + line[len(mark):]
    if limit is not None and len(line) > limit:
        line = line[: limit - 1].rstrip()
        if (len(line) - len(line.rstrip("\\"))) % 2:   # never end on half an escape: it would escape what follows
            line = line[:-1]
        line += ELLIPSIS
    return line


def _may_hold_address(line: str) -> bool:
    """False when ``_AUTOLINK`` surely finds nothing: its case-blind search costs more than all the rest of
    the escaping, and a data point ("Body weight 72 kg") rarely names an address. Only ASCII text is
    ruled out by its words: case-blind, the pattern also takes "ı", "İ" and "ſ" for "i" and "s"."""
    if not line.isascii():
        return True
    lower = line.lower()
    return "http" in lower or "ftp" in lower or "mailto" in lower or "www" in lower


def plain_text(markdown: str) -> str:
    """Text with markdown backslash escapes removed (for plain-text fields built from escaped parts)."""
    return _ESCAPED.sub(r"\1", markdown)
