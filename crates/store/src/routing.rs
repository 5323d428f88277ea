use std::collections::{HashMap, HashSet};

use herald_model::{Event, Monitor, Rule};
use tokio_postgres::IsolationLevel;
use uuid::Uuid;

use crate::{Store, StoreError};

/// What the router matches against, read in one consistent snapshot.
#[derive(Debug, Clone)]
pub struct RoutingSnapshot {
    pub version: i64,
    /// Enabled rules only.
    pub rules: Vec<Rule>,
    /// Every notifier: id → (name, kind).
    pub notifiers: HashMap<Uuid, (String, String)>,
    /// Enabled monitors only.
    pub monitors: Vec<Monitor>,
}

/// A notification the router decided on.
#[derive(Debug, Clone)]
pub struct NewNotification {
    pub id: Uuid,
    pub event_id: Uuid,
    pub notifier_id: Uuid,
    pub notifier_name: String,
    pub kind: String,
    pub rule_ids: Vec<Uuid>,
    /// What routing noted (a condition error ignored); usually none.
    pub notes: Vec<String>,
}

/// A pending notification whose job must be (re)queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueue {
    pub notification_id: Uuid,
    pub notifier_id: Uuid,
    pub event_id: Uuid,
    pub kind: String,
    pub rule_ids: Vec<Uuid>,
}

/// How recording a batch went.
#[derive(Debug)]
pub enum Routing {
    Recorded(Recorded),
    /// The rules changed since `version`: nothing was written; match the batch
    /// against the new rules and record it again.
    Stale,
}

#[derive(Debug, Default)]
pub struct Recorded {
    /// Events seen for the first time.
    pub new_events: HashSet<Uuid>,
    /// Jobs to queue: every new notification, and every still-pending one of an
    /// event seen before (its first routing may have stopped before queueing).
    pub enqueue: Vec<Enqueue>,
    /// The stored form of events seen before: the first copy of an id wins.
    pub stored: HashMap<Uuid, Event>,
}

impl Store {
    pub async fn config_version(&self) -> Result<i64, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached("SELECT version FROM config_version")
            .await
            .map_err(StoreError::query("read config version"))?;
        let row = client
            .query_one(&stmt, &[])
            .await
            .map_err(StoreError::query("read config version"))?;
        Ok(row.get(0))
    }

    pub async fn routing_snapshot(&self) -> Result<RoutingSnapshot, StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(StoreError::query("begin snapshot"))?;
        let version: i64 = tx
            .query_one("SELECT version FROM config_version", &[])
            .await
            .map_err(StoreError::query("read config version"))?
            .get(0);
        let rules = Store::enabled_rules(&tx).await?;
        let notifiers = tx
            .query("SELECT id, name, kind FROM notifiers", &[])
            .await
            .map_err(StoreError::query("load notifiers"))?
            .iter()
            .map(|r| (r.get("id"), (r.get("name"), r.get("kind"))))
            .collect();
        let monitors = Store::enabled_monitors(&tx).await?;
        tx.commit()
            .await
            .map_err(StoreError::query("end snapshot"))?;
        Ok(RoutingSnapshot {
            version,
            rules,
            notifiers,
            monitors,
        })
    }

    /// Records a batch of events and their notifications in one statement, so an
    /// event is never stored without its notifications, if the rules are still
    /// at `version` (the notifications were matched against them); the same
    /// statement checks it, so a rule change applies to the next event routed
    /// without a read of its own per batch. Repeating a batch is safe.
    pub async fn record_routing(
        &self,
        version: i64,
        events: &[Event],
        notifications: &[NewNotification],
    ) -> Result<Routing, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(
                "WITH v AS (
                    SELECT version = $15 AS current FROM config_version
                 ), ev AS (
                    INSERT INTO events (id, source, category, kind, severity, scope, body, occurred_at,
                                        matched, config_version)
                    SELECT u.*, $15 FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                                         $6::text[], $7::json[], $8::timestamptz[], $16::bool[]) AS u
                    WHERE (SELECT current FROM v)
                    ON CONFLICT (id) DO NOTHING
                    RETURNING id
                 ), nt AS (
                    INSERT INTO notifications (id, event_id, notifier_id, notifier_name, kind, rule_ids, notes)
                    SELECT u.* FROM unnest($9::uuid[], $10::uuid[], $11::uuid[], $12::text[], $13::text[],
                                           $14::jsonb[], $17::jsonb[])
                                    AS u(id, event_id, notifier_id, notifier_name, kind, rule_ids, notes)
                    WHERE u.event_id IN (SELECT id FROM ev)
                    ON CONFLICT (event_id, notifier_id) DO NOTHING
                    RETURNING id, event_id, notifier_id, kind, rule_ids
                 )
                 SELECT 'stale' AS tag, NULL::uuid AS id, NULL::uuid AS event_id, NULL::uuid AS notifier_id,
                        NULL::text AS kind, NULL::jsonb AS rule_ids
                 FROM v WHERE NOT current
                 UNION ALL
                 SELECT 'event', id, id, NULL, NULL, NULL FROM ev
                 UNION ALL
                 SELECT 'notification', id, event_id, notifier_id, kind, rule_ids FROM nt",
            )
            .await
            .map_err(StoreError::query("prepare record routing"))?;
        let ids: Vec<Uuid> = events.iter().map(|e| e.id).collect();
        let col = |f: fn(&Event) -> String| events.iter().map(f).collect::<Vec<String>>();
        let bodies: Vec<serde_json::Value> = events
            .iter()
            .map(|e| serde_json::to_value(e).expect("an event is JSON"))
            .collect();
        let occurred: Vec<_> = events.iter().map(|e| e.occurred_at).collect();
        let n_ids: Vec<Uuid> = notifications.iter().map(|n| n.id).collect();
        let n_events: Vec<Uuid> = notifications.iter().map(|n| n.event_id).collect();
        let n_notifiers: Vec<Uuid> = notifications.iter().map(|n| n.notifier_id).collect();
        let n_names: Vec<&str> = notifications
            .iter()
            .map(|n| n.notifier_name.as_str())
            .collect();
        let n_kinds: Vec<&str> = notifications.iter().map(|n| n.kind.as_str()).collect();
        let n_rules: Vec<serde_json::Value> = notifications
            .iter()
            .map(|n| serde_json::to_value(&n.rule_ids).expect("ids are JSON"))
            .collect();
        let selected: HashSet<Uuid> = notifications.iter().map(|n| n.event_id).collect();
        let matched: Vec<bool> = ids.iter().map(|id| selected.contains(id)).collect();
        let n_notes: Vec<Option<serde_json::Value>> = notifications
            .iter()
            .map(|n| (!n.notes.is_empty()).then(|| serde_json::json!(n.notes)))
            .collect();
        let rows = client
            .query(
                &stmt,
                &[
                    &ids,
                    &col(|e| e.source.clone()),
                    &col(|e| e.category.to_string()),
                    &col(|e| e.kind.clone()),
                    &col(|e| e.severity.to_string()),
                    &col(|e| e.scope.to_string()),
                    &bodies,
                    &occurred,
                    &n_ids,
                    &n_events,
                    &n_notifiers,
                    &n_names,
                    &n_kinds,
                    &n_rules,
                    &version,
                    &matched,
                    &n_notes,
                ],
            )
            .await
            .map_err(StoreError::query("record routing"))?;
        let mut out = Recorded::default();
        for row in rows {
            match row.get::<_, &str>("tag") {
                "stale" => return Ok(Routing::Stale),
                "event" => {
                    out.new_events.insert(row.get("id"));
                }
                _ => out.enqueue.push(enqueue_of(&row)?),
            }
        }
        let seen_before: Vec<Uuid> = ids
            .iter()
            .filter(|id| !out.new_events.contains(id))
            .copied()
            .collect();
        if !seen_before.is_empty() {
            self.pending_of_known_events(&client, &seen_before, &mut out)
                .await?;
        }
        Ok(Routing::Recorded(out))
    }

    async fn pending_of_known_events(
        &self,
        client: &deadpool_postgres::Object,
        event_ids: &[Uuid],
        out: &mut Recorded,
    ) -> Result<(), StoreError> {
        let rows = client
            .query(
                "SELECT e.id AS event_id, e.body, n.id, n.notifier_id, n.kind, n.rule_ids
                 FROM events e LEFT JOIN notifications n ON n.event_id = e.id AND n.status = 'pending'
                   AND n.due_at IS NULL
                 WHERE e.id = ANY($1)",
                &[&event_ids],
            )
            .await
            .map_err(StoreError::query("pending notifications of known events"))?;
        for row in rows {
            let event_id: Uuid = row.get("event_id");
            if let std::collections::hash_map::Entry::Vacant(slot) = out.stored.entry(event_id) {
                let event: Event = serde_json::from_value(row.get("body"))
                    .map_err(|e| StoreError::Corrupt(format!("event {event_id}: {e}")))?;
                slot.insert(event);
            }
            if row.get::<_, Option<Uuid>>("id").is_some() {
                out.enqueue.push(enqueue_of(&row)?);
            }
        }
        Ok(())
    }
}

/// A notification to queue, from a row with its `id`, `event_id`,
/// `notifier_id`, `kind` and `rule_ids`.
fn enqueue_of(row: &tokio_postgres::Row) -> Result<Enqueue, StoreError> {
    let notification_id: Uuid = row.get("id");
    Ok(Enqueue {
        notification_id,
        notifier_id: row.get("notifier_id"),
        event_id: row.get("event_id"),
        kind: row.get("kind"),
        rule_ids: serde_json::from_value(row.get("rule_ids")).map_err(|e| {
            StoreError::Corrupt(format!("rule ids of notification {notification_id}: {e}"))
        })?,
    })
}
