# Sourced by tests/run.sh: make a PostgreSQL server available and export IRON_CDS_TEST_POSTGRES_URL.
# Uses the server on 127.0.0.1:5432 when it answers; otherwise installs and starts one from Debian packages.
pg_answers() { python3 - <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
try:
    s.connect(("127.0.0.1", 5432)); sys.exit(0)
except OSError:
    sys.exit(1)
PY
}
if ! pg_answers; then
  echo "tests: no PostgreSQL on 127.0.0.1:5432; installing and starting one" >&2
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) || true
  fi
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
    if [ -z "$version" ]; then
      version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
      pg_createcluster "$version" main >/dev/null
    fi
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 30); do pg_answers && break; sleep 1; done
    su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null 2>&1 || true
    su postgres -c "createdb test" >/dev/null 2>&1 || true
  fi
fi
if pg_answers && [ -z "${IRON_CDS_TEST_POSTGRES_URL:-}" ]; then
  # trust auth on the machines we know; a fresh install above set a password for postgres
  if PGCONNECT_TIMEOUT=3 psql -h 127.0.0.1 -U postgres -d test -c 'select 1' >/dev/null 2>&1; then
    export IRON_CDS_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:5432/test"
  else
    export IRON_CDS_TEST_POSTGRES_URL="postgresql+psycopg://postgres:postgres@127.0.0.1:5432/test"
  fi
fi
