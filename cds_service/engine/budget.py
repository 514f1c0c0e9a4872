"""What one hook call may cost the engine: a total deadline, and a cap on the free text read per field.

Free text from the EHR is untrusted and unbounded (a 50 kB ``Condition.code.text``
arrives through ordinary prefetch), so:

- every free-text field is read up to ``TEXT_CAP`` characters, cut at a word
  boundary; the cut is logged (length only, never the text) and counted, so the
  engine can say on a card that part of the record was not read;
- the engine stops at the call's deadline (``IRON_CDS_ENGINE_DEADLINE``) and the
  call answers with the cards finished so far plus a visible "could not complete
  the checks" card (``engine.evaluate``).

The readers are pure functions of their arguments; threading a budget through
every one of them would touch every reader signature, so the current call's
budget sits in a context variable (one per request thread) set by ``evaluate``.
Without a budget (console preview, unit tests of one reader) there is no
deadline and cuts are only logged.
"""

from __future__ import annotations

import contextlib
import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Iterator

log = logging.getLogger("iron_cds.engine")

TEXT_CAP = 4096          # characters of one free-text field that the engine reads
_WORD_BOUNDARY_SLACK = 64  # cut at the last space within this many characters of the cap, else hard

_clock = time.monotonic   # module attribute so tests can drive the clock without sleeping


class DeadlineExceeded(Exception):
    """The engine ran past the call's deadline: stop and answer with what is done."""


@dataclass
class Budget:
    deadline: float | None = None   # a ``_clock()`` value; None: no deadline
    texts_cut: int = 0
    stopped: bool = False           # some work was left undone because of the deadline

    def over(self) -> bool:
        """Whether the deadline has passed (and so the work that asked is left undone)."""
        if self.deadline is not None and _clock() > self.deadline:
            self.stopped = True
        return self.stopped

    def check(self) -> None:
        if self.over():
            raise DeadlineExceeded()


_current: ContextVar[Budget | None] = ContextVar("iron_cds_engine_budget", default=None)


@contextlib.contextmanager
def budget_scope(seconds: float | None) -> Iterator[Budget]:
    """The budget of one engine run: ``seconds`` from now (None or <= 0: no deadline)."""
    budget = Budget(deadline=_clock() + seconds if seconds and seconds > 0 else None)
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)


def check_deadline() -> None:
    """Raise ``DeadlineExceeded`` when the current call's deadline has passed."""
    budget = _current.get()
    if budget is not None:
        budget.check()


def over_deadline() -> bool:
    """Whether the current call's deadline has passed (the caller stops and leaves the rest undone)."""
    budget = _current.get()
    return budget is not None and budget.over()


def capped(text: str) -> tuple[str, bool]:
    """(the part of ``text`` the engine reads, whether it was cut)."""
    if len(text) <= TEXT_CAP:
        return text, False
    head = text[:TEXT_CAP]
    if not text[TEXT_CAP].isspace():   # no half word at the end ("excluded" cut to "exc")
        space = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
        if space >= TEXT_CAP - _WORD_BOUNDARY_SLACK:
            head = head[:space]
    budget = _current.get()
    if budget is not None:
        budget.texts_cut += 1
    log.info("free text cut", extra={"event": "free-text-cut", "chars": len(text), "read": len(head)})
    return head, True
