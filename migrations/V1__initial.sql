-- Herald's schema. Every statement that writes lives in crates/store.

CREATE TABLE notifiers (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    description text NOT NULL DEFAULT '',
    kind        text NOT NULL,
    -- Secrets inside are sealed (AES-256-GCM) before they reach this table.
    config      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rules (
    id          uuid PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    enabled     boolean NOT NULL DEFAULT true,
    categories  text[] NOT NULL DEFAULT '{}',
    kinds       text[] NOT NULL DEFAULT '{}',
    severities  text[] NOT NULL DEFAULT '{}',
    scope       text NOT NULL DEFAULT '',
    labels      jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE rule_notifiers (
    rule_id     uuid NOT NULL REFERENCES rules (id) ON DELETE CASCADE,
    notifier_id uuid NOT NULL REFERENCES notifiers (id) ON DELETE CASCADE,
    position    int NOT NULL,
    PRIMARY KEY (rule_id, notifier_id)
);
CREATE INDEX rule_notifiers_notifier ON rule_notifiers (notifier_id);

-- Bumped by every change to rules or notifiers, so that routers can check with one
-- cheap read whether their in-memory rule set is still current.
CREATE TABLE config_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    version   bigint NOT NULL
);
INSERT INTO config_version (version) VALUES (1);

CREATE FUNCTION bump_config_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE config_version SET version = version + 1;
    RETURN NULL;
END $$;

CREATE TRIGGER notifiers_changed AFTER INSERT OR UPDATE OR DELETE ON notifiers
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER rules_changed AFTER INSERT OR UPDATE OR DELETE ON rules
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER rule_notifiers_changed AFTER INSERT OR UPDATE OR DELETE ON rule_notifiers
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();

CREATE TABLE events (
    id          uuid PRIMARY KEY,
    source      text NOT NULL,
    category    text NOT NULL,
    kind        text NOT NULL,
    severity    text NOT NULL,
    scope       text NOT NULL,
    body        jsonb NOT NULL,
    occurred_at timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE notifications (
    id            uuid PRIMARY KEY,
    event_id      uuid NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    -- No foreign key: the history of a notifier outlives the notifier.
    notifier_id   uuid NOT NULL,
    notifier_name text NOT NULL,
    kind          text NOT NULL,
    rule_ids      jsonb NOT NULL DEFAULT '[]',
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    attempts      int NOT NULL DEFAULT 0,
    last_error    text,
    -- The sender working on it, until when; a second copy of the job waits.
    lease_owner   uuid,
    lease_until   timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    sent_at       timestamptz,
    UNIQUE (event_id, notifier_id)
);
CREATE INDEX notifications_notifier ON notifications (notifier_id, id);

CREATE TABLE failures (
    id              uuid PRIMARY KEY,
    notification_id uuid NOT NULL UNIQUE REFERENCES notifications (id) ON DELETE CASCADE,
    status          text NOT NULL CHECK (status IN ('pending', 'replaying', 'resolved', 'dead', 'discarded')),
    error           text NOT NULL,
    attempts        int NOT NULL,
    replay_count    int NOT NULL DEFAULT 0,
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at  timestamptz NOT NULL DEFAULT now(),
    errors          jsonb NOT NULL DEFAULT '[]',
    replays         jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX failures_replayable ON failures (last_failed_at) WHERE status = 'pending';
CREATE INDEX failures_status ON failures (status, id);
