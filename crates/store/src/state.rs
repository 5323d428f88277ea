//! The state rule policies keep between events. Inside a batch's routing
//! transaction ([`Store::record_routing_with`]): threshold hits and throttle
//! windows per rule and key, and the open groups notifications join. Before
//! it: the open problems (inhibitions look at them) and the notifiers that got
//! a problem's firing events (a resolve goes to them).
//!
//! Rows are locked in one order (sorted keys) by every batch, so concurrent
//! routers wait for each other instead of deadlocking. The decisions over this
//! state are the router's; this module only reads and writes it.

use std::collections::HashMap;
use std::time::Duration;

use herald_model::Problem;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::routing::NewNotification;
use crate::{Store, StoreError};

/// What a batch's plan decided: its notifications, and the counts of
/// notifications throttles suppressed, to add to the one each kept.
#[derive(Debug, Default)]
pub struct Planned {
    pub notifications: Vec<NewNotification>,
    pub throttled: Vec<Throttled>,
}

/// `count` notifications suppressed by rule `rule_id`'s throttle in favour
/// of those of event `event_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    pub rule_id: Uuid,
    pub event_id: Uuid,
    pub count: i32,
}

/// A rule's state for one key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleState {
    /// Threshold: when the matching events since the last notification came.
    pub hits: Vec<OffsetDateTime>,
    /// Throttle: the event last notified, and when.
    pub sent_event: Option<Uuid>,
    pub sent_at: Option<OffsetDateTime>,
}

/// A notification that joins its group, or opens it as its leader.
#[derive(Debug, Clone)]
pub struct GroupAsk {
    pub rule_id: Uuid,
    pub notifier_id: Uuid,
    pub key: String,
    /// The notification asking: the leader if it opens the group.
    pub notification_id: Uuid,
    /// How long a new group waits for company.
    pub wait: Duration,
    /// How long after the last group of the key the next may go.
    pub interval: Duration,
    /// A fixed moment (a digest's schedule) instead of wait and interval.
    pub at: Option<OffsetDateTime>,
    /// Not before then (quiet hours).
    pub not_before: Option<OffsetDateTime>,
}

/// The group a notification is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupJoin {
    pub group_id: Uuid,
    pub leader: Uuid,
    pub due_at: OffsetDateTime,
}

/// A notifier that got a firing event of a problem, by way of which rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FiringTarget {
    pub notifier_id: Uuid,
    pub notifier_name: String,
    pub kind: String,
    pub rule_ids: Vec<Uuid>,
    pub event_id: Uuid,
}

/// The routing transaction of a batch, for its plan.
pub struct StateTx<'a> {
    pub(crate) tx: &'a deadpool_postgres::Transaction<'a>,
}

impl StateTx<'_> {
    /// Locks and reads the state of each `(rule, key)`, creating what is
    /// missing.
    pub async fn lock_rule_state(
        &self,
        keys: &[(Uuid, String)],
    ) -> Result<HashMap<(Uuid, String), RuleState>, StoreError> {
        let mut keys = keys.to_vec();
        keys.sort();
        keys.dedup();
        let rules: Vec<Uuid> = keys.iter().map(|(r, _)| *r).collect();
        let names: Vec<&str> = keys.iter().map(|(_, k)| k.as_str()).collect();
        let rows = self
            .tx
            .query(
                "INSERT INTO rule_state AS s (rule_id, key)
                 SELECT * FROM unnest($1::uuid[], $2::text[])
                 ON CONFLICT (rule_id, key) DO UPDATE SET key = s.key
                 RETURNING rule_id, key, hits, sent_event, sent_at",
                &[&rules, &names],
            )
            .await
            .map_err(StoreError::query("lock rule state"))?;
        rows.iter()
            .map(|r| {
                let hits: Vec<f64> = serde_json::from_value(r.get("hits"))
                    .map_err(|e| StoreError::Corrupt(format!("rule state hits: {e}")))?;
                let state = RuleState {
                    hits: hits.into_iter().filter_map(from_unix).collect(),
                    sent_event: r.get("sent_event"),
                    sent_at: r.get("sent_at"),
                };
                Ok(((r.get("rule_id"), r.get("key")), state))
            })
            .collect()
    }

    /// Writes back the state of each `(rule, key)` locked before.
    pub async fn save_rule_state(
        &self,
        states: &HashMap<(Uuid, String), RuleState>,
    ) -> Result<(), StoreError> {
        let mut rows: Vec<(&(Uuid, String), &RuleState)> = states.iter().collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        let rules: Vec<Uuid> = rows.iter().map(|((r, _), _)| *r).collect();
        let keys: Vec<&str> = rows.iter().map(|((_, k), _)| k.as_str()).collect();
        let hits: Vec<serde_json::Value> = rows
            .iter()
            .map(|(_, s)| serde_json::json!(s.hits.iter().map(unix).collect::<Vec<f64>>()))
            .collect();
        let sent: Vec<Option<Uuid>> = rows.iter().map(|(_, s)| s.sent_event).collect();
        let at: Vec<Option<OffsetDateTime>> = rows.iter().map(|(_, s)| s.sent_at).collect();
        self.tx
            .execute(
                "UPDATE rule_state s SET hits = u.hits, sent_event = u.sent_event, sent_at = u.sent_at
                 FROM unnest($1::uuid[], $2::text[], $3::jsonb[], $4::uuid[], $5::timestamptz[])
                      AS u(rule_id, key, hits, sent_event, sent_at)
                 WHERE s.rule_id = u.rule_id AND s.key = u.key",
                &[&rules, &keys, &hits, &sent, &at],
            )
            .await
            .map_err(StoreError::query("save rule state"))?;
        Ok(())
    }

    /// Puts a notification in the open group of its rule, notifier and key,
    /// opening one (with it as the leader) when none is open. A group that
    /// the sender took is closed: what comes after opens the next.
    pub async fn join_group(&self, ask: &GroupAsk) -> Result<GroupJoin, StoreError> {
        let row = self
            .tx
            .query_one(
                "INSERT INTO notification_groups AS g (id, rule_id, notifier_id, key, leader, due_at)
                 VALUES ($1, $2, $3, $4, $1, greatest(
                     coalesce($7, greatest(
                         now() + $5 * interval '1 second',
                         (SELECT max(closed_at) FROM notification_groups
                          WHERE rule_id = $2 AND notifier_id = $3 AND key = $4 AND status = 'closed')
                         + $6 * interval '1 second')),
                     $8))
                 ON CONFLICT (rule_id, notifier_id, key) WHERE status = 'open'
                 DO UPDATE SET members = g.members + 1
                 RETURNING id, leader, due_at",
                &[
                    &ask.notification_id,
                    &ask.rule_id,
                    &ask.notifier_id,
                    &ask.key,
                    &ask.wait.as_secs_f64(),
                    &ask.interval.as_secs_f64(),
                    &ask.at,
                    &ask.not_before,
                ],
            )
            .await
            .map_err(StoreError::query("join group"))?;
        Ok(GroupJoin {
            group_id: row.get("id"),
            leader: row.get("leader"),
            due_at: row.get("due_at"),
        })
    }

    /// Adds the notifications throttles suppressed to the count of the one
    /// each kept (those of the kept event that the rule selected).
    pub(crate) async fn add_throttled(&self, throttled: &[Throttled]) -> Result<(), StoreError> {
        if throttled.is_empty() {
            return Ok(());
        }
        let mut sorted = throttled.to_vec();
        sorted.sort_by_key(|t| (t.event_id, t.rule_id));
        let rules: Vec<String> = sorted.iter().map(|t| t.rule_id.to_string()).collect();
        let events: Vec<Uuid> = sorted.iter().map(|t| t.event_id).collect();
        let counts: Vec<i32> = sorted.iter().map(|t| t.count).collect();
        self.tx
            .execute(
                "UPDATE notifications n SET suppressed = n.suppressed + u.n
                 FROM (SELECT event_id, rule_id, sum(n)::int AS n
                       FROM unnest($1::uuid[], $2::text[], $3::int[]) AS t(event_id, rule_id, n)
                       GROUP BY event_id, rule_id) AS u
                 WHERE n.event_id = u.event_id AND n.rule_ids ? u.rule_id
                   AND n.status <> 'suppressed'",
                &[&events, &rules, &counts],
            )
            .await
            .map_err(StoreError::query("count throttled notifications"))?;
        Ok(())
    }
}

fn unix(t: &OffsetDateTime) -> f64 {
    t.unix_timestamp_nanos() as f64 / 1e9
}

fn from_unix(secs: f64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos((secs * 1e9) as i128).ok()
}

impl Store {
    /// The open problems, oldest first, at most `limit`.
    pub async fn open_problems(&self, limit: i64) -> Result<Vec<Problem>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT key, event_id, source, category, severity, scope, kind, labels, title, opened_at
                 FROM problems ORDER BY opened_at, key LIMIT $1",
            )
            .await
            .map_err(StoreError::query("prepare open problems"))?;
        client
            .query(&stmt, &[&limit])
            .await
            .map_err(StoreError::query("open problems"))?
            .iter()
            .map(|r| {
                let corrupt = |e: String| StoreError::Corrupt(format!("problem: {e}"));
                Ok(Problem {
                    key: r.get("key"),
                    event_id: r.get("event_id"),
                    source: r.get("source"),
                    category: r.get::<_, &str>("category").parse().map_err(corrupt)?,
                    severity: r.get::<_, &str>("severity").parse().map_err(corrupt)?,
                    scope: herald_model::Scope::parse(r.get("scope")).map_err(corrupt)?,
                    kind: r.get("kind"),
                    labels: serde_json::from_value(r.get("labels"))
                        .map_err(|e| corrupt(e.to_string()))?,
                    title: r.get("title"),
                    opened_at: r.get("opened_at"),
                })
            })
            .collect()
    }

    /// For each open problem of `keys`, the notifiers its firing events
    /// were delivered to (or are being), with the rules that sent them there.
    pub async fn firing_targets(
        &self,
        keys: &[String],
    ) -> Result<HashMap<String, Vec<FiringTarget>>, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "SELECT DISTINCT ON (p.key, n.notifier_id)
                        p.key, n.notifier_id, n.notifier_name, n.kind, n.rule_ids, n.event_id
                 FROM problems p
                 JOIN events e ON e.problem_key = p.key AND e.received_at >= p.opened_at
                 JOIN notifications n ON n.event_id = e.id
                 WHERE p.key = ANY($1) AND n.status <> 'suppressed'
                   AND NOT coalesce((e.body->>'resolved')::boolean, false)
                 ORDER BY p.key, n.notifier_id, e.occurred_at",
            )
            .await
            .map_err(StoreError::query("prepare firing targets"))?;
        let rows = client
            .query(&stmt, &[&keys])
            .await
            .map_err(StoreError::query("firing targets"))?;
        let mut out: HashMap<String, Vec<FiringTarget>> = HashMap::new();
        for r in rows {
            let rule_ids = serde_json::from_value(r.get("rule_ids"))
                .map_err(|e| StoreError::Corrupt(format!("rule ids: {e}")))?;
            out.entry(r.get("key")).or_default().push(FiringTarget {
                notifier_id: r.get("notifier_id"),
                notifier_name: r.get("notifier_name"),
                kind: r.get("kind"),
                rule_ids,
                event_id: r.get("event_id"),
            });
        }
        Ok(out)
    }

    /// Closes a group for good (its leader is being delivered) and answers
    /// its events, oldest first. Joining takes the group's row lock, so a
    /// notification that joined before the close is read here, and one
    /// that comes after opens the next group.
    pub async fn take_group(&self, group_id: Uuid) -> Result<Vec<herald_model::Event>, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE notification_groups SET status = 'closed', closed_at = now()
                 WHERE id = $1 AND status = 'open'",
                &[&group_id],
            )
            .await
            .map_err(StoreError::query("close group"))?;
        // A statement of its own, so it sees what joined before the close.
        let rows = client
            .query(
                "SELECT e.body FROM notifications n JOIN events e ON e.id = n.event_id
                 WHERE n.group_id = $1 ORDER BY e.occurred_at, e.id",
                &[&group_id],
            )
            .await
            .map_err(StoreError::query("read group"))?;
        rows.iter()
            .map(|r| {
                serde_json::from_value(r.get("body"))
                    .map_err(|e| StoreError::Corrupt(format!("event of group {group_id}: {e}")))
            })
            .collect()
    }
}
