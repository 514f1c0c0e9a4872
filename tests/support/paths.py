"""Where the tests find the repository's files."""

from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
ROOT = TESTS.parent
FIXTURES = ROOT / "fhir_fixtures"
