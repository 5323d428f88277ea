-- API tokens: only a SHA-256 of each is kept. A revoked token stays listed
-- (with revoked_at) so the audit trail's names keep meaning something; names
-- are unique among tokens not revoked.
CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY,
    name         text NOT NULL,
    role         text NOT NULL CHECK (role IN ('admin', 'publisher', 'viewer')),
    hash         bytea NOT NULL UNIQUE,
    hint         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz
);
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

-- Every change made through the API or the command line: who, what, when.
CREATE TABLE audit (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor     text NOT NULL,
    action    text NOT NULL,
    object    text NOT NULL,
    object_id text,
    detail    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_at ON audit (at DESC);
