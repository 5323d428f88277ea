//! The error table: listing, replaying under `SKIP LOCKED`, discarding.

use std::collections::HashMap;

use herald_model::{Failure, FailureStatus, ReplayedBy};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::delivery::parse;
use crate::schedule::StoredJob;
use crate::{Page, Store, StoreError};

#[derive(Debug, Clone, Default)]
pub struct FailureFilter {
    /// None lists the open ones: pending, replaying and dead.
    pub status: Option<FailureStatus>,
    pub notifier_id: Option<Uuid>,
    pub limit: i64,
    pub cursor: Option<Uuid>,
}

/// Which failures a replay takes.
#[derive(Debug, Clone, Copy)]
pub enum ReplaySelection {
    /// Up to `limit` pending failures, oldest first, skipping any another
    /// replayer has locked.
    Pending { limit: i64 },
    /// One failure, pending or dead, on an operator's request.
    One(Uuid),
}

/// How queueing jobs from the database again went (replays, due notifications).
#[derive(Debug)]
pub enum ReplayOutcome<E> {
    /// This many jobs were queued again.
    Replayed(usize),
    /// Queueing failed; nothing was marked, the rows stay as they were.
    EnqueueFailed(E),
}

const SELECT: &str = "
    SELECT f.id, f.notification_id, n.event_id, n.notifier_id, n.notifier_name, n.kind, f.status,
           f.error, f.attempts, f.replay_count, f.first_failed_at, f.last_failed_at, f.errors, f.replays
    FROM failures f JOIN notifications n ON n.id = f.notification_id";

fn failure(row: &Row) -> Result<Failure, StoreError> {
    let id: Uuid = row.get("id");
    let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("failure {id}: {e}"));
    Ok(Failure {
        id,
        notification_id: row.get("notification_id"),
        event_id: row.get("event_id"),
        notifier_id: row.get("notifier_id"),
        notifier_name: row.get("notifier_name"),
        kind: row.get("kind"),
        status: parse(row.get("status"))?,
        error: row.get("error"),
        attempts: row.get("attempts"),
        replay_count: row.get("replay_count"),
        first_failed_at: row.get("first_failed_at"),
        last_failed_at: row.get("last_failed_at"),
        errors: serde_json::from_value(row.get("errors")).map_err(corrupt)?,
        replays: serde_json::from_value(row.get("replays")).map_err(corrupt)?,
    })
}

impl Store {
    pub async fn list_failures(&self, filter: &FailureFilter) -> Result<Page<Failure>, StoreError> {
        let client = self.client().await?;
        let statuses: Vec<&str> = match filter.status {
            Some(s) => vec![s.as_str()],
            None => vec!["pending", "replaying", "dead"],
        };
        let rows = client
            .query(
                &format!(
                    "{SELECT} WHERE f.status = ANY($1)
                       AND ($2::uuid IS NULL OR n.notifier_id = $2)
                       AND ($3::uuid IS NULL OR f.id < $3)
                     ORDER BY f.id DESC LIMIT $4"
                ),
                &[
                    &statuses,
                    &filter.notifier_id,
                    &filter.cursor,
                    &filter.limit,
                ],
            )
            .await
            .map_err(StoreError::query("list failures"))?;
        let items = rows.iter().map(failure).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::new(items, filter.limit, |f| f.id))
    }

    pub async fn get_failure(&self, id: Uuid) -> Result<Failure, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(&format!("{SELECT} WHERE f.id = $1"), &[&id])
            .await
            .map_err(StoreError::query("get failure"))?
            .ok_or_else(|| StoreError::not_found("failure", id))?;
        failure(&row)
    }

    /// How many failures are in each open status, for the gauges.
    pub async fn count_failures(&self) -> Result<HashMap<FailureStatus, i64>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT status, count(*) FROM failures
                 WHERE status IN ('pending', 'replaying', 'dead') GROUP BY status",
                &[],
            )
            .await
            .map_err(StoreError::query("count failures"))?;
        rows.iter()
            .map(|r| Ok((parse(r.get(0))?, r.get(1))))
            .collect()
    }

    /// Replays failures in one transaction: locks them (`FOR UPDATE SKIP LOCKED`,
    /// so concurrent replayers split the work instead of doubling it), marks them
    /// replaying and their notifications pending, hands their jobs to `enqueue`,
    /// and commits only if `enqueue` succeeded. A sender that picks a job up
    /// before the commit waits on the notification's row lock, so it never sees
    /// the old `failed` status.
    pub async fn replay<E>(
        &self,
        selection: ReplaySelection,
        by: ReplayedBy,
        enqueue: impl AsyncFnOnce(&[StoredJob]) -> Result<(), E>,
    ) -> Result<ReplayOutcome<E>, StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(StoreError::query("begin replay"))?;
        let (condition, limit, id) = match selection {
            ReplaySelection::Pending { limit } => ("f.status = 'pending'", limit, None),
            ReplaySelection::One(id) => {
                ("f.id = $2 AND f.status IN ('pending', 'dead')", 1, Some(id))
            }
        };
        let sql = format!(
            "SELECT f.id AS failure_id, n.id AS notification_id, n.notifier_id, n.kind, n.rule_ids, e.body
             FROM failures f
             JOIN notifications n ON n.id = f.notification_id
             JOIN events e ON e.id = n.event_id
             WHERE {condition} AND ($2::uuid IS NULL OR f.id = $2)
             ORDER BY f.last_failed_at
             LIMIT $1
             FOR UPDATE OF f, n SKIP LOCKED"
        );
        let rows = tx
            .query(&sql, &[&limit, &id])
            .await
            .map_err(StoreError::query("select failures to replay"))?;
        if rows.is_empty() {
            if let Some(id) = id {
                return Err(self.why_not_replayable(id).await);
            }
            return Ok(ReplayOutcome::Replayed(0));
        }
        let jobs = rows
            .iter()
            .map(StoredJob::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let failure_ids: Vec<Uuid> = rows.iter().map(|r| r.get("failure_id")).collect();
        let notification_ids: Vec<Uuid> = jobs.iter().map(|j| j.notification_id).collect();
        tx.execute(
            "UPDATE failures SET status = 'replaying', replay_count = replay_count + 1,
                    replays = replays || jsonb_build_array(jsonb_build_object('at', now(), 'by', $2::text))
             WHERE id = ANY($1)",
            &[&failure_ids, &by.as_str()],
        )
        .await
        .map_err(StoreError::query("mark failures replaying"))?;
        tx.execute(
            "UPDATE notifications SET status = 'pending', lease_owner = NULL, lease_until = NULL, due_at = NULL,
                    round_attempts = 0, round_started_at = NULL, updated_at = now()
             WHERE id = ANY($1)",
            &[&notification_ids],
        )
        .await
        .map_err(StoreError::query("mark notifications pending"))?;
        if let Err(e) = enqueue(&jobs).await {
            let _ = tx.rollback().await;
            return Ok(ReplayOutcome::EnqueueFailed(e));
        }
        tx.commit()
            .await
            .map_err(StoreError::query("commit replay"))?;
        Ok(ReplayOutcome::Replayed(jobs.len()))
    }

    async fn why_not_replayable(&self, id: Uuid) -> StoreError {
        match self.get_failure(id).await {
            Ok(f) => StoreError::Conflict {
                field: "status",
                message: format!(
                    "failure {id} is {} and cannot be replayed",
                    f.status.as_str()
                ),
            },
            Err(e) => e,
        }
    }

    /// An operator gives up on a failure: it leaves the open list for good.
    pub async fn discard_failure(&self, id: Uuid) -> Result<Failure, StoreError> {
        let client = self.client().await?;
        let n = client
            .execute(
                "UPDATE failures SET status = 'discarded' WHERE id = $1 AND status IN ('pending', 'dead')",
                &[&id],
            )
            .await
            .map_err(StoreError::query("discard failure"))?;
        if n == 0 {
            let f = self.get_failure(id).await?;
            return Err(StoreError::Conflict {
                field: "status",
                message: format!(
                    "failure {id} is {} and cannot be discarded",
                    f.status.as_str()
                ),
            });
        }
        self.get_failure(id).await
    }
}
