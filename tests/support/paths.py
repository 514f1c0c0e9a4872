"""Where the tests find the repository's files."""

import shutil
from pathlib import Path

from cds_service.paths import cards_dir

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
FIXTURES = ROOT / "fhir_fixtures"


def copy_of_cards(tmp_path: Path) -> Path:
    """A private copy of the knowledge folder (cards/) to edit or break."""
    target = tmp_path / "cards"
    shutil.copytree(cards_dir(), target)
    return target
