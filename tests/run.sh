#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine, then runs all of it.
# CI runs exactly this (see .ci/run). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'

# --- PostgreSQL: the suite runs the store tests against a real server too -----------------
. tests/support/postgres.sh

# --- FHIR test server (Node, tests/fhir_server): the integration tests run against it -----------
# The pytest session starts and stops it; without Node they skip, except under CI, where they fail.
if command -v npm >/dev/null 2>&1; then
  npm ci --prefix tests/fhir_server --no-audit --no-fund --loglevel=error
elif [ -n "${CI:-}" ]; then
  echo "tests: npm/node not found; CI must run the FHIR server tests (install Node >= 20)" >&2
  exit 1
fi

# --- Chromium for the console's browser tests (Debian's package: test tools' own browser downloads
# cannot work on these machines). Without it the browser tests skip, except under CI, where they fail.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "tests: could not install chromium; the console browser tests cannot run" >&2
fi

# --- Lint first (config in pyproject.toml): a finding fails the run before any test starts --------
.venv/bin/ruff check .

exec .venv/bin/python -m pytest "$@"
