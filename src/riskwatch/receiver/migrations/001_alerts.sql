-- One row per alert instance. Alertmanager's fingerprint identifies the label set;
-- Prometheus gives an alert that fires again a new startsAt, so (fingerprint,
-- starts_at) is one firing episode and the natural key for idempotent upserts.
CREATE TABLE alerts (
    id bigserial PRIMARY KEY,
    fingerprint text NOT NULL,
    status text NOT NULL CHECK (status IN ('firing', 'resolved')),
    -- Copied out of labels so the API filters use plain b-tree indexes.
    alertname text,
    severity text,
    team text,
    portfolio text,
    labels jsonb NOT NULL,
    annotations jsonb NOT NULL DEFAULT '{}'::jsonb,
    starts_at timestamptz NOT NULL,
    ends_at timestamptz,
    generator_url text NOT NULL DEFAULT '',
    first_received_at timestamptz NOT NULL DEFAULT now(),
    last_received_at timestamptz NOT NULL DEFAULT now(),
    acked_at timestamptz,
    acked_by text,
    CONSTRAINT alerts_instance_key UNIQUE (fingerprint, starts_at)
);

-- The API lists newest first (starts_at DESC, id DESC) with optional equality filters;
-- each index leads with the filter column so a filtered page is an index range scan.
CREATE INDEX alerts_newest_idx ON alerts (starts_at DESC, id DESC);
CREATE INDEX alerts_status_idx ON alerts (status, starts_at DESC, id DESC);
CREATE INDEX alerts_alertname_idx ON alerts (alertname, starts_at DESC, id DESC);
CREATE INDEX alerts_severity_idx ON alerts (severity, starts_at DESC, id DESC);
CREATE INDEX alerts_portfolio_idx ON alerts (portfolio, starts_at DESC, id DESC)
    WHERE portfolio IS NOT NULL;
