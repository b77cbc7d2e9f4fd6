-- The audit console (docs/receiver.md): silences an ack creates in Alertmanager, the
-- log of every action people take, console passwords, and the index of the team filter.

-- A silence created through the receiver (an ack with silence_hours). Alertmanager
-- keeps the silence itself; this row ties it to the alert and the person, and records
-- who expired it. Silences made elsewhere (amtool, Alertmanager's UI) are not here.
CREATE TABLE alert_silences (
    id bigserial PRIMARY KEY,
    silence_id text NOT NULL UNIQUE,
    alert_id bigint NOT NULL REFERENCES alerts (id),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    ends_at timestamptz NOT NULL,
    expired_at timestamptz,
    expired_by text
);

CREATE INDEX alert_silences_alert_idx ON alert_silences (alert_id, created_at, id);

-- The silence an acknowledgement created, if it asked for one.
ALTER TABLE alert_acks ADD COLUMN silence_id text REFERENCES alert_silences (silence_id);

-- Every action people take, read-only ones that matter to compliance included:
-- logins (failed ones too), logouts, acks, silences, expiries and exports.
CREATE TABLE audit_actions (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    who text NOT NULL,
    action text NOT NULL,
    alert_id bigint REFERENCES alerts (id),
    remote_addr text,
    detail jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX audit_actions_at_idx ON audit_actions (at, id);

-- A console login: a bcrypt hash, set by `riskwatch users password NAME`. NULL: the
-- user signs in with API tokens only (or through the authenticating proxy).
ALTER TABLE users ADD COLUMN password_hash text;

-- The console filters by team as it does by severity; the CSV export reads a period
-- of events by the time they were received.
CREATE INDEX alerts_team_idx ON alerts (team, starts_at DESC, id DESC);
CREATE INDEX alert_events_received_idx ON alert_events (received_at, id);
CREATE INDEX alert_acks_at_idx ON alert_acks (at, id);
CREATE INDEX alert_silences_expired_idx ON alert_silences (expired_at, id)
    WHERE expired_at IS NOT NULL;
