"""What ``iron-cds check-knowledge`` reports, as data: the console's knowledge page shows the same report.

One function runs the whole validation (schemas, cross-file checks, the topic registry's wording, then
building the typed knowledge) so the command line and the console can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cds_service.knowledge import check
from cds_service.knowledge.loader import build, signoff_warnings, validate


@dataclass(frozen=True)
class Report:
    problems: tuple[str, ...]        # one line per problem, naming file and field; empty when the files are fine
    summary: str = ""                # when fine: products, sources and how many facts have each status
    warnings: tuple[str, ...] = ()   # not fatal: files that are not signed off
    version: str | None = None       # the knowledge version in force (see knowledge/signoff.py)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def heading(self) -> str:
        if self.ok:
            return f"knowledge OK: {self.summary}"
        count = len(self.problems)
        return f"knowledge check FAILED ({count} problem{'s' if count != 1 else ''}):"


def check_knowledge(override_path: str | None = None, directory: Path | None = None) -> Report:
    """Validate the cards files (and an institution's override) as they are on disk now."""
    data, problems = validate(override_path, directory)
    if problems:
        return Report(tuple(problems))
    try:
        knowledge = build(data, overridden_by=override_path)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:  # the schemas should make this unreachable
        return Report((f"knowledge passed the schemas but could not be built: {type(exc).__name__}: {exc}",))
    statuses = check.count_statuses(data)
    summary = (f"version {knowledge.version}; {len(knowledge.products)} products, {len(knowledge.sources)} sources, "
               f"{statuses['confirmed']} confirmed facts, {statuses['unconfirmed-conservative']} "
               f"unconfirmed-conservative (stricter value kept), {statuses['institutional']} institutional")
    return Report((), summary, tuple(signoff_warnings(data, directory, override_path)), knowledge.version)
