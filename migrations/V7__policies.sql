-- Rule policies: what happens between "a rule selected this event for this
-- notifier" and "a message went out". Every decision is kept on the
-- notification (status and reason), so explain and the notification list say
-- why one was suppressed, held or grouped.

ALTER TABLE notifications DROP CONSTRAINT notifications_status_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_status_check
    CHECK (status IN ('pending', 'sent', 'failed', 'suppressed', 'grouped'));
ALTER TABLE notifications
    -- Why a notification was suppressed, held or grouped, or why it exists
    -- (a resolve, a fallback).
    ADD COLUMN reason      text,
    -- The group a grouped notification joined; on the group's leader, the group
    -- it sends.
    ADD COLUMN group_id    uuid,
    -- Notifications a throttle suppressed in favour of this one.
    ADD COLUMN suppressed  int NOT NULL DEFAULT 0,
    -- The notification this one falls back from.
    ADD COLUMN fallback_of uuid;
CREATE INDEX notifications_group ON notifications (group_id) WHERE group_id IS NOT NULL;

-- A notifier's own policies: where to go when a delivery fails for good, and
-- when not to disturb.
ALTER TABLE notifiers
    ADD COLUMN fallback    uuid REFERENCES notifiers (id),
    ADD COLUMN quiet_hours jsonb;

-- The problem an event belongs to: its dedup_key, or source + scope + kind.
ALTER TABLE events ADD COLUMN problem_key text;
CREATE INDEX events_problem ON events (problem_key, occurred_at) WHERE problem_key IS NOT NULL;

-- Open problems: opened by a firing event, closed (deleted) by a resolving one.
-- Opening an open problem changes nothing, so events of the same problem never
-- wait on each other's row.
CREATE TABLE problems (
    key         text PRIMARY KEY,
    event_id    uuid NOT NULL,
    source      text NOT NULL,
    category    text NOT NULL,
    severity    text NOT NULL,
    scope       text NOT NULL,
    kind        text NOT NULL,
    labels      jsonb NOT NULL DEFAULT '{}',
    title       text NOT NULL DEFAULT '',
    opened_at   timestamptz NOT NULL DEFAULT now()
);

-- Threshold and throttle state of each rule, per key.
CREATE TABLE rule_state (
    rule_id     uuid NOT NULL,
    key         text NOT NULL,
    -- Threshold: when the matching events since the last notification arrived
    -- (Unix seconds, a JSON array: rows are written back many at a time).
    hits        jsonb NOT NULL DEFAULT '[]',
    -- Throttle: the event last notified, when, and how many were suppressed since.
    sent_event  uuid,
    sent_at     timestamptz,
    suppressed  int NOT NULL DEFAULT 0,
    PRIMARY KEY (rule_id, key)
);

-- Groups and digests: one notification (the leader) sends the events of its
-- group. A group is open until the sender takes it; at most one is open per
-- rule, notifier and key.
CREATE TABLE notification_groups (
    id          uuid PRIMARY KEY,
    rule_id     uuid NOT NULL,
    notifier_id uuid NOT NULL,
    key         text NOT NULL,
    leader      uuid NOT NULL,
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    due_at      timestamptz NOT NULL,
    members     int NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    closed_at   timestamptz
);
CREATE UNIQUE INDEX notification_groups_open ON notification_groups (rule_id, notifier_id, key)
    WHERE status = 'open';
CREATE INDEX notification_groups_closed ON notification_groups (rule_id, notifier_id, key, closed_at)
    WHERE status = 'closed';

CREATE TABLE silences (
    id          uuid PRIMARY KEY,
    matchers    jsonb NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    comment     text NOT NULL DEFAULT '',
    created_by  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE inhibitions (
    id           uuid PRIMARY KEY,
    name         text NOT NULL DEFAULT '',
    source_match jsonb NOT NULL,
    target_match jsonb NOT NULL,
    equal        text[] NOT NULL DEFAULT '{}',
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE monitors (
    id           uuid PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    match        jsonb NOT NULL,
    silent_for   interval NOT NULL,
    enabled      boolean NOT NULL DEFAULT true,
    -- active: events arrive; silent: a no_activity event was raised.
    state        text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'silent')),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    raised_at    timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Routers hold silences, inhibitions and monitors with the rules: a change to
-- them is a change of configuration.
CREATE TRIGGER silences_changed AFTER INSERT OR UPDATE OR DELETE ON silences
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER inhibitions_changed AFTER INSERT OR UPDATE OR DELETE ON inhibitions
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER monitors_changed AFTER INSERT OR DELETE ON monitors
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
CREATE TRIGGER monitors_edited AFTER UPDATE OF name, match, silent_for, enabled ON monitors
    FOR EACH STATEMENT EXECUTE FUNCTION bump_config_version();
