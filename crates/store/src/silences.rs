//! Silences and inhibitions: their CRUD, and what the router reads of them
//! inside its routing snapshot.
//!
//! Matchers are stored as the JSON the model writes. A silence is never
//! deleted: expiring one ends it now and keeps the record. Every write bumps
//! the configuration version (triggers of V7), so routers load them again.
//! Validation is the model's; this module trusts the specs it is given.

use herald_model::{EventMatch, Inhibition, InhibitionSpec, Silence, SilenceSpec, SilenceState};
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::{Page, Store, StoreError};

/// Which silences a listing shows, newest first.
#[derive(Debug, Clone)]
pub struct SilenceFilter {
    /// Only those in this state at `now`.
    pub state: Option<SilenceState>,
    /// The moment `state` is judged at: the caller's, so that the states it
    /// shows agree with the filter.
    pub now: OffsetDateTime,
    pub limit: i64,
    /// The last id of the previous page.
    pub cursor: Option<Uuid>,
}

const SILENCE_COLUMNS: &str =
    "id, name, matchers, starts_at, ends_at, comment, created_by, created_at, updated_at";

const INHIBITION_COLUMNS: &str =
    "id, name, source_match, target_match, equal, created_at, updated_at";

fn matcher(row: &Row, column: &str) -> Result<EventMatch, StoreError> {
    serde_json::from_value(row.get(column))
        .map_err(|e| StoreError::Corrupt(format!("{column}: {e}")))
}

fn json_of(matcher: &EventMatch) -> serde_json::Value {
    serde_json::to_value(matcher).expect("a matcher is JSON")
}

fn silence(row: &Row) -> Result<Silence, StoreError> {
    Ok(Silence {
        id: row.get("id"),
        spec: SilenceSpec {
            name: row.get("name"),
            matchers: matcher(row, "matchers")?,
            starts_at: row.get("starts_at"),
            ends_at: row.get("ends_at"),
            comment: row.get("comment"),
            created_by: row.get("created_by"),
        },
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}

fn inhibition(row: &Row) -> Result<Inhibition, StoreError> {
    Ok(Inhibition {
        id: row.get("id"),
        spec: InhibitionSpec {
            name: row.get("name"),
            source_match: matcher(row, "source_match")?,
            target_match: matcher(row, "target_match")?,
            equal: row.get("equal"),
        },
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    })
}

impl Store {
    pub async fn create_silence(
        &self,
        id: Uuid,
        spec: &SilenceSpec,
    ) -> Result<Silence, StoreError> {
        let sql = format!(
            "INSERT INTO silences (id, matchers, starts_at, ends_at, comment, created_by, name)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {SILENCE_COLUMNS}"
        );
        self.write_silence(id, spec, &sql).await
    }

    /// Replaces silence `id` with `spec`; its id and `created_at` stay.
    pub async fn update_silence(
        &self,
        id: Uuid,
        spec: &SilenceSpec,
    ) -> Result<Silence, StoreError> {
        let sql = format!(
            "UPDATE silences SET matchers = $2, starts_at = $3, ends_at = $4, comment = $5,
                    created_by = $6, name = $7, updated_at = now()
             WHERE id = $1 RETURNING {SILENCE_COLUMNS}"
        );
        self.write_silence(id, spec, &sql).await
    }

    async fn write_silence(
        &self,
        id: Uuid,
        spec: &SilenceSpec,
        sql: &str,
    ) -> Result<Silence, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                sql,
                &[
                    &id,
                    &json_of(&spec.matchers),
                    &spec.starts_at,
                    &spec.ends_at,
                    &spec.comment,
                    &spec.created_by,
                    &spec.name,
                ],
            )
            .await
            .map_err(StoreError::query("write silence"))?
            .ok_or_else(|| StoreError::not_found("silence", id))?;
        silence(&row)
    }

    pub async fn get_silence(&self, id: Uuid) -> Result<Silence, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {SILENCE_COLUMNS} FROM silences WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(StoreError::query("get silence"))?
            .ok_or_else(|| StoreError::not_found("silence", id))?;
        silence(&row)
    }

    /// Silences, newest first, expired ones included unless filtered out.
    pub async fn list_silences(&self, f: &SilenceFilter) -> Result<Page<Silence>, StoreError> {
        let client = self.client().await?;
        let state = f.state.map(SilenceState::as_str);
        // The same order of tests as `Silence::state`: the end first.
        let rows = client
            .query(
                &format!(
                    "SELECT {SILENCE_COLUMNS} FROM silences
                     WHERE ($1::text IS NULL OR $1 = CASE WHEN ends_at <= $2 THEN 'expired'
                                                          WHEN starts_at > $2 THEN 'pending'
                                                          ELSE 'active' END)
                       AND ($3::uuid IS NULL OR id < $3)
                     ORDER BY id DESC LIMIT $4"
                ),
                &[&state, &f.now, &f.cursor, &f.limit],
            )
            .await
            .map_err(StoreError::query("list silences"))?;
        let items = rows.iter().map(silence).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::new(items, f.limit, |s| s.id))
    }

    /// Ends silence `id` now, if it has not ended yet (a pending one starts
    /// and ends now); the record stays. Expiring an expired silence changes
    /// nothing.
    pub async fn expire_silence(&self, id: Uuid) -> Result<(), StoreError> {
        let client = self.client().await?;
        // The SELECT sees the table as it was before the UPDATE: whether the
        // silence exists, expired already or not.
        let exists: bool = client
            .query_one(
                "WITH expired AS (
                    UPDATE silences SET ends_at = now(), starts_at = LEAST(starts_at, now()),
                                        updated_at = now()
                    WHERE id = $1 AND ends_at > now()
                 )
                 SELECT EXISTS (SELECT 1 FROM silences WHERE id = $1)",
                &[&id],
            )
            .await
            .map_err(StoreError::query("expire silence"))?
            .get(0);
        if exists {
            Ok(())
        } else {
            Err(StoreError::not_found("silence", id))
        }
    }

    /// The silences a router holds: those not expired yet (pending ones
    /// included, since they may start before the next reload), read inside
    /// the routing snapshot's transaction `tx`.
    pub async fn silences_for_routing(
        tx: &tokio_postgres::Transaction<'_>,
    ) -> Result<Vec<Silence>, StoreError> {
        let rows = tx
            .query(
                &format!(
                    "SELECT {SILENCE_COLUMNS} FROM silences WHERE ends_at > now() ORDER BY id"
                ),
                &[],
            )
            .await
            .map_err(StoreError::query("load silences"))?;
        rows.iter().map(silence).collect()
    }

    pub async fn create_inhibition(
        &self,
        id: Uuid,
        spec: &InhibitionSpec,
    ) -> Result<Inhibition, StoreError> {
        let sql = format!(
            "INSERT INTO inhibitions (id, name, source_match, target_match, equal)
             VALUES ($1, $2, $3, $4, $5) RETURNING {INHIBITION_COLUMNS}"
        );
        self.write_inhibition(id, spec, &sql).await
    }

    /// Replaces inhibition `id` with `spec`; its id and `created_at` stay.
    pub async fn update_inhibition(
        &self,
        id: Uuid,
        spec: &InhibitionSpec,
    ) -> Result<Inhibition, StoreError> {
        let sql = format!(
            "UPDATE inhibitions SET name = $2, source_match = $3, target_match = $4, equal = $5,
                    updated_at = now()
             WHERE id = $1 RETURNING {INHIBITION_COLUMNS}"
        );
        self.write_inhibition(id, spec, &sql).await
    }

    async fn write_inhibition(
        &self,
        id: Uuid,
        spec: &InhibitionSpec,
        sql: &str,
    ) -> Result<Inhibition, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                sql,
                &[
                    &id,
                    &spec.name,
                    &json_of(&spec.source_match),
                    &json_of(&spec.target_match),
                    &spec.equal,
                ],
            )
            .await
            .map_err(StoreError::query("write inhibition"))?
            .ok_or_else(|| StoreError::not_found("inhibition", id))?;
        inhibition(&row)
    }

    pub async fn get_inhibition(&self, id: Uuid) -> Result<Inhibition, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {INHIBITION_COLUMNS} FROM inhibitions WHERE id = $1"),
                &[&id],
            )
            .await
            .map_err(StoreError::query("get inhibition"))?
            .ok_or_else(|| StoreError::not_found("inhibition", id))?;
        inhibition(&row)
    }

    /// Every inhibition, newest first: there are few, and each is in force.
    pub async fn list_inhibitions(&self) -> Result<Vec<Inhibition>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {INHIBITION_COLUMNS} FROM inhibitions ORDER BY id DESC"),
                &[],
            )
            .await
            .map_err(StoreError::query("list inhibitions"))?;
        rows.iter().map(inhibition).collect()
    }

    pub async fn delete_inhibition(&self, id: Uuid) -> Result<(), StoreError> {
        let client = self.client().await?;
        let n = client
            .execute("DELETE FROM inhibitions WHERE id = $1", &[&id])
            .await
            .map_err(StoreError::query("delete inhibition"))?;
        if n == 0 {
            return Err(StoreError::not_found("inhibition", id));
        }
        Ok(())
    }

    /// Every inhibition, read inside the routing snapshot's transaction `tx`.
    pub async fn inhibitions_for_routing(
        tx: &tokio_postgres::Transaction<'_>,
    ) -> Result<Vec<Inhibition>, StoreError> {
        let rows = tx
            .query(
                &format!("SELECT {INHIBITION_COLUMNS} FROM inhibitions ORDER BY id"),
                &[],
            )
            .await
            .map_err(StoreError::query("load inhibitions"))?;
        rows.iter().map(inhibition).collect()
    }
}
