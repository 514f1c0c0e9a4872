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

exec .venv/bin/python -m pytest "$@"
