#!/bin/sh
# Temporal's schema job (docker-compose.yml, service temporal-schema; run by the
# temporalio/admin-tools image of the same tag as the server): creates Temporal's default store
# and its SQL visibility store on PostgreSQL and migrates both to the schema version that server
# release needs. Each step is safe to run again, so the job runs on every `docker compose up` and
# upgrades the schema before a newer server starts.
#
# Connection: the server's own variables (DB, POSTGRES_SEEDS, DB_PORT, POSTGRES_USER, DBNAME,
# VISIBILITY_DBNAME); the password in SQL_PASSWORD, which temporal-sql-tool reads itself, so it
# never appears on a command line.
set -eu

: "${DB:?DB names the SQL plugin, e.g. postgres12}"
: "${POSTGRES_SEEDS:?POSTGRES_SEEDS is the PostgreSQL host}"
: "${POSTGRES_USER:?POSTGRES_USER is the PostgreSQL user}"
: "${SQL_PASSWORD:?SQL_PASSWORD is the PostgreSQL password}"
: "${DBNAME:?DBNAME names the database of the default store}"
: "${VISIBILITY_DBNAME:?VISIBILITY_DBNAME names the database of the visibility store}"
DB_PORT="${DB_PORT:-5432}"

# The versioned schema files the admin-tools image ships under /etc/temporal/schema.
SCHEMA_DIR=/etc/temporal/schema/postgresql/v12

sql_tool() {
  temporal-sql-tool --plugin "$DB" --ep "$POSTGRES_SEEDS" -p "$DB_PORT" -u "$POSTGRES_USER" "$@"
}

# PostgreSQL has no CREATE DATABASE IF NOT EXISTS: a database that exists is the one wanted,
# any other failure (refused connection, wrong password) stops the job.
create_database() {
  if output=$(sql_tool --db "$1" create-database 2>&1); then
    echo "temporal-schema: created database $1"
  elif printf '%s\n' "$output" | grep -q 'already exists'; then
    echo "temporal-schema: database $1 exists"
  else
    printf '%s\n' "$output" >&2
    return 1
  fi
}

# setup-schema -v 0.0 creates only the version tables (and nothing when they exist);
# update-schema applies every versioned step newer than the one recorded.
setup_store() {
  create_database "$1"
  sql_tool --db "$1" setup-schema -v 0.0
  sql_tool --db "$1" update-schema -d "$SCHEMA_DIR/$2/versioned"
}

setup_store "$DBNAME" temporal
setup_store "$VISIBILITY_DBNAME" visibility
echo "temporal-schema: $DBNAME and $VISIBILITY_DBNAME are at the schema of this release"
