"""Keyword matching in free text that does not count negated mentions ("no anaphylaxis").

A small NegEx-style rule (Chapman et al. 2001), with every cue list in
``codes.negation`` (cards/codes.yaml):

- text is cut into clauses at . ; : ! ? and line breaks, then at terminator
  words ("but", "however", "after"...): a cue never reaches past its clause, so
  "no rash but anaphylaxis" still finds anaphylaxis;
- pseudo-negations ("not ruled out", "cannot be excluded") are blanked out
  first, so the cue inside them does not negate;
- a keyword is negated when a ``pre`` cue comes before it with at most
  ``window_words`` words between them ("denies chest pain or flushing"), or a
  ``post`` cue follows it directly
  ("anaphylaxis ruled out").

Cost is linear in the text: one pass cuts the clauses and blanks pseudo-negations,
one pass finds the mentions, and each mention looks back only over the window
(never re-scanning the clause from its start). At most ``budget.TEXT_CAP``
characters of a field are read (the cut is logged and shown on a card).

A keyword counts when any one of its mentions is not negated. Only free text
goes through here: coded data (SNOMED, ICD-10) is never negated. Without
``codes.negation`` nothing is negated (the stricter reading: every mention counts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generic, Iterable, TypeVar

from cds_service.engine.budget import capped, check_deadline
from cds_service.engine.compiled import per_knowledge
from cds_service.engine.fhir_values import normalize_text

T = TypeVar("T")

_CLAUSE_END = re.compile(r"[.;:!?\n\r]+")
_NON_WORD = re.compile(r"[^0-9a-z]+")
_BLANK = ""   # stands in for a word of a pseudo-negation: counts as a word, matches nothing


def words_of(text: str) -> list[str]:
    return _NON_WORD.sub(" ", text.lower()).split()


@dataclass(frozen=True)
class NegationRules:
    pre: tuple[tuple[str, ...], ...] = ()
    post: tuple[tuple[str, ...], ...] = ()
    pseudo: tuple[tuple[str, ...], ...] = ()
    terminators: tuple[tuple[str, ...], ...] = ()
    window_words: int = 0

    @property
    def active(self) -> bool:
        return bool(self.pre or self.post)

    @classmethod
    def from_knowledge(cls, knowledge) -> "NegationRules":
        spec = knowledge.codes.get("negation") if isinstance(knowledge.codes, dict) else None
        if not isinstance(spec, dict):
            return cls()

        def phrases(key: str) -> tuple[tuple[str, ...], ...]:
            raw = spec.get(key) if isinstance(spec.get(key), list) else []
            out = {tuple(words_of(p)) for p in raw if isinstance(p, str)}
            return tuple(sorted((p for p in out if p), key=len, reverse=True))   # longest first

        window = spec.get("window_words")
        return cls(pre=phrases("pre"), post=phrases("post"), pseudo=phrases("pseudo"),
                   terminators=phrases("terminators"), window_words=window if isinstance(window, int) else 0)


def _starts_at(words: list[str], i: int, phrase: tuple[str, ...]) -> bool:
    return tuple(words[i:i + len(phrase)]) == phrase


class PhraseIndex:
    """Phrases (word tuples) by their first word, longest first: which phrase starts at a position, in O(1) per word."""

    def __init__(self, phrases: Iterable[tuple[str, ...]]) -> None:
        self.by_first: dict[str, list[tuple[str, ...]]] = {}
        for phrase in sorted(set(phrases), key=len, reverse=True):
            self.by_first.setdefault(phrase[0], []).append(phrase)
        self.longest = max((len(p) for ps in self.by_first.values() for p in ps), default=0)

    def at(self, words: list[str], i: int) -> tuple[str, ...] | None:
        """The longest phrase starting at ``words[i]``."""
        for phrase in self.by_first.get(words[i], ()):
            if _starts_at(words, i, phrase):
                return phrase
        return None


class WorkMeter:
    """Counts the words the scanner looks at (tests use it to show the work is linear in the text)."""

    def __init__(self) -> None:
        self.steps = 0


class NegationScanner:
    """Finds the clauses of a text and whether a mention in a clause is negated.

    Linear in the text: each word is visited once to cut clauses and blank
    pseudo-negations, and a mention looks back only at the ``window_words``
    words (plus one cue's length) before it, never at the whole clause.
    """

    def __init__(self, rules: NegationRules) -> None:
        self.rules = rules
        self.pre = PhraseIndex(rules.pre)
        self.post = PhraseIndex(rules.post)
        self.pseudo = PhraseIndex(rules.pseudo)
        self.terminators = PhraseIndex(rules.terminators)

    def clauses(self, text: str, meter: WorkMeter | None = None) -> list[list[str]]:
        """Clauses of ``text`` (cut at punctuation and terminator words), pseudo-negations blanked."""
        out: list[list[str]] = []
        for piece in _CLAUSE_END.split(text):
            words = words_of(piece)
            if meter is not None:
                meter.steps += len(words)
            current: list[str] = []
            i = 0
            while i < len(words):
                stop = self.terminators.at(words, i)
                if stop is not None:
                    out.append(current)
                    current = []
                    i += len(stop)
                    continue
                pseudo = self.pseudo.at(words, i)
                if pseudo is not None:
                    current.extend([_BLANK] * len(pseudo))
                    i += len(pseudo)
                    continue
                current.append(words[i])
                i += 1
            out.append(current)
        return [c for c in out if c]

    def negated(self, words: list[str], start: int, end: int, meter: WorkMeter | None = None) -> bool:
        """Whether the keyword at words[start:end] is negated within this clause (pseudo already blanked)."""
        window = self.rules.window_words
        # A pre cue must end at most ``window`` words before the keyword: it starts no earlier than this.
        for i in range(max(0, start - window - self.pre.longest), start):
            if meter is not None:
                meter.steps += 1
            for cue in self.pre.by_first.get(words[i], ()):
                cue_end = i + len(cue)
                if cue_end <= start and start - cue_end <= window and _starts_at(words, i, cue):
                    return True
        return end < len(words) and self.post.at(words, end) is not None


class KeywordFinder(Generic[T]):
    """Which of a fixed set of keywords a text mentions, negated mentions left out."""

    def __init__(self, keywords: Iterable[tuple[str, T]], rules: NegationRules) -> None:
        self.entries: list[tuple[str, tuple[str, ...], T]] = []
        for keyword, payload in keywords:
            words = tuple(words_of(keyword))
            if words:
                self.entries.append((" " + " ".join(words) + " ", words, payload))
        self.scanner = NegationScanner(rules)
        self.rules = rules

    def find(self, text: str, meter: WorkMeter | None = None) -> tuple[list[T], list[T]]:
        """(payloads of affirmed keywords, payloads of keywords only ever mentioned negated), in keyword order.

        Only the first ``budget.TEXT_CAP`` characters are read. One pass over the clauses: at each
        word, only the keywords that start with that word are tried, and each mention costs a
        bounded look back (``NegationScanner.negated``).
        """
        check_deadline()
        text, cut = capped(text)
        padded = normalize_text(text)
        candidates = [e for e in self.entries if e[0] in padded]   # cheap pre-filter: most texts match nothing
        if not candidates:
            return [], []
        if not self.rules.active:
            return _unique(e[2] for e in candidates), []
        by_first: dict[str, list[int]] = {}
        for n, (_, words, _) in enumerate(candidates):
            by_first.setdefault(words[0], []).append(n)
        affirmed: set[int] = set()
        negated: set[int] = set()
        clauses = self.scanner.clauses(text, meter)
        for c, clause in enumerate(clauses):
            # In a cut text the last words of the last clause lack what follows them ("anaphylaxis
            # was | ruled out"): a mention there cannot be judged, so it is left with the unread rest.
            limit = len(clause) - self.scanner.post.longest if cut and c == len(clauses) - 1 else len(clause)
            for i, word in enumerate(clause):
                if meter is not None:
                    meter.steps += 1
                for n in by_first.get(word, ()):
                    words = candidates[n][1]
                    end = i + len(words)
                    if n in affirmed or end > limit or not _starts_at(clause, i, words):
                        continue
                    (negated if self.scanner.negated(clause, i, end, meter) else affirmed).add(n)
        found = _unique(candidates[n][2] for n in sorted(affirmed))
        return found, [p for p in _unique(candidates[n][2] for n in sorted(negated)) if p not in found]

    def affirmed(self, text: str) -> list[T]:
        return self.find(text)[0]


def _unique(items: Iterable[T]) -> list[T]:
    out: list[T] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out


negation_rules_for = per_knowledge(NegationRules.from_knowledge)
