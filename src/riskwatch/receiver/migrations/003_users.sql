-- Named users of the receiver's API and their API tokens (docs/receiver.md).
-- A user is never deleted: the trail's `who` names them, so they are deactivated.
CREATE TABLE users (
    id bigserial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    role text NOT NULL CHECK (role IN ('viewer', 'responder', 'admin')),
    active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- A token is `rwt_<id>_<secret>`: `id` is public and the primary key, so a request
-- looks its token up by id and bcrypt verifies that one hash. The secret is never
-- stored, only its bcrypt hash. Revoking sets revoked_at; the row stays for the audit.
CREATE TABLE user_tokens (
    id text PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id),
    secret_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE INDEX user_tokens_user_idx ON user_tokens (user_id);
