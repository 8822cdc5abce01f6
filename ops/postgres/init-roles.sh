#!/bin/sh
# Runs once, when the postgres container initialises an empty data volume: the two roles of a
# ClinicPay deployment and its database (README: Two database roles). Passwords come from the
# container's environment and are passed to psql as variables, never spliced into SQL text.
set -eu
psql -v ON_ERROR_STOP=1 --username postgres --dbname postgres \
  -v owner_password="$POSTGRES_OWNER_PASSWORD" -v app_password="$POSTGRES_APP_PASSWORD" <<'SQL'
CREATE ROLE clinicpay_owner LOGIN PASSWORD :'owner_password';
CREATE ROLE clinicpay_app LOGIN PASSWORD :'app_password';
CREATE DATABASE clinicpay OWNER clinicpay_owner;
SQL
psql -v ON_ERROR_STOP=1 --username postgres --dbname clinicpay <<'SQL'
ALTER SCHEMA public OWNER TO clinicpay_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
SQL
