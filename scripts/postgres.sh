#!/usr/bin/env bash
# Makes a PostgreSQL server available for the server's tests and prints its URL on stdout
# (the value for SHELFMARK_TEST_POSTGRES_URL). Idempotent, and quick when already set up:
#   - installs PostgreSQL from Debian's packages when it is missing (sudo only when not root);
#   - starts a cluster when none is running (no systemd needed: pg_ctlcluster);
#   - creates the role and database the tests use (they make their own schemas inside it).
# Everything but the URL goes to stderr.
set -euo pipefail

ROLE="${SHELFMARK_PG_ROLE:-shelfmark}"
PASSWORD="${SHELFMARK_PG_PASSWORD:-shelfmark}"
DATABASE="${SHELFMARK_PG_DATABASE:-shelfmark_test}"

log() { echo "postgres.sh: $*" >&2; }

# Two runs at once (a test run and a developer's shell) would both see no database and both
# create it: one at a time.
exec 9>"${TMPDIR:-/tmp}/shelfmark-postgres.lock"
flock 9
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"
  elif [ "$(id -un)" = postgres ]; then "$@"
  else sudo -u postgres "$@"; fi
}

if ! command -v pg_lsclusters >/dev/null 2>&1 || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  log "installing PostgreSQL from Debian's packages"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2 9>&-
fi

# The newest installed cluster; create one if the package did not.
cluster="$(pg_lsclusters -h 2>/dev/null | sort -k1,1V | tail -n 1 || true)"
if [ -z "$cluster" ]; then
  version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
  log "creating cluster $version/main"
  as_root pg_createcluster "$version" main >&2 9>&-
  cluster="$(pg_lsclusters -h | sort -k1,1V | tail -n 1)"
fi
read -r version name port status _ <<<"$cluster"
if [ "$status" != online ]; then
  log "starting cluster $version/$name on port $port"
  # 9>&-: the server must not inherit the lock, or it would hold it for as long as it runs.
  as_root pg_ctlcluster "$version" "$name" start >&2 9>&-
fi

# Wait (bounded) until it accepts connections.
for _ in $(seq 1 100); do
  if as_postgres psql -p "$port" -qAtc 'SELECT 1' >/dev/null 2>&1; then break; fi
  sleep 0.1
done

psql_admin() { as_postgres psql -p "$port" -v ON_ERROR_STOP=1 -qAt "$@"; }
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]; then
  log "creating role $ROLE"
  psql_admin -c "CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$PASSWORD'" >&2
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != 1 ]; then
  log "creating database $DATABASE"
  psql_admin -c "CREATE DATABASE $DATABASE OWNER $ROLE" >&2
fi

echo "postgres://$ROLE:$PASSWORD@127.0.0.1:$port/$DATABASE"
