# Sourced by tests/run.sh (after the venv exists): make a PostgreSQL server available and export
# IRON_CDS_TEST_POSTGRES_URL, so the store tests also run against PostgreSQL.
#
# 1. An IRON_CDS_TEST_POSTGRES_URL already set is used as it is.
# 2. Else a server on 127.0.0.1:5432 is used when it answers (trust auth, or password "postgres").
# 3. Else PostgreSQL is installed from Debian packages (as root, or with password-less sudo) and started.
# Nothing here may end the test run: run.sh has `set -euo pipefail`, so every step that can fail is
# guarded. Without a server the PostgreSQL cases skip, except under CI, where they fail (postgres_plugin).

_pg_py=".venv/bin/python"
[ -x "$_pg_py" ] || _pg_py="python3"

_pg_answers() {
  "$_pg_py" - <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect(("127.0.0.1", 5432)); sys.exit(0)
except OSError:
    sys.exit(1)
PY
}

# Print the first URL we can log in with, creating database "test" when the server lacks it.
_pg_pick_url() {
  "$_pg_py" - <<'PY' 2>/dev/null
import sys
try:
    import psycopg
except ImportError:
    sys.exit(1)
for auth in ("postgres", "postgres:postgres"):
    user, _, password = auth.partition(":")
    params = dict(host="127.0.0.1", port=5432, user=user, connect_timeout=3)
    if password:
        params["password"] = password
    try:
        psycopg.connect(dbname="test", **params).close()
    except psycopg.OperationalError as exc:
        if 'database "test" does not exist' not in str(exc):
            continue
        try:
            with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
                conn.execute("CREATE DATABASE test")
        except psycopg.Error:
            continue
    print(f"postgresql+psycopg://{auth}@127.0.0.1:5432/test")
    sys.exit(0)
sys.exit(1)
PY
}

_pg_as_root() {
  if [ "$(id -u)" = "0" ]; then "$@"
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo -n "$@"
  else return 1
  fi
}

_pg_install_and_start() {
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || { echo "tests: apt-get not available" >&2; return 1; }
    _pg_as_root apt-get update -qq >/dev/null 2>&1 || true
    _pg_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null 2>&1 \
      || { echo "tests: could not install postgresql (need root or password-less sudo, and apt)" >&2; return 1; }
  fi
  local version
  version=$( (ls /usr/lib/postgresql 2>/dev/null || true) | sort -V | tail -n 1)
  [ -n "$version" ] || return 1
  if [ ! -d "/etc/postgresql/$version/main" ]; then
    _pg_as_root pg_createcluster "$version" main >/dev/null 2>&1 || true
  fi
  _pg_as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do _pg_answers && break; sleep 1; done
  _pg_answers || return 1
  # a fresh Debian cluster asks for a password on 127.0.0.1: give postgres a known one, make "test"
  _pg_as_root su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null 2>&1 || true
  _pg_as_root su postgres -c "createdb test" >/dev/null 2>&1 || true
}

if [ -z "${IRON_CDS_TEST_POSTGRES_URL:-}" ]; then
  if ! _pg_answers; then
    echo "tests: no PostgreSQL on 127.0.0.1:5432; installing and starting one" >&2
    _pg_install_and_start || echo "tests: could not start PostgreSQL" >&2
  fi
  if _pg_answers; then
    _pg_url=$(_pg_pick_url || true)
    if [ -n "$_pg_url" ]; then
      export IRON_CDS_TEST_POSTGRES_URL="$_pg_url"
      echo "tests: PostgreSQL store tests use the server on 127.0.0.1:5432 (one scratch database per run)" >&2
    else
      echo "tests: PostgreSQL answers on 127.0.0.1:5432 but refuses user postgres; its cases will not run" >&2
    fi
  fi
  unset _pg_url
fi
