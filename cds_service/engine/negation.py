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

A keyword counts when any one of its mentions is not negated. Only free text
goes through here: coded data (SNOMED, ICD-10) is never negated. Without
``codes.negation`` nothing is negated (the stricter reading: every mention counts).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Generic, Iterable, TypeVar

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


def _occurrences(words: list[str], phrase: tuple[str, ...]) -> list[int]:
    n = len(phrase)
    return [i for i in range(len(words) - n + 1) if tuple(words[i:i + n]) == phrase]


class NegationScanner:
    """Finds the clauses of a text and the negated spans in each."""

    def __init__(self, rules: NegationRules) -> None:
        self.rules = rules

    def clauses(self, text: str) -> list[list[str]]:
        out: list[list[str]] = []
        for piece in _CLAUSE_END.split(text):
            words = words_of(piece)
            current: list[str] = []
            i = 0
            while i < len(words):
                stop = next((t for t in self.rules.terminators if _starts_at(words, i, t)), None)
                if stop is not None:
                    out.append(current)
                    current = []
                    i += len(stop)
                    continue
                current.append(words[i])
                i += 1
            out.append(current)
        return [c for c in out if c]

    def _blank_pseudo(self, words: list[str]) -> list[str]:
        words = list(words)
        for phrase in self.rules.pseudo:
            for i in _occurrences(words, phrase):
                words[i:i + len(phrase)] = [_BLANK] * len(phrase)
        return words

    def negated(self, words: list[str], start: int, end: int) -> bool:
        """Whether the keyword at words[start:end] is negated within this clause (pseudo already blanked)."""
        window = self.rules.window_words
        for cue in self.rules.pre:
            for i in _occurrences(words[:start], cue):
                if start - (i + len(cue)) <= window:   # words between the cue and the keyword
                    return True
        return any(_starts_at(words, end, cue) for cue in self.rules.post)

    def prepared(self, text: str) -> list[list[str]]:
        return [self._blank_pseudo(c) for c in self.clauses(text)]


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

    def find(self, text: str) -> tuple[list[T], list[T]]:
        """(payloads of affirmed keywords, payloads of keywords only ever mentioned negated), in keyword order."""
        padded = normalize_text(text)
        candidates = [e for e in self.entries if e[0] in padded]   # cheap pre-filter: most texts match nothing
        if not candidates:
            return [], []
        if not self.rules.active:
            return _unique(e[2] for e in candidates), []
        clauses = self.scanner.prepared(text)
        affirmed: list[T] = []
        negated: list[T] = []
        for _, words, payload in candidates:
            seen_negated = False
            hit = False
            for clause in clauses:
                for start in _occurrences(clause, words):
                    if self.scanner.negated(clause, start, start + len(words)):
                        seen_negated = True
                    else:
                        hit = True
                        break
                if hit:
                    break
            if hit:
                affirmed.append(payload)
            elif seen_negated:
                negated.append(payload)
        affirmed = _unique(affirmed)
        return affirmed, [p for p in _unique(negated) if p not in affirmed]

    def affirmed(self, text: str) -> list[T]:
        return self.find(text)[0]


def _unique(items: Iterable[T]) -> list[T]:
    out: list[T] = []
    for item in items:
        if item not in out:
            out.append(item)
    return out




negation_rules_for = per_knowledge(NegationRules.from_knowledge)
