"""Pregnancy records written in words: a gestational age as text, a pregnancy-status answer (engine, pure).

Free text from the EHR is untrusted: at most ``budget.TEXT_CAP`` characters of a field are read (a cut
text is not read at all: what follows the cut could change its meaning), in linear time, and nothing
is guessed. Each reading is one of ``PREGNANT``, ``NOT_PREGNANT`` or ``UNREAD`` (text is present but
cannot be read with confidence: the card says so); None when there is nothing to read.

- A gestational age as text is read only in these forms: "9 weeks", "9 wk", "9w", "9+3 weeks",
  "9 weeks 3 days", "9w3d", "63 days". Anything else ("about nine weeks", "9+3" without a unit) is not a
  gestational age; it is then read as a status answer, so "not pregnant" still says not pregnant.
- A status answer in words: the ``risk_factors.pregnancy`` keywords ("pregnant", "pregnancy") judged by
  the negation rule (``negation.py``: "not pregnant", "denies pregnancy", "pregnancy ruled out");
  ``codes.pregnancy_text.not_pregnant_answers`` ("no", "negative") as a denial; a colon joins a label
  to its answer ("Pregnancy: negative" is not pregnant, "Pregnant: no" is unread); pregnancy-test names
  ("pregnancy test negative") are a test, not a mention of pregnancy. An uncertain cue ("possibly",
  "unknown", "not confirmed"), a "?", a pseudo-negation ("pregnancy not ruled out"), or words for and
  against pregnancy together leave the text unread; so do words that say neither ("yes", "G2P1").
- A coded answer: a ``risk_factors.pregnancy`` code (SNOMED, ICD-10 prefix) is pregnant; otherwise its
  text and displays are read as above ("Possible pregnancy" is unread, "Not pregnant" is not pregnant);
  a coded answer with no words that is not a pregnancy code says not pregnant.
"""

from __future__ import annotations

import re

from cds_service.engine.budget import capped, check_deadline
from cds_service.engine.compiled import per_knowledge
from cds_service.engine.fhir_values import coded, concept_label, concept_texts, icd10_bare
from cds_service.engine.negation import _BLANK, NegationScanner, PhraseIndex, negation_rules_for, words_of

PREGNANT = "pregnant"
NOT_PREGNANT = "not-pregnant"
UNREAD = "unread"

# Gestational age as text, on lower-case text whose whitespace is collapsed to single spaces: anchored
# (fullmatch), bounded repeats and no nested repetition, so one linear attempt.
_WEEKS = re.compile(r"(\d{1,2})(?: ?\+ ?(\d))? ?(?:w|wk|wks|week|weeks)\.?(?:,? ?(?:and )?(\d) ?(?:d|day|days)\.?)?")
_DAYS = re.compile(r"(\d{1,3}) ?(?:d|day|days)\.?")
_LONGEST_DURATION = 40   # characters: no longer text is a plain duration ("12 weeks and 6 days." is 20)


def gestational_weeks(text: str) -> float | None:
    """Weeks of a gestational age written as text in one of the plain forms, else None."""
    if len(text) > 4 * _LONGEST_DURATION:   # checked before any work: a long text is not a duration
        return None
    plain = " ".join(text.lower().split())
    if len(plain) > _LONGEST_DURATION:
        return None
    match = _WEEKS.fullmatch(plain)
    if match is not None:
        plus, days = match.group(2), match.group(3)
        if plus is not None and days is not None:
            return None   # "9+3 weeks 2 days": two day counts
        extra = int(plus or days or 0)
        return None if extra > 6 else int(match.group(1)) + extra / 7
    match = _DAYS.fullmatch(plain)
    return int(match.group(1)) / 7 if match is not None else None


def weeks_text(weeks: float) -> str:
    """9.43 -> "9 weeks 3 days"; 9.0 -> "9 weeks"."""
    whole = int(weeks + 1e-9)
    days = round((weeks - whole) * 7)
    if days == 7:
        whole, days = whole + 1, 0
    return f"{whole} weeks" + (f" {days} days" if days else "")


class PregnancyTextReader:
    """Reads pregnancy-status answers (words or codes) for one Knowledge."""

    def __init__(self, knowledge) -> None:
        codes = knowledge.codes if isinstance(knowledge.codes, dict) else {}
        spec = codes.get("pregnancy_text") if isinstance(codes.get("pregnancy_text"), dict) else {}
        factors = codes.get("risk_factors") if isinstance(codes.get("risk_factors"), dict) else {}
        pregnancy = factors.get("pregnancy") if isinstance(factors.get("pregnancy"), dict) else {}
        self.snomed = {str(c) for c in pregnancy.get("snomed") or {}}
        self.icd10 = tuple(icd10_bare(str(p)) for p in pregnancy.get("icd10_prefixes") or ())

        def index(words) -> PhraseIndex:
            return PhraseIndex(p for p in (tuple(words_of(w)) for w in words if isinstance(w, str)) if p)

        self.keywords = index(pregnancy.get("keywords") or ())
        self.denials = index(spec.get("not_pregnant_answers") or ())
        self.tests = index(spec.get("test_names") or ())
        self.uncertain = index(spec.get("uncertain") or ())
        self.scanner = NegationScanner(negation_rules_for(knowledge))
        # Without the cue lists or the keywords nothing can be read with confidence: every text is unread.
        self.ready = bool(spec) and bool(self.keywords.by_first)

    def text(self, raw: object) -> str | None:
        """The reading of one free-text answer; None when it holds no words."""
        if not isinstance(raw, str):
            return None
        check_deadline()
        text, cut = capped(raw)
        if not words_of(text):
            return None
        if cut or not self.ready or "?" in text:
            return UNREAD
        affirmed = denied = False
        # "Pregnancy: negative" is a label and its answer, one clause (a colon ends a clause elsewhere).
        for clause in self.scanner.clauses(text.replace(":", " ")):
            if _BLANK in clause:
                return UNREAD   # a pseudo-negation ("pregnancy not ruled out") leaves the question open
            i = 0
            while i < len(clause):
                if self.uncertain.at(clause, i) is not None:
                    return UNREAD
                test = self.tests.at(clause, i)
                if test is not None:
                    i += len(test)
                    continue
                keyword = self.keywords.at(clause, i)
                if keyword is not None:
                    if self.scanner.negated(clause, i, i + len(keyword)):
                        denied = True
                    else:
                        affirmed = True
                    i += len(keyword)
                    continue
                denial = self.denials.at(clause, i)
                if denial is not None:
                    denied = True
                    i += len(denial)
                    continue
                i += 1
        if affirmed != denied:
            return PREGNANT if affirmed else NOT_PREGNANT
        return UNREAD   # both ("pregnant: no") or neither ("yes", "G2P1")

    def coded(self, concept: object) -> bool:
        """Whether a concept carries a pregnancy code (SNOMED or an ICD-10 prefix); codes are never negated."""
        return any((kind == "snomed" and code in self.snomed)
                   or (kind == "icd10" and bool(self.icd10) and code.startswith(self.icd10))
                   for kind, code in coded(concept))

    def concept(self, concept: object) -> str | None:
        """The reading of a coded answer (``valueCodeableConcept``); None when it holds nothing."""
        if not isinstance(concept, dict):
            return None
        if self.coded(concept):
            return PREGNANT
        readings = {r for r in (self.text(t) for t in concept_texts(concept)) if r is not None}
        if len(readings) == 1:
            return next(iter(readings))
        if readings:
            return UNREAD   # its words disagree ("Pregnant" with the display "Not pregnant")
        has_code = any(True for _ in coded(concept))
        return NOT_PREGNANT if has_code else None   # an answer coded as something other than pregnant

    def value(self, obs: dict) -> tuple[str | None, str | None]:
        """(reading, the words or code shown for it) of a pregnancy-status Observation's value."""
        answer = obs.get("valueCodeableConcept")
        if isinstance(answer, dict):
            return self.concept(answer), concept_label(answer)
        words = obs.get("valueString")
        if isinstance(words, str):
            return self.text(words), words
        return None, None


reader_for = per_knowledge(PregnancyTextReader)
