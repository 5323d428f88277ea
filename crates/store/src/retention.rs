//! Retention: events, with their notifications, are deleted once older than
//! the retention period, in small batches so that no statement holds many
//! locks or runs long. What an open failure needs is kept. Problems and
//! closed groups go with the events they came from.

use std::time::Duration;

use crate::{Store, StoreError};

impl Store {
    /// Deletes up to `batch` events received more than `older_than` ago, with
    /// their notifications and those notifications' closed (resolved or
    /// discarded) failures; returns how many events went. An event stays while
    /// a notification of it is pending or has an open failure (pending,
    /// replaying, dead): a replay needs the event, and an operator the record.
    pub async fn delete_expired(
        &self,
        older_than: Duration,
        batch: i64,
    ) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "WITH old AS (
                    SELECT e.id FROM events e
                    WHERE e.received_at < now() - $1 * interval '1 second'
                      AND NOT EXISTS (
                          SELECT 1 FROM notifications n
                          LEFT JOIN failures f ON f.notification_id = n.id
                          WHERE n.event_id = e.id
                            AND (n.status = 'pending' OR f.status IN ('pending', 'replaying', 'dead')))
                    ORDER BY e.received_at
                    LIMIT $2
                    FOR UPDATE SKIP LOCKED
                 ), notifications_gone AS (
                    DELETE FROM notifications n USING old WHERE n.event_id = old.id
                 )
                 DELETE FROM events e USING old WHERE e.id = old.id",
            )
            .await
            .map_err(StoreError::query("prepare retention"))?;
        client
            .execute(&stmt, &[&horizon(older_than), &batch])
            .await
            .map_err(StoreError::query("delete expired events"))
    }

    /// Deletes the policy state older than `older_than`: problems opened
    /// before it (their events are going or gone, so a resolve could not find
    /// who got them) and groups closed before it. Returns how many rows went.
    pub async fn delete_expired_state(&self, older_than: Duration) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let secs = horizon(older_than);
        let problems = client
            .execute(
                "DELETE FROM problems WHERE opened_at < now() - $1 * interval '1 second'",
                &[&secs],
            )
            .await
            .map_err(StoreError::query("delete expired problems"))?;
        let groups = client
            .execute(
                "DELETE FROM notification_groups
                 WHERE status = 'closed' AND closed_at < now() - $1 * interval '1 second'",
                &[&secs],
            )
            .await
            .map_err(StoreError::query("delete expired groups"))?;
        Ok(problems + groups)
    }
}

/// A retention period in seconds, years at most: a period beyond that keeps
/// everything anyway, and `now() - interval` must not leave the range of a
/// timestamp.
fn horizon(older_than: Duration) -> f64 {
    older_than
        .min(Duration::from_secs(100 * 365 * 86_400))
        .as_secs_f64()
}
