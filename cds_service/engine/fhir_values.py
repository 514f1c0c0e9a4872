"""Lenient readers for plain FHIR R4 dicts: codings, text, dates, statuses.

EHR data is messy, so every reader tolerates a missing or mistyped element and
returns an empty value instead of raising. Nothing here knows about iron.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timezone
from functools import lru_cache
from typing import Iterator

_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalize_text(text: str) -> str:
    """Lower case, every run of punctuation or space turned into one space, padded with spaces.

    Matching " venofer " inside the padded text is then a word-boundary match
    ("Venofer" matches, "Venoferous" does not; "iron-dextran" equals "iron dextran").
    """
    return " " + _NON_WORD.sub(" ", text.lower()).strip() + " "


def phrase_key(phrase: str) -> str:
    """The padded form of a keyword or name, ready for ``key in normalize_text(text)``."""
    return normalize_text(phrase)


def items(value: object) -> list:
    """A FHIR repeating element as a list: EHR data sometimes sends a single value or junk instead."""
    return value if isinstance(value, list) else []


def codings(concept: object) -> list[dict]:
    if not isinstance(concept, dict):
        return []
    if not isinstance(concept.get("coding"), list):
        return []
    return [c for c in concept["coding"] if isinstance(c, dict)]


def coded(concept: object) -> Iterator[tuple[str | None, str]]:
    """(terminology, code) of each coding that carries a code; an ICD-10 code without its dot, upper case."""
    for coding in codings(concept):
        code = coding.get("code")
        if isinstance(code, str):
            kind = system_kind(coding.get("system"))
            yield kind, icd10_bare(code) if kind == "icd10" else code


def icd10_bare(code: str) -> str:
    """An ICD-10 code or prefix as compared: "O09.9" and "o099" are both "O099"."""
    return code.replace(".", "").upper()


def concept_texts(concept: object) -> list[str]:
    """Human text of a CodeableConcept: its text and every coding display."""
    if not isinstance(concept, dict):
        return []
    texts = [concept["text"]] if isinstance(concept.get("text"), str) else []
    texts.extend(c["display"] for c in codings(concept) if isinstance(c.get("display"), str))
    return texts


def concept_label(concept: object) -> str | None:
    """The best one-line name of a concept for a prescriber (text, else first display, else code)."""
    texts = concept_texts(concept)
    if texts:
        return texts[0]
    for coding in codings(concept):
        if isinstance(coding.get("code"), str):
            return coding["code"]
    return None


def system_kind(system: object) -> str | None:
    """Which terminology a coding system URI names (loosely: EHRs spell them many ways)."""
    if not isinstance(system, str):
        return None
    return _system_kind(system)


# (kind, words any of which marks it in a system URI), checked in this order
_SYSTEM_WORDS = (
    ("rxnorm", ("rxnorm",)),
    ("ndc", ("ndc",)),
    ("atc", ("atc", "whocc")),
    ("snomed", ("snomed",)),
    ("loinc", ("loinc",)),
    ("icd10", ("icd-10", "icd10")),
    ("unii", ("unii", "fdasis", "gsrs")),
)


@lru_cache(maxsize=512)  # a record repeats a handful of system URIs thousands of times
def _system_kind(system: str) -> str | None:
    s = system.lower()
    return next((kind for kind, words in _SYSTEM_WORDS if any(word in s for word in words)), None)


def status_code(concept: object) -> str | None:
    """The code of a status CodeableConcept (clinicalStatus / verificationStatus)."""
    for coding in codings(concept):
        if isinstance(coding.get("code"), str):
            return coding["code"].strip().lower()
    if isinstance(concept, dict) and isinstance(concept.get("text"), str):
        return concept["text"].strip().lower()
    return None


INACTIVE_CLINICAL = {"inactive", "resolved", "remission"}
NOT_TRUE_VERIFICATION = {"refuted", "entered-in-error"}


def counts_as_current(resource: dict) -> bool:
    """Whether a Condition / AllergyIntolerance record still counts.

    Refuted or entered-in-error records never count; inactive, resolved or
    in-remission ones do not count either. A record without a status counts
    (EHRs often omit it for active problems).
    """
    if status_code(resource.get("verificationStatus")) in NOT_TRUE_VERIFICATION:
        return False
    if status_code(resource.get("clinicalStatus")) in INACTIVE_CLINICAL:
        return False
    return True


def parse_when(value: object) -> datetime | None:
    """A FHIR date / dateTime / instant as an aware datetime (UTC when no offset is given).

    Partial dates read as the first instant of their period ("2024" is 2024-01-01).
    """
    if not isinstance(value, str) or len(value) < 4:
        return None
    if len(value) > 10:
        # The common case, a full date-time as sent: one C call (Python 3.11 reads "Z" itself). Whatever
        # it refuses (spaces around, "Z" elsewhere) takes the path below, which gives the same for the rest.
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    text = value.strip()
    try:
        if len(text) == 4:
            return datetime(int(text), 1, 1, tzinfo=timezone.utc)
        if len(text) == 7:
            return datetime(int(text[:4]), int(text[5:7]), 1, tzinfo=timezone.utc)
        if len(text) == 10:
            d = date.fromisoformat(text)
            return datetime(d.year, d.month, d.day, tzinfo=timezone.utc)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def as_aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def effective_span(resource: dict) -> tuple[str | None, datetime | None, datetime | None]:
    """(ISO text, start, end) of effective[x] (Observation, MedicationAdministration) or a close substitute."""
    for key in ("effectiveDateTime", "effectiveInstant"):
        if isinstance(resource.get(key), str):
            moment = parse_when(resource[key])
            return resource[key], moment, moment
    period = resource.get("effectivePeriod")
    if isinstance(period, dict):
        start, end = parse_when(period.get("start")), parse_when(period.get("end"))
        text = period.get("start") if isinstance(period.get("start"), str) else period.get("end")
        return (text if isinstance(text, str) else None), start or end, end
    if isinstance(resource.get("issued"), str):
        moment = parse_when(resource["issued"])
        return resource["issued"], moment, moment
    return None, None, None


def reference_of(resource: dict) -> str | None:
    """Relative reference "Type/id" of a resource, when it has an id."""
    rtype, rid = resource.get("resourceType"), resource.get("id")
    if isinstance(rtype, str) and isinstance(rid, str):
        return f"{rtype}/{rid}"
    return None


def reference_target(reference: object) -> tuple[str | None, str | None]:
    """("Medication", "123") from a Reference's ``reference`` (relative, absolute or versioned)."""
    if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
        return None, None
    ref = reference["reference"].strip()
    if ref.startswith("#"):
        return "#", ref[1:]
    parts = [p for p in ref.split("/") if p]
    if "_history" in parts:
        parts = parts[:parts.index("_history")]
    if len(parts) >= 2:
        return parts[-2], parts[-1]
    return None, None


def notes_text(resource: dict) -> list[str]:
    return [n["text"] for n in items(resource.get("note")) if isinstance(n, dict) and isinstance(n.get("text"), str)] \
        if isinstance(resource.get("note"), list) else []


def day(text: str | None) -> str | None:
    """The date of an ISO date-time as prescribers read it ("20 Jul 2026"), never a raw timestamp."""
    if not isinstance(text, str):
        return None
    parts = text[:10].split("-")
    if len(parts) == 3 and all(p.isdigit() for p in parts) and 1 <= int(parts[1]) <= 12:
        return f"{int(parts[2])} {_MONTHS[int(parts[1]) - 1]} {parts[0]}"
    if len(parts) == 2 and all(p.isdigit() for p in parts) and 1 <= int(parts[1]) <= 12:
        return f"{_MONTHS[int(parts[1]) - 1]} {parts[0]}"
    return text


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
