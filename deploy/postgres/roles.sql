-- riskwatch's database roles for docker compose: one login role per service that
-- touches PostgreSQL, each owning only its own schema, plus the one read grant another
-- service needs. Run by init-roles.sh (psql, as the superuser, in the riskwatch
-- database); safe to run again: roles and schemas are created when missing, and
-- every grant is re-asserted.
--
-- psql variables (init-roles.sh sets them):
--   prefix       role name prefix, e.g. riskwatch_ (roles are cluster-wide)
--   secrets_dir  holds db_<service>.scram: each role's password, as a SCRAM-SHA-256
--                verifier (deploy/compose_secrets.py) or in plain text
--
-- | role        | service             | owns schema | may also                          |
-- |-------------|---------------------|-------------|-----------------------------------|
-- | receiver    | receiver            | receiver    |                                   |
-- | trading     | trading-agent       | agents      |                                   |
-- | health      | health-agent        | (none)      | read agents (the forecast log)    |
-- | tradestore  | tradestore-exporter | tradestore  |                                   |
--
-- Each service applies its own migrations at start (riskwatch.migrations): its tables
-- and its riskwatch_migrations land in the first schema of its search_path, its own.
-- Nothing is created in public, and PUBLIC may neither create there nor connect.

\set ON_ERROR_STOP on
SET client_min_messages = warning;

SELECT :'prefix' || 'receiver' AS receiver_role,
       :'prefix' || 'trading' AS trading_role,
       :'prefix' || 'health' AS health_role,
       :'prefix' || 'tradestore' AS tradestore_role,
       current_database() AS dbname
\gset

-- Login roles and nothing more: no superuser, no CREATEDB/CREATEROLE, no replication.
SELECT format(
    'CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS',
    name)
FROM unnest(ARRAY[:'receiver_role', :'trading_role', :'health_role', :'tradestore_role'])
    AS name
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = name)
\gexec

-- Each password from its own secret file; psql reads it, so it is on no command line.
\set secret `cat :'secrets_dir'/db_receiver.scram`
ALTER ROLE :"receiver_role" PASSWORD :'secret';
\set secret `cat :'secrets_dir'/db_trading.scram`
ALTER ROLE :"trading_role" PASSWORD :'secret';
\set secret `cat :'secrets_dir'/db_health.scram`
ALTER ROLE :"health_role" PASSWORD :'secret';
\set secret `cat :'secrets_dir'/db_tradestore.scram`
ALTER ROLE :"tradestore_role" PASSWORD :'secret';
\unset secret

-- Only our roles connect; nobody else creates in public or makes temporary tables.
REVOKE ALL ON DATABASE :"dbname" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"dbname"
    TO :"receiver_role", :"trading_role", :"health_role", :"tradestore_role";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- The receiver: the alert trail (alerts, alert_events, alert_acks) and its users
-- (users, user_tokens: bcrypt hashes only). The report reads the trail
-- through the receiver's API, with the receiver token, never from the database.
CREATE SCHEMA IF NOT EXISTS receiver AUTHORIZATION :"receiver_role";
ALTER SCHEMA receiver OWNER TO :"receiver_role";
ALTER ROLE :"receiver_role" IN DATABASE :"dbname" SET search_path = receiver, public;

-- The trading agent: its equity curve and fills (agent_*) and the forecast log
-- (forecast_log, forecast_realised); one DSN, so one schema.
CREATE SCHEMA IF NOT EXISTS agents AUTHORIZATION :"trading_role";
ALTER SCHEMA agents OWNER TO :"trading_role";
ALTER ROLE :"trading_role" IN DATABASE :"dbname" SET search_path = agents, public;

-- The trade store, whose migrations the tradestore exporter applies at start.
CREATE SCHEMA IF NOT EXISTS tradestore AUTHORIZATION :"tradestore_role";
ALTER SCHEMA tradestore OWNER TO :"tradestore_role";
ALTER ROLE :"tradestore_role" IN DATABASE :"dbname" SET search_path = tradestore, public;

-- The health agent: checks the database answers, and its nightly validation reads the
-- forecast log. Read-only: SELECT on the agents' tables, present and future, and
-- every transaction read-only besides.
GRANT USAGE ON SCHEMA agents TO :"health_role";
GRANT SELECT ON ALL TABLES IN SCHEMA agents TO :"health_role";
ALTER DEFAULT PRIVILEGES FOR ROLE :"trading_role" IN SCHEMA agents
    GRANT SELECT ON TABLES TO :"health_role";
ALTER ROLE :"health_role" IN DATABASE :"dbname" SET search_path = agents, public;
ALTER ROLE :"health_role" IN DATABASE :"dbname" SET default_transaction_read_only = on;
