#!/bin/sh
# riskwatch's database roles (roles.sql), created when the postgres image initializes
# an empty data directory: compose mounts this file into /docker-entrypoint-initdb.d/
# and roles.sql at /etc/riskwatch/roles.sql. To add the roles to an existing
# database, run it by hand (it is idempotent):
#   docker compose -f docker-compose.grafana.yml exec postgres \
#     /docker-entrypoint-initdb.d/010-riskwatch-roles.sh
#
# Each role's password comes from its own secret file, db_<service>.scram in
# RISKWATCH_DB_SECRETS_DIR (default /run/secrets); there is no default. psql connects
# as POSTGRES_USER to POSTGRES_DB, over the socket during init (libpq's PG* variables
# point it elsewhere). A subshell: the entrypoint sources scripts that are not
# executable, and this one must not change its shell.
(
    set -eu
    secrets_dir=${RISKWATCH_DB_SECRETS_DIR:-/run/secrets}
    sql=${RISKWATCH_DB_ROLES_SQL:-/etc/riskwatch/roles.sql}
    for service in receiver trading health tradestore; do
        if [ ! -s "$secrets_dir/db_$service.scram" ]; then
            echo "init-roles: $secrets_dir/db_$service.scram is missing or empty:" \
                "make it with deploy/compose_secrets.py generate" >&2
            exit 1
        fi
    done
    psql --no-psqlrc --quiet -v ON_ERROR_STOP=1 \
        --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-${POSTGRES_USER:-postgres}}" \
        -v prefix="${RISKWATCH_DB_ROLE_PREFIX:-riskwatch_}" -v secrets_dir="$secrets_dir" \
        -f "$sql"
    echo "init-roles: riskwatch roles ready in ${POSTGRES_DB:-${POSTGRES_USER:-postgres}}"
)
