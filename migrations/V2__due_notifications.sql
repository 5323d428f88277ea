-- A notification that no queued job stands for is owned by the database: it has
-- a `due_at`, the moment the scheduler (the flush role) queues its job again.
-- That covers a lease (its end: a sender that died leaves it to the scheduler),
-- a retry waiting for its next attempt, and a job of a slow notifier put aside.
-- A pending notification with no `due_at` has its job in the broker.

ALTER TABLE notifications
    ADD COLUMN due_at           timestamptz,
    -- Attempts of the current round (a replay starts a new one) and when it began,
    -- for the retry budget.
    ADD COLUMN round_attempts   int NOT NULL DEFAULT 0,
    ADD COLUMN round_started_at timestamptz;

UPDATE notifications SET due_at = lease_until WHERE status = 'pending' AND lease_until IS NOT NULL;
ALTER TABLE notifications DROP COLUMN lease_until;

CREATE INDEX notifications_due ON notifications (due_at) WHERE due_at IS NOT NULL;

-- Every routed event inserts its notifications in the same statement, so the
-- foreign key's per-row check and lock on the event buy nothing; what deletes
-- events (retention) deletes their notifications first.
ALTER TABLE notifications DROP CONSTRAINT notifications_event_id_fkey;

-- Room on each page for the lease and outcome updates of the row, so they
-- can stay on the page.
ALTER TABLE notifications SET (fillfactor = 80);
