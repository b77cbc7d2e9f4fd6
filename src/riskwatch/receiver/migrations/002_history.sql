-- The audit trail of each alert instance. At most one event per status: the
-- firing -> resolved transition is kept, while Alertmanager's repeats, retries and
-- HA duplicates of a status already seen add nothing.
-- No ON DELETE CASCADE: deleting an alert that has history is a mistake to refuse.
CREATE TABLE alert_events (
    id bigserial PRIMARY KEY,
    alert_id bigint NOT NULL REFERENCES alerts (id),
    status text NOT NULL CHECK (status IN ('firing', 'resolved')),
    received_at timestamptz NOT NULL DEFAULT now(),
    ends_at timestamptz,
    receiver text NOT NULL,
    group_key text NOT NULL,
    CONSTRAINT alert_events_status_key UNIQUE (alert_id, status)
);

-- Every acknowledgement is kept; alerts.acked_at/acked_by mirror the latest one.
CREATE TABLE alert_acks (
    id bigserial PRIMARY KEY,
    alert_id bigint NOT NULL REFERENCES alerts (id),
    who text NOT NULL,
    why text NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX alert_acks_alert_idx ON alert_acks (alert_id, at, id);
