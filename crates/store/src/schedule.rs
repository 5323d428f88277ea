//! The scheduler's side: notifications whose `due_at` has passed get their job
//! queued again, in one transaction per batch that commits only once the
//! broker confirmed the jobs (a broker outage queues nothing and changes
//! nothing). Rows are locked `FOR UPDATE SKIP LOCKED`, so several schedulers
//! split the work instead of doubling it.

use std::collections::HashMap;

use herald_model::Event;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::delivery::LEASE_GRACE;
use crate::{ReplayOutcome, Store, StoreError};

/// A notification's job, rebuilt from the database for queueing again.
#[derive(Debug, Clone)]
pub struct StoredJob {
    pub notification_id: Uuid,
    pub notifier_id: Uuid,
    pub kind: String,
    pub rule_ids: Vec<Uuid>,
    pub event: Event,
}

impl StoredJob {
    /// From a row with `notification_id`, `notifier_id`, `kind`, `rule_ids`
    /// and the event's `body`.
    pub(crate) fn from_row(row: &Row) -> Result<StoredJob, StoreError> {
        let notification_id: Uuid = row.get("notification_id");
        let corrupt = |what: &str, e: serde_json::Error| {
            StoreError::Corrupt(format!("{what} of notification {notification_id}: {e}"))
        };
        Ok(StoredJob {
            notification_id,
            notifier_id: row.get("notifier_id"),
            kind: row.get("kind"),
            rule_ids: serde_json::from_value(row.get("rule_ids"))
                .map_err(|e| corrupt("rule ids", e))?,
            event: serde_json::from_value(row.get("body")).map_err(|e| corrupt("event", e))?,
        })
    }
}

impl Store {
    /// Queues the jobs of up to `limit` notifications that are due, oldest
    /// first and at most `per_notifier` of one notifier (a slow notifier's
    /// backlog comes back a share at a time, never all at once), through
    /// `enqueue`; they are no longer due once it succeeded.
    ///
    /// The statements lean on the index of due notifications whatever the
    /// table's statistics say, so an idle scheduler costs one index probe.
    pub async fn queue_due<E>(
        &self,
        limit: i64,
        per_notifier: usize,
        enqueue: impl AsyncFnOnce(&[StoredJob]) -> Result<(), E>,
    ) -> Result<ReplayOutcome<E>, StoreError> {
        let mut client = self.client().await?;
        // First a look, outside any transaction, along the index of due
        // notifications: most of the time nothing is due and that is all.
        let look = client
            .prepare_cached(
                "SELECT id, notifier_id FROM notifications WHERE due_at <= now()
                 ORDER BY due_at LIMIT $1",
            )
            .await
            .map_err(StoreError::query("prepare look for due notifications"))?;
        let due = client
            .query(&look, &[&(limit * 2)])
            .await
            .map_err(StoreError::query("look for due notifications"))?;
        let ids = share_out(&due, limit, per_notifier);
        if ids.is_empty() {
            return Ok(ReplayOutcome::Replayed(0));
        }
        let tx = client
            .transaction()
            .await
            .map_err(StoreError::query("begin scheduling"))?;
        // A row under a live lease is left to its holder, who finishes or lets
        // the lease end; the conditions are checked on the locked row.
        let lock = tx
            .prepare_cached(
                "SELECT n.id AS notification_id, n.notifier_id, n.kind, n.rule_ids, e.body
                 FROM notifications n JOIN events e ON e.id = n.event_id
                 WHERE n.id = ANY($1) AND n.status = 'pending' AND n.due_at <= now()
                   AND (n.lease_owner IS NULL OR n.lease_until < now() - $2 * interval '1 second')
                 FOR UPDATE OF n SKIP LOCKED",
            )
            .await
            .map_err(StoreError::query("prepare lock due notifications"))?;
        let rows = tx
            .query(&lock, &[&ids, &LEASE_GRACE.as_secs_f64()])
            .await
            .map_err(StoreError::query("lock due notifications"))?;
        if rows.is_empty() {
            return Ok(ReplayOutcome::Replayed(0));
        }
        let jobs = rows
            .iter()
            .map(StoredJob::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let ids: Vec<Uuid> = jobs.iter().map(|j| j.notification_id).collect();
        tx.execute(
            "UPDATE notifications SET due_at = NULL, lease_owner = NULL, lease_until = NULL
             WHERE id = ANY($1)",
            &[&ids],
        )
        .await
        .map_err(StoreError::query("mark notifications queued"))?;
        if let Err(e) = enqueue(&jobs).await {
            let _ = tx.rollback().await;
            return Ok(ReplayOutcome::EnqueueFailed(e));
        }
        tx.commit()
            .await
            .map_err(StoreError::query("commit scheduling"))?;
        Ok(ReplayOutcome::Replayed(jobs.len()))
    }
}

/// The ids to take from `due` (oldest first): up to `limit`, at most
/// `per_notifier` of one notifier.
fn share_out(due: &[Row], limit: i64, per_notifier: usize) -> Vec<Uuid> {
    let limit = usize::try_from(limit).unwrap_or(0);
    let mut taken: HashMap<Uuid, usize> = HashMap::new();
    due.iter()
        .filter(|row| {
            let n = taken.entry(row.get("notifier_id")).or_default();
            *n += 1;
            *n <= per_notifier
        })
        .map(|row| row.get("id"))
        .take(limit)
        .collect()
}
