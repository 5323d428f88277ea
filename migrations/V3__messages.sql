-- Messages people shape, and why an event did or did not notify.

-- What rules grow beyond matching fields (condition, templates, later their
-- policies) lives in one document, so a new option needs no migration.
ALTER TABLE rules ADD COLUMN options jsonb NOT NULL DEFAULT '{}';

-- Every state of every rule, by the configuration versions it held for: an
-- event keeps the version it was routed at, and explain replays its routing
-- against the rules of that version. Only the API writes rules, so keeping
-- the history costs nothing on the routing path.
CREATE TABLE rule_history (
    rule_id    uuid NOT NULL,
    valid_from bigint NOT NULL,
    -- The version that replaced or deleted this state; null while current.
    valid_to   bigint,
    -- The rule's spec as the API takes it (name, matchers, condition, templates, notifiers).
    spec       jsonb NOT NULL,
    PRIMARY KEY (rule_id, valid_from)
);
CREATE INDEX rule_history_current ON rule_history (rule_id) WHERE valid_to IS NULL;

INSERT INTO rule_history (rule_id, valid_from, spec)
SELECT r.id, (SELECT version FROM config_version),
       jsonb_build_object(
           'name', r.name, 'enabled', r.enabled, 'categories', to_jsonb(r.categories),
           'kinds', to_jsonb(r.kinds), 'severities', to_jsonb(r.severities), 'scope', r.scope,
           'labels', r.labels,
           'notifiers', COALESCE((SELECT jsonb_agg(rn.notifier_id ORDER BY rn.position)
                                  FROM rule_notifiers rn WHERE rn.rule_id = r.id), '[]'))
FROM rules r;

-- The configuration version an event was routed at, and whether any rule
-- selected it (for listing events that notified no one).
ALTER TABLE events
    ADD COLUMN config_version bigint,
    ADD COLUMN matched boolean;
CREATE INDEX events_received ON events (received_at, id);

-- What routing noted on a notification (a condition that errored and was
-- ignored); null on the common path.
ALTER TABLE notifications ADD COLUMN notes jsonb;
