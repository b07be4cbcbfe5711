#!/usr/bin/env bash
# Ensures a PostgreSQL server for the tests: installs Debian's package when missing, starts its
# default cluster (pg_ctlcluster; no systemd needed), raises max_connections for parallel tests,
# and creates the superuser role the tests use. Idempotent.
#
#   tests/lib/postgres.sh            # prints the admin URL
#   eval "$(tests/lib/postgres.sh --export)"   # sets ARCA_TEST_PG_URL
#
# The tests create one throw-away database per test through ARCA_TEST_PG_URL
# (postgresql://arca_test:arca_test@127.0.0.1:5432/postgres) and drop it afterwards.
set -euo pipefail

ROLE=arca_test
PASSWORD=arca_test
PORT=${ARCA_TEST_PG_PORT:-5432}

say() { printf 'postgres.sh: %s\n' "$*" >&2; }

if ! command -v pg_lsclusters >/dev/null || [[ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]]; then
    say "installing postgresql"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >&2
fi

read -r VERSION CLUSTER _ < <(pg_lsclusters -h | head -n1) || true
if [[ -z "${VERSION:-}" ]]; then
    VERSION=$(ls /usr/lib/postgresql | sort -V | tail -n1)
    CLUSTER=main
    say "creating cluster $VERSION/$CLUSTER"
    pg_createcluster "$VERSION" "$CLUSTER" -p "$PORT" >&2
fi

CONF=/etc/postgresql/$VERSION/$CLUSTER/postgresql.conf
# Every integration test starts its own arca-server(s) with small pools; 300 leaves room for
# the parallel test threads. fsync stays on: the tests assert durability.
if ! grep -q '^max_connections = 300' "$CONF"; then
    echo "max_connections = 300" >>"$CONF"
    pg_ctlcluster "$VERSION" "$CLUSTER" stop >/dev/null 2>&1 || true
fi
if ! pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c {print $4}' | grep -q online; then
    say "starting cluster $VERSION/$CLUSTER"
    pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
fi
PORT=$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c {print $3}')

for _ in $(seq 50); do
    runuser -u postgres -- psql -p "$PORT" -qAtc 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.2
done
runuser -u postgres -- psql -p "$PORT" -qAt -v ON_ERROR_STOP=1 >/dev/null <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$ROLE') THEN
    CREATE ROLE $ROLE LOGIN SUPERUSER PASSWORD '$PASSWORD';
  END IF;
END \$\$;
SQL

URL="postgresql://$ROLE:$PASSWORD@127.0.0.1:$PORT/postgres"
if [[ "${1:-}" == --export ]]; then
    printf 'export ARCA_TEST_PG_URL=%q\n' "$URL"
else
    printf '%s\n' "$URL"
fi
