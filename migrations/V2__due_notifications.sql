-- A pending notification whose job is not in the broker is owned by the
-- database: it has a `due_at`, the moment the scheduler (in every sender and
-- flush process) queues its job again. That covers a retry waiting for its next
-- attempt, a job put aside while its notifier was busy, and a delivery whose
-- lease must be watched (a spare copy met it, or it ran long). On the common
-- path — lease, send, record — `due_at` stays null and no indexed column
-- changes, so both updates stay on their page.

ALTER TABLE notifications
    ADD COLUMN due_at           timestamptz,
    -- Attempts of the current round (a replay starts a new one) and when it began,
    -- for the retry budget.
    ADD COLUMN round_attempts   int NOT NULL DEFAULT 0,
    ADD COLUMN round_started_at timestamptz;

CREATE INDEX notifications_due ON notifications (due_at) WHERE due_at IS NOT NULL;

-- Every routed event inserts its notifications in the same statement, so the
-- foreign key's per-row check and lock on the event buy nothing; what deletes
-- events (retention) deletes their notifications first.
ALTER TABLE notifications DROP CONSTRAINT notifications_event_id_fkey;

-- Room on each page for the lease and outcome updates of the row, so they
-- can stay on the page (no index changes).
ALTER TABLE notifications SET (fillfactor = 80);

-- Only Herald reads an event's body back, whole: `json` keeps the text as sent
-- instead of parsing it into `jsonb` on every insert.
ALTER TABLE events ALTER COLUMN body TYPE json USING body::json;
