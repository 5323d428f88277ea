//! The sender's side: lease a notification, record how its delivery ended.

use std::collections::HashMap;
use std::time::Duration;

use tokio_postgres::Row;

use herald_model::{FailureStatus, NotificationStatus};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Store, StoreError};

/// A lease wanted: on this notification, for the holder of this token, this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseRequest {
    pub notification_id: Uuid,
    pub token: Uuid,
    pub lease: Duration,
}

/// A delivery that was sent, after this many attempts in its round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub notification_id: Uuid,
    pub attempts: i32,
}

/// What a sender may do with a delivery job.
#[derive(Debug)]
pub enum Claim {
    /// The caller holds the lease: deliver.
    Claimed(Claimed),
    /// Delivered or given up already: this job is a duplicate.
    Done(NotificationStatus),
    /// Another delivery holds a lease until then; try again after it.
    Leased { until: OffsetDateTime },
    /// The notifier was deleted after the event was routed.
    NotifierGone { notifier_id: Uuid },
    /// No such notification.
    Unknown,
}

#[derive(Debug)]
pub struct Claimed {
    pub notifier_name: String,
    pub kind: String,
    /// Sealed settings, as stored.
    pub config: serde_json::Value,
    pub attempts: i32,
}

/// The answer to one lease request, from the row the claim statement returned.
fn claim_of(row: &Row, token: Uuid) -> Result<Claim, StoreError> {
    let state: NotificationStatus = parse(row.get("status"))?;
    if state != NotificationStatus::Pending {
        return Ok(Claim::Done(state));
    }
    let (Some(name), Some(kind), Some(config)) =
        (row.get("name"), row.get("kind"), row.get("config"))
    else {
        return Ok(Claim::NotifierGone {
            notifier_id: row.get("notifier_id"),
        });
    };
    let owner: Option<Uuid> = row.get("lease_owner_token");
    if owner != Some(token) {
        return Ok(Claim::Leased {
            until: row.get("lease_until"),
        });
    }
    Ok(Claim::Claimed(Claimed {
        notifier_name: name,
        kind,
        config,
        attempts: row.get("attempts"),
    }))
}

/// A status column read back into its enum.
pub(crate) fn parse<T: std::str::FromStr<Err = String>>(text: &str) -> Result<T, StoreError> {
    text.parse().map_err(StoreError::Corrupt)
}

impl Store {
    /// Leases pending notifications, each to the holder of its token for its
    /// lease, or says why not; answers in the order of `requests`. The same
    /// token renews its own lease. Many requests make one statement.
    ///
    /// The statement selects rows by id alone and decides in `CASE` whether to
    /// take each: a row that a replay is changing is locked, so the statement
    /// waits for that commit and judges the committed row. (With the status in
    /// the `WHERE` clause, READ COMMITTED would skip the row as it was in the
    /// snapshot, and drop a replayed job that arrived before the commit.)
    pub async fn claim_many(&self, requests: &[LeaseRequest]) -> Result<Vec<Claim>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE notifications n
                 SET lease_owner = CASE WHEN n.status = 'pending'
                                         AND (n.lease_until IS NULL OR n.lease_until < now() OR n.lease_owner = c.token)
                                        THEN c.token ELSE n.lease_owner END,
                     lease_until = CASE WHEN n.status = 'pending'
                                         AND (n.lease_until IS NULL OR n.lease_until < now() OR n.lease_owner = c.token)
                                        THEN now() + c.secs * interval '1 second' ELSE n.lease_until END
                 FROM unnest($1::uuid[], $2::uuid[], $3::float8[]) AS c(id, token, secs)
                 WHERE n.id = c.id
                 RETURNING n.id, n.status, n.lease_owner AS lease_owner_token, n.lease_until, n.notifier_id, n.attempts,
                           (SELECT name FROM notifiers WHERE id = n.notifier_id) AS name,
                           (SELECT kind FROM notifiers WHERE id = n.notifier_id) AS kind,
                           (SELECT config FROM notifiers WHERE id = n.notifier_id) AS config",
            )
            .await
            .map_err(StoreError::query("prepare claim"))?;
        let ids: Vec<Uuid> = requests.iter().map(|r| r.notification_id).collect();
        let tokens: Vec<Uuid> = requests.iter().map(|r| r.token).collect();
        let secs: Vec<f64> = requests.iter().map(|r| r.lease.as_secs_f64()).collect();
        let rows = client
            .query(&stmt, &[&ids, &tokens, &secs])
            .await
            .map_err(StoreError::query("claim"))?;
        // Two copies of one job in a batch update the row once: the copy whose
        // token did not win sees the row as leased by the other.
        let mut by_id: HashMap<Uuid, &Row> = HashMap::with_capacity(rows.len());
        for row in &rows {
            by_id.insert(row.get("id"), row);
        }
        requests
            .iter()
            .map(|r| match by_id.get(&r.notification_id) {
                None => Ok(Claim::Unknown),
                Some(row) => claim_of(row, r.token),
            })
            .collect()
    }

    /// Records deliveries as sent, whoever holds the lease: they were sent. A
    /// failure that was being replayed is resolved by it. One statement for all.
    pub async fn record_sent_many(&self, sent: &[Sent]) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "WITH s AS (
                    SELECT * FROM unnest($1::uuid[], $2::int[]) AS s(id, attempts)
                 ), n AS (
                    UPDATE notifications n
                    SET status = 'sent', attempts = n.attempts + s.attempts, sent_at = now(), updated_at = now(),
                        lease_owner = NULL, lease_until = NULL
                    FROM s
                    WHERE n.id = s.id AND n.status = 'pending'
                    RETURNING n.id
                 )
                 UPDATE failures SET status = 'resolved'
                 WHERE notification_id IN (SELECT id FROM n) AND status IN ('replaying', 'pending', 'dead')",
            )
            .await
            .map_err(StoreError::query("prepare record sent"))?;
        let ids: Vec<Uuid> = sent.iter().map(|s| s.notification_id).collect();
        let attempts: Vec<i32> = sent.iter().map(|s| s.attempts).collect();
        client
            .execute(&stmt, &[&ids, &attempts])
            .await
            .map_err(StoreError::query("record sent"))?;
        Ok(())
    }

    /// Records a delivery round that failed for good: the notification becomes
    /// `failed` and its failure row is created or updated, with the error added
    /// to its history. After `max_replays` replays, or when `dead` is set (the
    /// notifier is gone), the failure is `dead`: only an operator replays it.
    /// Returns `None` if another lease holder has the notification now.
    pub async fn record_failure(
        &self,
        notification_id: Uuid,
        token: Uuid,
        attempts: i32,
        error: &str,
        max_replays: i32,
        dead: bool,
    ) -> Result<Option<FailureStatus>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "WITH n AS (
                    UPDATE notifications
                    SET status = 'failed', attempts = attempts + $3, last_error = $4, updated_at = now(),
                        lease_owner = NULL, lease_until = NULL
                    WHERE id = $1 AND status = 'pending' AND (lease_owner = $2 OR lease_owner IS NULL
                          OR lease_until < now())
                    RETURNING id
                 )
                 INSERT INTO failures AS f (id, notification_id, status, error, attempts, errors)
                 SELECT $5, n.id, CASE WHEN $7 OR $6 <= 0 THEN 'dead' ELSE 'pending' END, $4, $3,
                        jsonb_build_array(jsonb_build_object('at', now(), 'error', $4::text, 'attempts', $3))
                 FROM n
                 ON CONFLICT (notification_id) DO UPDATE SET
                    status = CASE WHEN $7 OR f.replay_count >= $6 THEN 'dead' ELSE 'pending' END,
                    error = EXCLUDED.error,
                    attempts = f.attempts + EXCLUDED.attempts,
                    last_failed_at = now(),
                    errors = f.errors || EXCLUDED.errors
                 RETURNING f.status",
            )
            .await
            .map_err(StoreError::query("prepare record failure"))?;
        let row = client
            .query_opt(
                &stmt,
                &[
                    &notification_id,
                    &token,
                    &attempts,
                    &error,
                    &Uuid::now_v7(),
                    &max_replays,
                    &dead,
                ],
            )
            .await
            .map_err(StoreError::query("record failure"))?;
        row.map(|r| parse::<FailureStatus>(r.get(0))).transpose()
    }

    /// Gives a lease back early (on shutdown), so a redelivered job need not wait.
    pub async fn release(&self, notification_id: Uuid, token: Uuid) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE notifications SET lease_owner = NULL, lease_until = NULL
                 WHERE id = $1 AND lease_owner = $2",
                &[&notification_id, &token],
            )
            .await
            .map_err(StoreError::query("release lease"))?;
        Ok(())
    }
}
