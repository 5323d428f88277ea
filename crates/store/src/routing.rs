use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::LazyLock;

use herald_model::{Event, Inhibition, Monitor, NotificationStatus, QuietHours, Rule, Silence};
use time::OffsetDateTime;
use tokio_postgres::IsolationLevel;
use tokio_postgres::types::Json;
use uuid::Uuid;

use crate::state::{Planned, StateTx};
use crate::{Store, StoreError};

/// A notifier as routing needs it.
#[derive(Debug, Clone)]
pub struct NotifierInfo {
    pub name: String,
    pub kind: String,
    pub quiet_hours: Option<QuietHours>,
}

/// What the router matches against, read in one consistent snapshot.
#[derive(Debug, Clone)]
pub struct RoutingSnapshot {
    pub version: i64,
    /// Enabled rules only.
    pub rules: Vec<Rule>,
    /// Every notifier.
    pub notifiers: HashMap<Uuid, NotifierInfo>,
    /// Silences not expired yet (pending ones included: they start later).
    pub silences: Vec<Silence>,
    pub inhibitions: Vec<Inhibition>,
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
    /// `Pending`, or `Suppressed`/`Grouped` with a `reason`.
    pub status: NotificationStatus,
    /// Why it was suppressed, held or grouped, or why it exists.
    pub reason: Option<String>,
    /// A held notification's moment (quiet hours, a group's wait): the
    /// scheduler queues it then.
    pub due_at: Option<OffsetDateTime>,
    pub group_id: Option<Uuid>,
}

impl NewNotification {
    /// Whether its job is queued at once.
    pub fn goes_now(&self) -> bool {
        self.status == NotificationStatus::Pending && self.due_at.is_none()
    }
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
            .query("SELECT id, name, kind, quiet_hours FROM notifiers", &[])
            .await
            .map_err(StoreError::query("load notifiers"))?
            .iter()
            .map(|r| {
                let info = NotifierInfo {
                    name: r.get("name"),
                    kind: r.get("kind"),
                    quiet_hours: r
                        .get::<_, Option<serde_json::Value>>("quiet_hours")
                        .and_then(|q| serde_json::from_value(q).ok()),
                };
                (r.get("id"), info)
            })
            .collect();
        let silences = Store::silences_for_routing(&tx).await?;
        let inhibitions = Store::inhibitions_for_routing(&tx).await?;
        let monitors = Store::enabled_monitors(&tx).await?;
        tx.commit()
            .await
            .map_err(StoreError::query("end snapshot"))?;
        Ok(RoutingSnapshot {
            version,
            rules,
            notifiers,
            silences,
            inhibitions,
            monitors,
        })
    }

    /// Records a batch of events and their notifications in one statement, so an
    /// event is never stored without its notifications, if the rules are still
    /// at `version` (the notifications were matched against them); the same
    /// statement checks it, so a rule change applies to the next event routed
    /// without a read of its own per batch. It opens the problems of new firing
    /// events and closes those of resolving ones. Repeating a batch is safe.
    pub async fn record_routing(
        &self,
        version: i64,
        events: &[Event],
        notifications: &[NewNotification],
    ) -> Result<Routing, StoreError> {
        let client = self.client().await?;
        let stmt = client
            .prepare_cached(&RECORD_ROUTING)
            .await
            .map_err(StoreError::query("prepare record routing"))?;
        let e = EventColumns::of(events, notifications);
        let n = NotificationColumns::of(notifications);
        let mut params = e.params(&version);
        params.extend(n.params());
        let rows = client
            .query(&stmt, &params)
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
        self.add_known_events(&client, &e.ids, &mut out).await?;
        Ok(Routing::Recorded(out))
    }

    /// Records a batch as [`Store::record_routing`] does, in a transaction
    /// that lets `plan` decide the notifications of the events that are new
    /// with the state it reads and writes through [`StateTx`] (threshold and
    /// throttle counts, groups): a redelivered event counts nothing twice, and
    /// the state and the notifications it decided commit together.
    /// `notifications` are what routing decided without state; `plan`
    /// returns them settled.
    pub async fn record_routing_with<P>(
        &self,
        version: i64,
        events: &[Event],
        notifications: &[NewNotification],
        plan: P,
    ) -> Result<Routing, StoreError>
    where
        P: AsyncFnOnce(&StateTx<'_>, &HashSet<Uuid>) -> Result<Planned, StoreError>,
    {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(StoreError::query("begin routing"))?;
        let current: i64 = tx
            .query_one("SELECT version FROM config_version", &[])
            .await
            .map_err(StoreError::query("read config version"))?
            .get(0);
        if current != version {
            return Ok(Routing::Stale);
        }
        let e = EventColumns::of(events, notifications);
        let stmt = tx
            .prepare_cached(&INSERT_EVENTS)
            .await
            .map_err(StoreError::query("prepare insert events"))?;
        let new_events: HashSet<Uuid> = tx
            .query(&stmt, &e.params(&version))
            .await
            .map_err(StoreError::query("insert events"))?
            .iter()
            .map(|r| r.get("id"))
            .collect();
        let planned = plan(&StateTx { tx: &tx }, &new_events).await?;
        let n = NotificationColumns::of(&planned.notifications);
        let stmt = tx
            .prepare_cached(&INSERT_NOTIFICATIONS)
            .await
            .map_err(StoreError::query("prepare insert notifications"))?;
        let new: Vec<Uuid> = new_events.iter().copied().collect();
        let mut params: Vec<Param<'_>> = vec![&new];
        params.extend(n.params());
        let rows = tx
            .query(&stmt, &params)
            .await
            .map_err(StoreError::query("insert notifications"))?;
        let mut out = Recorded {
            new_events,
            ..Recorded::default()
        };
        for row in &rows {
            out.enqueue.push(enqueue_of(row)?);
        }
        StateTx { tx: &tx }
            .add_throttled(&planned.throttled)
            .await?;
        tx.commit()
            .await
            .map_err(StoreError::query("commit routing"))?;
        self.add_known_events(&client, &e.ids, &mut out).await?;
        Ok(Routing::Recorded(out))
    }

    /// Adds the stored form and the pending notifications of the events of
    /// `ids` that were seen before.
    async fn add_known_events(
        &self,
        client: &deadpool_postgres::Object,
        ids: &[Uuid],
        out: &mut Recorded,
    ) -> Result<(), StoreError> {
        let seen_before: Vec<Uuid> = ids
            .iter()
            .filter(|id| !out.new_events.contains(id))
            .copied()
            .collect();
        if seen_before.is_empty() {
            return Ok(());
        }
        self.pending_of_known_events(client, &seen_before, out)
            .await
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

/// The new events of a batch (parameters `$1`..`$14`), inserted as `ev`,
/// and the problems they open and close. `filter` is a `WHERE` clause on the
/// input, or nothing. What the problems need of an event (resolved, labels,
/// title) comes as parameters beside its id: read from the stored body, it
/// cost a parse of the whole body per event and per use, about half of the
/// statement's time.
fn events_ctes(filter: &str) -> String {
    format!(
        "ev AS (
            INSERT INTO events (id, source, category, kind, severity, scope, body, occurred_at,
                                matched, problem_key, config_version)
            SELECT u.*, $11 FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[],
                                        $6::text[], $7::json[], $8::timestamptz[], $9::bool[],
                                        $10::text[]) AS u
            {filter}
            ON CONFLICT (id) DO NOTHING
            RETURNING id, source, category, kind, severity, scope, problem_key
         ), pe AS (
            SELECT ev.*, x.resolved, x.labels, x.title
            FROM ev JOIN unnest($1::uuid[], $12::bool[], $13::jsonb[], $14::text[])
                         AS x(id, resolved, labels, title) USING (id)
         ), opened AS (
            INSERT INTO problems (key, event_id, source, category, severity, scope, kind, labels, title)
            SELECT problem_key, id, source, category, severity, scope, kind, labels, title
            FROM pe WHERE NOT resolved
            ON CONFLICT (key) DO NOTHING
         ), closed AS (
            DELETE FROM problems p USING pe
            WHERE p.key = pe.problem_key AND pe.resolved
         )"
    )
}

/// The notifications of a batch (eleven parameters from `$first`), inserted
/// as `nt` for the events `events` names.
fn notifications_cte(first: usize, events: &str) -> String {
    let p: Vec<String> = (first..first + 11).map(|i| format!("${i}")).collect();
    format!(
        "nt AS (
            INSERT INTO notifications (id, event_id, notifier_id, notifier_name, kind, rule_ids, notes,
                                       status, reason, due_at, group_id)
            SELECT u.* FROM unnest({}::uuid[], {}::uuid[], {}::uuid[], {}::text[], {}::text[],
                                   {}::jsonb[], {}::jsonb[], {}::text[], {}::text[],
                                   {}::timestamptz[], {}::uuid[])
                       AS u(id, event_id, notifier_id, notifier_name, kind, rule_ids, notes,
                            status, reason, due_at, group_id)
            WHERE u.event_id IN ({events})
            ON CONFLICT (event_id, notifier_id) DO NOTHING
            RETURNING id, event_id, notifier_id, kind, rule_ids, status, due_at
         )",
        p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10]
    )
}

/// The notifications whose job goes out at once.
const QUEUED_NOW: &str = "status = 'pending' AND due_at IS NULL";

/// The one statement of a batch without state (see `record_routing`).
static RECORD_ROUTING: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH v AS (SELECT version = $11 AS current FROM config_version),
         {},
         {}
         SELECT 'stale' AS tag, NULL::uuid AS id, NULL::uuid AS event_id, NULL::uuid AS notifier_id,
                NULL::text AS kind, NULL::jsonb AS rule_ids
         FROM v WHERE NOT current
         UNION ALL
         SELECT 'event', id, id, NULL, NULL, NULL FROM ev
         UNION ALL
         SELECT 'notification', id, event_id, notifier_id, kind, rule_ids FROM nt WHERE {QUEUED_NOW}",
        events_ctes("WHERE (SELECT current FROM v)"),
        notifications_cte(15, "SELECT id FROM ev")
    )
});

/// The events of a batch with state, first in its transaction.
static INSERT_EVENTS: LazyLock<String> =
    LazyLock::new(|| format!("WITH {} SELECT id FROM ev", events_ctes("")));

/// The notifications of a batch with state, last in its transaction.
static INSERT_NOTIFICATIONS: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH {} SELECT id, event_id, notifier_id, kind, rule_ids FROM nt WHERE {QUEUED_NOW}",
        notifications_cte(2, "SELECT unnest($1::uuid[])")
    )
});

/// A batch's events as statement parameters.
struct EventColumns<'a> {
    ids: Vec<Uuid>,
    sources: Vec<&'a str>,
    categories: Vec<String>,
    kinds: Vec<&'a str>,
    severities: Vec<String>,
    scopes: Vec<String>,
    /// Written straight into the statement's buffer: no JSON tree per event.
    bodies: Vec<Json<&'a Event>>,
    occurred: Vec<OffsetDateTime>,
    /// Whether any notification (suppressed ones too) was decided for it.
    matched: Vec<bool>,
    problem_keys: Vec<String>,
    resolved: Vec<bool>,
    labels: Vec<Json<&'a BTreeMap<String, String>>>,
    titles: Vec<&'a str>,
}

/// A statement parameter.
type Param<'a> = &'a (dyn tokio_postgres::types::ToSql + Sync);

impl<'a> EventColumns<'a> {
    /// The parameters `$1`..`$14` of the events' statements (see
    /// `events_ctes`).
    fn params<'p>(&'p self, version: &'p i64) -> Vec<Param<'p>> {
        vec![
            &self.ids,
            &self.sources,
            &self.categories,
            &self.kinds,
            &self.severities,
            &self.scopes,
            &self.bodies,
            &self.occurred,
            &self.matched,
            &self.problem_keys,
            version,
            &self.resolved,
            &self.labels,
            &self.titles,
        ]
    }

    fn of(events: &'a [Event], notifications: &[NewNotification]) -> EventColumns<'a> {
        let col = |f: fn(&Event) -> String| events.iter().map(f).collect::<Vec<String>>();
        let selected: HashSet<Uuid> = notifications.iter().map(|n| n.event_id).collect();
        EventColumns {
            ids: events.iter().map(|e| e.id).collect(),
            sources: events.iter().map(|e| e.source.as_str()).collect(),
            categories: col(|e| e.category.to_string()),
            kinds: events.iter().map(|e| e.kind.as_str()).collect(),
            severities: col(|e| e.severity.to_string()),
            scopes: col(|e| e.scope.to_string()),
            bodies: events.iter().map(Json).collect(),
            occurred: events.iter().map(|e| e.occurred_at).collect(),
            matched: events.iter().map(|e| selected.contains(&e.id)).collect(),
            problem_keys: events.iter().map(herald_model::problem_key).collect(),
            resolved: events.iter().map(|e| e.resolved).collect(),
            labels: events.iter().map(|e| Json(&e.labels)).collect(),
            titles: events.iter().map(|e| e.title.as_str()).collect(),
        }
    }
}

/// A batch's notifications as statement parameters.
struct NotificationColumns<'a> {
    ids: Vec<Uuid>,
    events: Vec<Uuid>,
    notifiers: Vec<Uuid>,
    names: Vec<&'a str>,
    kinds: Vec<&'a str>,
    rules: Vec<Json<&'a [Uuid]>>,
    notes: Vec<Option<Json<&'a [String]>>>,
    statuses: Vec<&'static str>,
    reasons: Vec<Option<&'a str>>,
    due: Vec<Option<OffsetDateTime>>,
    groups: Vec<Option<Uuid>>,
}

impl<'a> NotificationColumns<'a> {
    /// The eleven parameters of `notifications_cte`, in its order.
    fn params(&self) -> Vec<Param<'_>> {
        vec![
            &self.ids,
            &self.events,
            &self.notifiers,
            &self.names,
            &self.kinds,
            &self.rules,
            &self.notes,
            &self.statuses,
            &self.reasons,
            &self.due,
            &self.groups,
        ]
    }

    fn of(notifications: &'a [NewNotification]) -> NotificationColumns<'a> {
        NotificationColumns {
            ids: notifications.iter().map(|n| n.id).collect(),
            events: notifications.iter().map(|n| n.event_id).collect(),
            notifiers: notifications.iter().map(|n| n.notifier_id).collect(),
            names: notifications
                .iter()
                .map(|n| n.notifier_name.as_str())
                .collect(),
            kinds: notifications.iter().map(|n| n.kind.as_str()).collect(),
            rules: notifications
                .iter()
                .map(|n| Json(n.rule_ids.as_slice()))
                .collect(),
            notes: notifications
                .iter()
                .map(|n| (!n.notes.is_empty()).then_some(Json(n.notes.as_slice())))
                .collect(),
            statuses: notifications.iter().map(|n| n.status.as_str()).collect(),
            reasons: notifications.iter().map(|n| n.reason.as_deref()).collect(),
            due: notifications.iter().map(|n| n.due_at).collect(),
            groups: notifications.iter().map(|n| n.group_id).collect(),
        }
    }
}
