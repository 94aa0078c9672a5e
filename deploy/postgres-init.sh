#!/usr/bin/env bash
# First start of the compose PostgreSQL: the warehouse and coordination databases, each with
# its own role and password (from deploy/stack.env); `dagster` is created by the image.
set -euo pipefail
for role in warehouse coordination; do
  var="${role^^}_PG_PASSWORD"
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE ROLE $role LOGIN PASSWORD '${!var}';
CREATE DATABASE $role OWNER $role;
SQL
done
