//! The sender's side: lease a notification, record how its attempt ended, put a
//! notification aside until a later moment.
//!
//! A pending notification is owned by a job in the broker (`due_at` is null:
//! the job's message is acked only once the outcome is written, so a sender
//! that dies leaves it to be redelivered), or by the database (`due_at` is
//! set): a retry waiting for its next attempt, a job put aside while its
//! notifier was busy, or a lease being watched (a spare copy met it, or the
//! delivery ran long and let its message go). When `due_at` passes, the
//! scheduler (`schedule.rs`) queues the job again. A lease that ended keeps
//! others out [`LEASE_GRACE`] longer, so a sender that lost the database while
//! sending can write the outcome it holds before anyone sends again.
//!
//! A round that fails for good is recorded with its failure row and, when the
//! notifier names a fallback, the fallback's notification of the event, due at
//! once: one statement, so no failure is left without its fallback.
//!
//! Leasing and recording a success change no indexed column, so on the common
//! path both updates stay on the row's page.

use std::collections::HashMap;
use std::time::Duration;

use tokio_postgres::Row;

use herald_model::{FailureStatus, NotificationStatus};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Store, StoreError};

/// How long past its end a lease still keeps others out.
pub const LEASE_GRACE: Duration = Duration::from_secs(5);

/// A lease wanted: on this notification, for the holder of this token, this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseRequest {
    pub notification_id: Uuid,
    pub token: Uuid,
    pub lease: Duration,
}

/// What a sender may do with a delivery job.
#[derive(Debug)]
pub enum Claim {
    /// The caller holds the lease: deliver.
    Claimed(Claimed),
    /// Delivered or given up already: this job is a duplicate.
    Done(NotificationStatus),
    /// Another delivery holds a lease until then; the notification is now
    /// watched, and queued again if that delivery does not finish. This copy
    /// is not needed.
    Leased { until: OffsetDateTime },
    /// Put aside until then (a retry's wait); the scheduler queues it then.
    Parked { until: OffsetDateTime },
    /// The notifier was deleted after the event was routed.
    NotifierGone { notifier_id: Uuid },
    /// No such notification.
    Unknown,
}

#[derive(Debug)]
pub struct Claimed {
    pub notifier_id: Uuid,
    pub notifier_name: String,
    pub kind: String,
    /// Sealed settings, as stored.
    pub config: serde_json::Value,
    /// Changes whenever the settings do: what a cache of them is keyed by.
    pub settings_version: OffsetDateTime,
    /// The configuration version now: rules' templates cached at an older one
    /// are read again.
    pub config_version: i64,
    /// Attempts over every round.
    pub attempts: i32,
    /// Attempts of this round before this one, and when the round began.
    pub round_attempts: i32,
    pub round_started_at: OffsetDateTime,
    /// The targets earlier attempts delivered to (channels with several).
    pub delivered_targets: Vec<String>,
    /// The group this notification sends, when it leads one.
    pub group_id: Option<Uuid>,
}

/// An attempt that failed and will be tried again after `wait`, by whoever
/// the scheduler hands the job to then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retry {
    pub notification_id: Uuid,
    pub token: Uuid,
    pub wait: Duration,
    pub error: String,
    /// This attempt's outcome per target, when the channel has several.
    pub targets: Option<serde_json::Value>,
}

/// An attempt that was delivered, with its targets' outcomes when the
/// channel has several.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub notification_id: Uuid,
    pub targets: Option<serde_json::Value>,
}

/// A round that failed for good: the lease it ran under, its attempts, the
/// last error and the targets' outcomes of the last attempt.
#[derive(Debug, Clone, Copy)]
pub struct Failed<'a> {
    pub notification_id: Uuid,
    pub token: Uuid,
    pub attempts: i32,
    pub error: &'a str,
    pub targets: Option<&'a serde_json::Value>,
}

/// What recording a failed round wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FailureRecorded {
    /// The failure's status now: `pending`, or `dead`.
    pub status: FailureStatus,
    /// The notification created for the notifier's fallback, if one was.
    pub fallback: Option<FallbackCreated>,
}

/// A notification created for a fallback notifier: due at once, so the
/// scheduler queues its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FallbackCreated {
    pub notification_id: Uuid,
    pub notifier_id: Uuid,
}

/// A job put aside for `wait` before it was leased (its notifier is busy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Defer {
    pub notification_id: Uuid,
    pub wait: Duration,
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
    let owner: Option<Uuid> = row.get("lease_owner");
    match owner {
        Some(owner) if owner == token => {}
        Some(_) => {
            return Ok(Claim::Leased {
                until: row.get("lease_until"),
            });
        }
        None => {
            return Ok(Claim::Parked {
                until: row.get("due_at"),
            });
        }
    }
    Ok(Claim::Claimed(Claimed {
        notifier_id: row.get("notifier_id"),
        notifier_name: name,
        kind,
        config,
        settings_version: row.get("settings_version"),
        config_version: row.get("config_version"),
        attempts: row.get("attempts"),
        round_attempts: row.get("round_attempts"),
        round_started_at: row.get("round_started_at"),
        delivered_targets: delivered(row.get("targets")),
        group_id: row.get("group_id"),
    }))
}

/// The targets marked sent in a notification's `targets`.
fn delivered(targets: Option<serde_json::Value>) -> Vec<String> {
    let Some(serde_json::Value::Object(targets)) = targets else {
        return Vec::new();
    };
    targets
        .into_iter()
        .filter(|(_, outcome)| outcome["status"] == "sent")
        .map(|(target, _)| target)
        .collect()
}

/// A status column read back into its enum.
pub(crate) fn parse<T: std::str::FromStr<Err = String>>(text: &str) -> Result<T, StoreError> {
    text.parse().map_err(StoreError::Corrupt)
}

/// Whether a claim takes the row `n` for request `c`: its own lease, or a
/// pending notification not put aside for later and not under another's
/// lease (grace included).
macro_rules! takes {
    () => {
        "(n.status = 'pending' AND (n.lease_owner = c.token
           OR ((n.due_at IS NULL OR n.due_at <= now())
               AND (n.lease_owner IS NULL OR n.lease_until < now() - $4 * interval '1 second'))))"
    };
}

/// Whether the row is under another delivery's lease (grace included): the
/// claim does not take it, and has it watched.
macro_rules! watches {
    () => {
        "(n.status = 'pending' AND n.lease_owner <> c.token
           AND n.lease_until >= now() - $4 * interval '1 second')"
    };
}

const CLAIM: &str = concat!(
    "WITH u AS (
       UPDATE notifications n
       SET lease_owner = CASE WHEN ",
    takes!(),
    " THEN c.token ELSE n.lease_owner END,
           lease_until = CASE WHEN ",
    takes!(),
    " THEN now() + c.secs * interval '1 second'
                              ELSE n.lease_until END,
           due_at = CASE WHEN ",
    takes!(),
    " THEN
                             CASE WHEN n.due_at IS NOT NULL AND n.lease_owner = c.token
                                  THEN now() + (c.secs + $4) * interval '1 second' END
                         WHEN ",
    watches!(),
    " THEN
                             coalesce(n.due_at, n.lease_until + $4 * interval '1 second')
                         ELSE n.due_at END,
           round_started_at = CASE WHEN ",
    takes!(),
    " THEN coalesce(n.round_started_at, now())
                                   ELSE n.round_started_at END
       FROM unnest($1::uuid[], $2::uuid[], $3::float8[]) AS c(id, token, secs)
       WHERE n.id = c.id
       RETURNING n.id, n.status, n.lease_owner, n.lease_until, n.due_at, n.notifier_id, n.attempts,
                 n.round_attempts, n.round_started_at, n.targets, n.group_id
     )
     SELECT u.*, f.name, f.kind, f.config, f.updated_at AS settings_version,
            (SELECT version FROM config_version) AS config_version
     FROM u LEFT JOIN notifiers f ON f.id = u.notifier_id"
);

/// The fallback's notification of a round that failed for good (`n` is the
/// row the failure statement updated, `$4` its error, `$9` the new id): the
/// same event, for the notifier the failed one names as its fallback, linked
/// by `fallback_of` and due at once, so the scheduler queues it (in the
/// critical lane for a critical event). None is created for a notification
/// that is itself a fallback (no chains, no loops), nor a second one for the
/// same notification (a replay that fails again), nor when the fallback
/// already has a notification of the event (`UNIQUE (event_id, notifier_id)`).
/// Both lookups by event use that unique index.
macro_rules! fallback {
    () => {
        "fb AS (
            INSERT INTO notifications AS o (id, event_id, notifier_id, notifier_name, kind, rule_ids,
                                            reason, fallback_of, due_at)
            SELECT $9, n.event_id, t.id, t.name, t.kind, n.rule_ids,
                   'fallback: delivery to ''' || n.notifier_name || ''' failed for good: ' || $4,
                   n.id, now()
            FROM n JOIN notifiers p ON p.id = n.notifier_id JOIN notifiers t ON t.id = p.fallback
            WHERE n.fallback_of IS NULL
              AND NOT EXISTS (SELECT 1 FROM notifications x
                              WHERE x.event_id = n.event_id AND x.fallback_of = n.id)
            ON CONFLICT (event_id, notifier_id) DO NOTHING
            RETURNING o.id, o.notifier_id
         )"
    };
}

/// The statement of [`Store::record_failure`]: the notification, its failure
/// row and its fallback's notification, written together.
const RECORD_FAILURE: &str = concat!(
    "WITH n AS (
        UPDATE notifications
        SET status = 'failed', attempts = attempts + least($3::int, 1), last_error = $4,
            updated_at = now(), lease_owner = NULL, lease_until = NULL, due_at = NULL,
            targets = CASE WHEN $8::jsonb IS NULL THEN targets
                           ELSE coalesce(targets, '{}') || $8 END
        WHERE id = $1 AND status = 'pending' AND (lease_owner = $2 OR lease_owner IS NULL)
        RETURNING id, event_id, notifier_id, notifier_name, rule_ids, fallback_of
     ), failure AS (
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
        RETURNING f.status
     ), ",
    fallback!(),
    "
     SELECT failure.status, fb.id AS fallback_id, fb.notifier_id AS fallback_notifier_id
     FROM failure LEFT JOIN fb ON true"
);

/// A wait or a lease as seconds for SQL, held to [`LONGEST_WAIT`].
fn secs(d: Duration) -> f64 {
    d.min(LONGEST_WAIT).as_secs_f64()
}

/// The longest wait or lease written. Callers bound theirs far lower; this
/// keeps one unchecked duration from overflowing `now() + interval` and
/// failing every lease in its batch statement.
const LONGEST_WAIT: Duration = Duration::from_secs(7 * 86_400);

impl Store {
    /// Leases pending notifications, each to the holder of its token for its
    /// lease, or says why not; answers in the order of `requests`. The same
    /// token renews its own lease. Many requests make one statement.
    ///
    /// A notification may be taken when its job is in the broker (no `due_at`)
    /// or its moment has come, and no other lease holds it (one that ended more
    /// than [`LEASE_GRACE`] ago does not). A copy that meets another's lease
    /// has the notification watched: due when that lease and its grace end.
    ///
    /// The statement selects rows by id alone and decides in `CASE` whether to
    /// take each: a row that a replay or the scheduler is changing is locked, so
    /// the statement waits for that commit and judges the committed row.
    pub async fn claim_many(&self, requests: &[LeaseRequest]) -> Result<Vec<Claim>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(CLAIM)
            .await
            .map_err(StoreError::query("prepare claim"))?;
        // Rows locked in one order by every batch: no deadlock between them.
        let mut sorted: Vec<&LeaseRequest> = requests.iter().collect();
        sorted.sort_by_key(|r| r.notification_id);
        let ids: Vec<Uuid> = sorted.iter().map(|r| r.notification_id).collect();
        let tokens: Vec<Uuid> = sorted.iter().map(|r| r.token).collect();
        let leases: Vec<f64> = sorted.iter().map(|r| secs(r.lease)).collect();
        let rows = client
            .query(&stmt, &[&ids, &tokens, &leases, &secs(LEASE_GRACE)])
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

    /// Records deliveries as sent (one attempt each, with its targets'
    /// outcomes when it has several), whoever holds the lease: they were
    /// sent. A failure that was being replayed is resolved by it. One
    /// statement for all.
    pub async fn record_sent_many(&self, sent: &[Sent]) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "WITH n AS (
                    UPDATE notifications n
                    SET status = 'sent', attempts = n.attempts + 1, sent_at = now(), updated_at = now(),
                        lease_owner = NULL, lease_until = NULL, due_at = NULL,
                        targets = CASE WHEN s.targets IS NULL THEN n.targets
                                       ELSE coalesce(n.targets, '{}') || s.targets END
                    FROM unnest($1::uuid[], $2::jsonb[]) AS s(id, targets)
                    WHERE n.id = s.id AND n.status = 'pending'
                    RETURNING n.id
                 )
                 UPDATE failures SET status = 'resolved'
                 WHERE notification_id IN (SELECT id FROM n) AND status IN ('replaying', 'pending', 'dead')",
            )
            .await
            .map_err(StoreError::query("prepare record sent"))?;
        let mut sent: Vec<&Sent> = sent.iter().collect();
        sent.sort_by_key(|s| s.notification_id);
        let ids: Vec<Uuid> = sent.iter().map(|s| s.notification_id).collect();
        let targets: Vec<Option<&serde_json::Value>> =
            sent.iter().map(|s| s.targets.as_ref()).collect();
        client
            .execute(&stmt, &[&ids, &targets])
            .await
            .map_err(StoreError::query("record sent"))?;
        Ok(())
    }

    /// Records failed attempts that will be tried again: each notification
    /// counts the attempt, shows its error, gives its lease up and is due again
    /// after its wait. A notification whose lease another holder took is left
    /// alone. One statement for all.
    pub async fn record_retries(&self, retries: &[Retry]) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE notifications n
                 SET attempts = n.attempts + 1, round_attempts = n.round_attempts + 1,
                     last_error = r.error, updated_at = now(), lease_owner = NULL, lease_until = NULL,
                     due_at = now() + r.secs * interval '1 second',
                     targets = CASE WHEN r.targets IS NULL THEN n.targets
                                    ELSE coalesce(n.targets, '{}') || r.targets END
                 FROM unnest($1::uuid[], $2::uuid[], $3::float8[], $4::text[], $5::jsonb[])
                      AS r(id, token, secs, error, targets)
                 WHERE n.id = r.id AND n.status = 'pending' AND n.lease_owner = r.token",
            )
            .await
            .map_err(StoreError::query("prepare record retries"))?;
        let mut retries: Vec<&Retry> = retries.iter().collect();
        retries.sort_by_key(|r| r.notification_id);
        let ids: Vec<Uuid> = retries.iter().map(|r| r.notification_id).collect();
        let tokens: Vec<Uuid> = retries.iter().map(|r| r.token).collect();
        let waits: Vec<f64> = retries.iter().map(|r| secs(r.wait)).collect();
        let errors: Vec<&str> = retries.iter().map(|r| r.error.as_str()).collect();
        let targets: Vec<Option<&serde_json::Value>> =
            retries.iter().map(|r| r.targets.as_ref()).collect();
        client
            .execute(&stmt, &[&ids, &tokens, &waits, &errors, &targets])
            .await
            .map_err(StoreError::query("record retries"))?;
        Ok(())
    }

    /// Puts jobs aside that were not leased: each notification becomes due
    /// after its wait; one under a lease (a sender may have died holding it)
    /// is watched instead, due when the lease and its grace end; one already
    /// put aside for later, or done, is left as it is. Either way the job in
    /// hand is then a spare copy: the database owns the notification. One
    /// statement for all.
    ///
    /// As the claim does, it selects rows by id alone and decides in `CASE`:
    /// with the status in the `WHERE` clause, a replay that has set the
    /// notification pending but not committed yet would go unseen (the row
    /// judged as it was, `failed`), and the replayed job, put aside into
    /// nothing, would be lost.
    pub async fn defer_many(&self, deferrals: &[Defer]) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE notifications n
                 SET due_at = CASE
                     WHEN n.status <> 'pending' THEN n.due_at
                     WHEN n.lease_owner IS NOT NULL
                         THEN coalesce(n.due_at, n.lease_until + $3 * interval '1 second')
                     WHEN n.due_at IS NULL OR n.due_at <= now() THEN now() + d.secs * interval '1 second'
                     ELSE n.due_at END
                 FROM unnest($1::uuid[], $2::float8[]) AS d(id, secs)
                 WHERE n.id = d.id",
            )
            .await
            .map_err(StoreError::query("prepare defer"))?;
        let mut deferrals = deferrals.to_vec();
        // Rows locked in one order by every batch: no deadlock between them.
        deferrals.sort_by_key(|d| d.notification_id);
        let ids: Vec<Uuid> = deferrals.iter().map(|d| d.notification_id).collect();
        let waits: Vec<f64> = deferrals.iter().map(|d| secs(d.wait)).collect();
        client
            .execute(&stmt, &[&ids, &waits, &secs(LEASE_GRACE)])
            .await
            .map_err(StoreError::query("defer"))?;
        Ok(())
    }

    /// Records a delivery round that failed for good: the notification counts
    /// its last attempt and becomes `failed`, and its failure row is created or
    /// updated, with the error and the round's `attempts` added to its history.
    /// After `max_replays` replays, or when `dead` is set (the notifier is
    /// gone), the failure is `dead`: only an operator replays it. Returns `None`
    /// if another lease holder has the notification now.
    ///
    /// When the notifier names a fallback, the same statement creates the
    /// fallback's notification of the event (see `fallback!`), so a failure is
    /// never recorded without it. A notifier that is gone has no fallback left
    /// to name: its failure is recorded alone.
    pub async fn record_failure(
        &self,
        failed: &Failed<'_>,
        max_replays: i32,
        dead: bool,
    ) -> Result<Option<FailureRecorded>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(RECORD_FAILURE)
            .await
            .map_err(StoreError::query("prepare record failure"))?;
        let row = client
            .query_opt(
                &stmt,
                &[
                    &failed.notification_id,
                    &failed.token,
                    &failed.attempts,
                    &failed.error,
                    &Uuid::now_v7(),
                    &max_replays,
                    &dead,
                    &failed.targets,
                    &Uuid::now_v7(),
                ],
            )
            .await
            .map_err(StoreError::query("record failure"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let fallback = row
            .get::<_, Option<Uuid>>("fallback_id")
            .map(|notification_id| FallbackCreated {
                notification_id,
                notifier_id: row.get("fallback_notifier_id"),
            });
        Ok(Some(FailureRecorded {
            status: parse(row.get("status"))?,
            fallback,
        }))
    }

    /// Hands deliveries that run long over to the database: each notification
    /// becomes due when its lease and grace end, so its job's message can be
    /// acked now without the notification depending on the sender. One
    /// statement for all.
    pub async fn watch_leases(&self, leases: &[(Uuid, Uuid)]) -> Result<(), StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "UPDATE notifications n
                 SET due_at = n.lease_until + $3 * interval '1 second'
                 FROM unnest($1::uuid[], $2::uuid[]) AS l(id, token)
                 WHERE n.id = l.id AND n.lease_owner = l.token AND n.status = 'pending'",
            )
            .await
            .map_err(StoreError::query("prepare watch leases"))?;
        let mut leases = leases.to_vec();
        leases.sort_unstable();
        let ids: Vec<Uuid> = leases.iter().map(|(id, _)| *id).collect();
        let tokens: Vec<Uuid> = leases.iter().map(|(_, token)| *token).collect();
        client
            .execute(&stmt, &[&ids, &tokens, &secs(LEASE_GRACE)])
            .await
            .map_err(StoreError::query("watch leases"))?;
        Ok(())
    }
}
