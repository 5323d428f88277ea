//! No-activity monitors: their CRUD, the router's record of activity
//! (`touch_monitors`) and the flush role's transitions (`monitor_transitions`).
//!
//! A transition locks its monitors `FOR UPDATE SKIP LOCKED` and commits their
//! new state only once the caller published their events, so several flush
//! processes split the work, none raises a monitor twice, and a broker outage
//! changes nothing. It does not publish anything itself.

use herald_model::{Event, Monitor, MonitorSpec, MonitorState, Span};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::{Store, StoreError};

const COLUMNS: &str =
    "id, name, match, (extract(epoch FROM silent_for) * 1000)::int8 AS silent_for_ms,
    enabled, state, last_seen_at, raised_at, created_at, updated_at";

/// Which monitors are due for a transition, as a condition on `monitors`:
/// raise an active one silent for its `silent_for`, resolve a silent one
/// something matching arrived for since it was raised.
const DUE: &str = "(enabled AND state = 'active' AND last_seen_at + silent_for <= now())
    OR (state = 'silent' AND last_seen_at > raised_at)";

/// What the flush role's transition did.
#[derive(Debug)]
pub enum Transitions<E> {
    /// These events were published and the monitors' new state committed:
    /// `resolved: false` for each monitor raised, `true` for each resolved.
    Published(Vec<Event>),
    /// Publishing failed; nothing changed.
    PublishFailed(E),
}

fn monitor(row: &Row) -> Result<Monitor, StoreError> {
    let id: Uuid = row.get("id");
    let corrupt =
        |what: &str, e: String| StoreError::Corrupt(format!("{what} of monitor {id}: {e}"));
    let silent_for: i64 = row.get("silent_for_ms");
    Ok(Monitor {
        id,
        spec: MonitorSpec {
            name: row.get("name"),
            matcher: serde_json::from_value(row.get("match"))
                .map_err(|e| corrupt("match", e.to_string()))?,
            silent_for: Span::from_millis(
                u64::try_from(silent_for).map_err(|e| corrupt("silent_for", e.to_string()))?,
            ),
            enabled: row.get("enabled"),
        },
        state: row
            .get::<_, &str>("state")
            .parse::<MonitorState>()
            .map_err(|e| corrupt("state", e))?,
        last_seen_at: row.get("last_seen_at"),
        raised_at: row.get("raised_at"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}

/// `span` in milliseconds, as the statements multiply `interval '1 millisecond'`.
fn millis(span: Span) -> f64 {
    span.get().as_secs_f64() * 1000.0
}

impl Store {
    /// Stores a new monitor; its clock starts now.
    pub async fn create_monitor(
        &self,
        id: Uuid,
        spec: &MonitorSpec,
    ) -> Result<Monitor, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "INSERT INTO monitors (id, name, match, silent_for, enabled)
             VALUES ($1, $2, $3, $4 * interval '1 millisecond', $5) RETURNING {COLUMNS}"
        );
        let matcher = serde_json::to_value(&spec.matcher).expect("a match is JSON");
        let row = client
            .query_one(
                &sql,
                &[
                    &id,
                    &spec.name,
                    &matcher,
                    &millis(spec.silent_for),
                    &spec.enabled,
                ],
            )
            .await
            .map_err(StoreError::query("insert monitor"))
            .map_err(StoreError::unique_name("monitor", &spec.name))?;
        monitor(&row)
    }

    /// Replaces a monitor's settings. Enabling a disabled monitor starts its
    /// clock again: the time it was off is not silence. Its state stays: a
    /// silent monitor resolves once something matching arrives (or, enabled
    /// again, at once, its clock being newer than the raise).
    pub async fn update_monitor(
        &self,
        id: Uuid,
        spec: &MonitorSpec,
    ) -> Result<Monitor, StoreError> {
        let client = self.client().await?;
        // On the right of SET, `enabled` is the value before the update.
        let sql = format!(
            "UPDATE monitors SET name = $2, match = $3, silent_for = $4 * interval '1 millisecond',
                    last_seen_at = CASE WHEN $5 AND NOT enabled THEN now() ELSE last_seen_at END,
                    enabled = $5, updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}"
        );
        let matcher = serde_json::to_value(&spec.matcher).expect("a match is JSON");
        let row = client
            .query_opt(
                &sql,
                &[
                    &id,
                    &spec.name,
                    &matcher,
                    &millis(spec.silent_for),
                    &spec.enabled,
                ],
            )
            .await
            .map_err(StoreError::query("update monitor"))
            .map_err(StoreError::unique_name("monitor", &spec.name))?
            .ok_or_else(|| StoreError::not_found("monitor", id))?;
        monitor(&row)
    }

    pub async fn get_monitor(&self, id: Uuid) -> Result<Monitor, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {COLUMNS} FROM monitors WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(StoreError::query("get monitor"))?
            .ok_or_else(|| StoreError::not_found("monitor", id))?;
        monitor(&row)
    }

    pub async fn list_monitors(&self) -> Result<Vec<Monitor>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {COLUMNS} FROM monitors ORDER BY name"),
                &[],
            )
            .await
            .map_err(StoreError::query("list monitors"))?;
        rows.iter().map(monitor).collect()
    }

    pub async fn delete_monitor(&self, id: Uuid) -> Result<(), StoreError> {
        let client = self.client().await?;
        let n = client
            .execute("DELETE FROM monitors WHERE id = $1", &[&id])
            .await
            .map_err(StoreError::query("delete monitor"))?;
        match n {
            0 => Err(StoreError::not_found("monitor", id)),
            _ => Ok(()),
        }
    }

    /// The enabled monitors, for the router's snapshot.
    pub(crate) async fn enabled_monitors(
        client: &tokio_postgres::Transaction<'_>,
    ) -> Result<Vec<Monitor>, StoreError> {
        let rows = client
            .query(
                &format!("SELECT {COLUMNS} FROM monitors WHERE enabled"),
                &[],
            )
            .await
            .map_err(StoreError::query("load monitors"))?;
        rows.iter().map(monitor).collect()
    }

    /// Records that events matching the monitors `ids` arrived. Columns the
    /// configuration triggers watch are left alone, so this does not make
    /// routers load their rules again.
    pub async fn touch_monitors(&self, ids: &[Uuid]) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        let client = self.client().await?;
        // The clock, not the statement's start: a touch that waited for a
        // transition's lock then counts as after the raise, and resolves it.
        let stmt = client
            .prepare_cached(
                "UPDATE monitors SET last_seen_at = greatest(last_seen_at, clock_timestamp())
                 WHERE id = ANY($1)",
            )
            .await
            .map_err(StoreError::query("prepare touch monitors"))?;
        client
            .execute(&stmt, &[&ids])
            .await
            .map_err(StoreError::query("touch monitors"))?;
        Ok(())
    }

    /// Raises the monitors that have been silent for their `silent_for` and
    /// resolves the silent ones that heard from their events again, up to
    /// `limit` of them: their events go to `publish`, and their new state is
    /// committed once it succeeded.
    ///
    /// A monitor raised is `raised_at` = its last sighting + `silent_for`: the
    /// moment it went silent, which a second try after a crash computes again
    /// the same, so it publishes the same event (the same id) again.
    pub async fn monitor_transitions<E>(
        &self,
        limit: i64,
        publish: impl AsyncFnOnce(&[Event]) -> Result<(), E>,
    ) -> Result<Transitions<E>, StoreError> {
        let mut client = self.client().await?;
        // A look first, outside any transaction: most of the time nothing
        // is due and that is all it costs.
        let look = client
            .prepare_cached(&format!("SELECT id FROM monitors WHERE {DUE} LIMIT $1"))
            .await
            .map_err(StoreError::query("prepare look for due monitors"))?;
        let ids: Vec<Uuid> = client
            .query(&look, &[&limit])
            .await
            .map_err(StoreError::query("look for due monitors"))?
            .iter()
            .map(|r| r.get("id"))
            .collect();
        if ids.is_empty() {
            return Ok(Transitions::Published(Vec::new()));
        }
        let tx = client
            .transaction()
            .await
            .map_err(StoreError::query("begin monitor transitions"))?;
        // The condition again, on the locked rows: another flusher may have
        // done it meanwhile.
        let rows = tx
            .query(
                &format!(
                    "SELECT {COLUMNS},
                            CASE WHEN state = 'active' THEN last_seen_at + silent_for
                                 ELSE raised_at END AS transition_at
                     FROM monitors WHERE id = ANY($1) AND ({DUE})
                     FOR UPDATE SKIP LOCKED"
                ),
                &[&ids],
            )
            .await
            .map_err(StoreError::query("lock due monitors"))?;
        if rows.is_empty() {
            return Ok(Transitions::Published(Vec::new()));
        }
        let mut events = Vec::with_capacity(rows.len());
        for row in &rows {
            let m = monitor(row)?;
            let resolved = m.state == MonitorState::Silent;
            events.push(m.event(row.get("transition_at"), resolved));
        }
        let ids: Vec<Uuid> = rows.iter().map(|r| r.get("id")).collect();
        tx.execute(
            "UPDATE monitors SET
                 raised_at = CASE WHEN state = 'active' THEN last_seen_at + silent_for
                                  ELSE raised_at END,
                 state = CASE WHEN state = 'active' THEN 'silent' ELSE 'active' END
             WHERE id = ANY($1)",
            &[&ids],
        )
        .await
        .map_err(StoreError::query("mark monitor transitions"))?;
        if let Err(e) = publish(&events).await {
            let _ = tx.rollback().await;
            return Ok(Transitions::PublishFailed(e));
        }
        tx.commit()
            .await
            .map_err(StoreError::query("commit monitor transitions"))?;
        Ok(Transitions::Published(events))
    }
}
