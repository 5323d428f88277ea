use herald_model::{Notifier, NotifierSpec};
use tokio_postgres::Row;
use tokio_postgres::error::SqlState;
use uuid::Uuid;

use crate::{Store, StoreError};

const COLUMNS: &str =
    "id, name, description, kind, config, fallback, quiet_hours, created_at, updated_at";

fn notifier(row: &Row) -> Notifier {
    Notifier {
        id: row.get("id"),
        name: row.get("name"),
        description: row.get("description"),
        kind: row.get("kind"),
        config: row.get("config"),
        fallback: row.get("fallback"),
        quiet_hours: row
            .get::<_, Option<serde_json::Value>>("quiet_hours")
            .and_then(|q| serde_json::from_value(q).ok()),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
    }
}

/// The foreign key's refusal of a fallback that names no notifier (or one
/// deleted meanwhile), as the input's fault.
fn unknown_fallback(spec: &NotifierSpec) -> impl Fn(StoreError) -> StoreError {
    let fallback = spec.fallback;
    move |e| match (e, fallback) {
        (StoreError::Query { ref source, .. }, Some(id))
            if source.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) =>
        {
            StoreError::UnknownReference {
                field: "fallback",
                message: format!("no notifier has the id {id}"),
            }
        }
        (other, _) => other,
    }
}

/// The (id, name) rows `sql` selects for the notifier `id`.
async fn names(
    client: &deadpool_postgres::Object,
    sql: &str,
    id: Uuid,
    what: &'static str,
) -> Result<Vec<(Uuid, String)>, StoreError> {
    let rows = client
        .query(sql, &[&id])
        .await
        .map_err(StoreError::query(what))?;
    Ok(rows.iter().map(|r| (r.get("id"), r.get("name"))).collect())
}

fn quiet_hours(spec: &NotifierSpec) -> Option<serde_json::Value> {
    spec.quiet_hours
        .as_ref()
        .map(|q| serde_json::to_value(q).expect("quiet hours are JSON"))
}

impl Store {
    /// Stores a notifier whose config secrets are already sealed.
    pub async fn create_notifier(
        &self,
        id: Uuid,
        spec: &NotifierSpec,
    ) -> Result<Notifier, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "INSERT INTO notifiers (id, name, description, kind, config, fallback, quiet_hours)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
        );
        let row = client
            .query_one(
                &sql,
                &[
                    &id,
                    &spec.name,
                    &spec.description,
                    &spec.kind,
                    &spec.config,
                    &spec.fallback,
                    &quiet_hours(spec),
                ],
            )
            .await
            .map_err(StoreError::query("insert notifier"))
            .map_err(StoreError::unique_name("notifier", &spec.name))
            .map_err(unknown_fallback(spec))?;
        Ok(notifier(&row))
    }

    pub async fn update_notifier(
        &self,
        id: Uuid,
        spec: &NotifierSpec,
    ) -> Result<Notifier, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "UPDATE notifiers SET name = $2, description = $3, kind = $4, config = $5, fallback = $6,
                                  quiet_hours = $7, updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}"
        );
        let row = client
            .query_opt(
                &sql,
                &[
                    &id,
                    &spec.name,
                    &spec.description,
                    &spec.kind,
                    &spec.config,
                    &spec.fallback,
                    &quiet_hours(spec),
                ],
            )
            .await
            .map_err(StoreError::query("update notifier"))
            .map_err(StoreError::unique_name("notifier", &spec.name))
            .map_err(unknown_fallback(spec))?;
        row.map(|r| notifier(&r))
            .ok_or_else(|| StoreError::not_found("notifier", id))
    }

    /// Replaces a notifier's settings by the same settings sealed anew
    /// (`herald rekey`), unless they changed since `before` was read: then
    /// `false`, and the caller reads them again.
    pub async fn reseal_notifier(
        &self,
        id: Uuid,
        before: &serde_json::Value,
        after: &serde_json::Value,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let changed = client
            .execute(
                "UPDATE notifiers SET config = $3, updated_at = now() WHERE id = $1 AND config = $2",
                &[&id, before, after],
            )
            .await
            .map_err(StoreError::query("reseal notifier"))?;
        Ok(changed == 1)
    }

    pub async fn get_notifier(&self, id: Uuid) -> Result<Notifier, StoreError> {
        let client = self.client().await?;
        let sql = format!("SELECT {COLUMNS} FROM notifiers WHERE id = $1");
        let row = client
            .query_opt(&sql, &[&id])
            .await
            .map_err(StoreError::query("get notifier"))?;
        row.map(|r| notifier(&r))
            .ok_or_else(|| StoreError::not_found("notifier", id))
    }

    pub async fn list_notifiers(&self) -> Result<Vec<Notifier>, StoreError> {
        let client = self.client().await?;
        let sql = format!("SELECT {COLUMNS} FROM notifiers ORDER BY name");
        let rows = client
            .query(&sql, &[])
            .await
            .map_err(StoreError::query("list notifiers"))?;
        Ok(rows.iter().map(notifier).collect())
    }

    /// Deletes a notifier that no rule names and no notifier falls back to,
    /// keeping its notification history; one still used is refused with
    /// what uses it ([`StoreError::InUse`]). The foreign keys decide, so a rule
    /// or a fallback saved meanwhile cannot be left naming a deleted notifier.
    pub async fn delete_notifier(&self, id: Uuid) -> Result<(), StoreError> {
        let client = self.client().await?;
        let deleted = client
            .execute("DELETE FROM notifiers WHERE id = $1", &[&id])
            .await;
        match deleted {
            Ok(0) => Err(StoreError::not_found("notifier", id)),
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(&SqlState::FOREIGN_KEY_VIOLATION) => {
                let rules = names(
                    &client,
                    "SELECT r.id, r.name FROM rule_notifiers rn JOIN rules r ON r.id = rn.rule_id
                     WHERE rn.notifier_id = $1 ORDER BY r.name",
                    id,
                    "rules using a notifier",
                )
                .await?;
                let notifiers = names(
                    &client,
                    "SELECT id, name FROM notifiers WHERE fallback = $1 ORDER BY name",
                    id,
                    "notifiers falling back to a notifier",
                )
                .await?;
                Err(StoreError::InUse {
                    notifier: id,
                    rules,
                    notifiers,
                })
            }
            Err(e) => Err(StoreError::query("delete notifier")(e)),
        }
    }
}
