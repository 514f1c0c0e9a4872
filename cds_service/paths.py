"""Where the reviewed data files live, in a checkout and in an installed copy."""

from __future__ import annotations

import os
import sys
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _data_dir(name: str) -> Path:
    # A checkout (or an editable install) keeps the folders beside the package;
    # a regular install puts them under <prefix>/share/iron-cds (setup.cfg data_files).
    candidates = [_REPO_ROOT / name, Path(sys.prefix) / "share" / "iron-cds" / name]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    return candidates[0]


def cards_dir() -> Path:
    return Path(os.environ.get("IRON_CDS_CARDS_DIR") or _data_dir("cards"))


def fixtures_dir() -> Path:
    return _data_dir("fhir_fixtures")
