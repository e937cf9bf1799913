#!/bin/sh
# Runs once in temporalio/admin-tools before the Temporal server starts: creates and migrates
# Temporal's two PostgreSQL databases with the official temporal-sql-tool (idempotent).
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}" "${POSTGRES_PWD:?}"
SCHEMA=/etc/temporal/schema/postgresql/v12
tool() { temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" --pw "$POSTGRES_PWD" -p "${DB_PORT:-5432}" "$@"; }

for db in temporal temporal_visibility; do
  tool --db "$db" create || true   # already there on a re-run
done
tool --db temporal setup-schema -v 0.0 || true
tool --db temporal update-schema -d "$SCHEMA/temporal/versioned"
tool --db temporal_visibility setup-schema -v 0.0 || true
tool --db temporal_visibility update-schema -d "$SCHEMA/visibility/versioned"
echo "temporal schema ready"
