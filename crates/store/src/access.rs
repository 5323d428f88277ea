//! API tokens (only their hashes) and the audit trail.

use herald_model::{AuditEntry, PlainToken, TokenRecord, TokenSpec};
use serde_json::Value;
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::{Store, StoreError};

const TOKEN_COLUMNS: &str =
    "id, name, role, hint, created_at, last_used_at, expires_at, revoked_at";

fn token_record(row: &Row) -> Result<TokenRecord, StoreError> {
    let role: String = row.get("role");
    Ok(TokenRecord {
        id: row.get("id"),
        name: row.get("name"),
        role: role.parse().map_err(StoreError::Corrupt)?,
        hint: row.get("hint"),
        created_at: row.get("created_at"),
        last_used_at: row.get("last_used_at"),
        expires_at: row.get("expires_at"),
        revoked_at: row.get("revoked_at"),
    })
}

/// What a filter on the audit trail asks for, newest first.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub object: Option<String>,
    pub object_id: Option<String>,
    /// Entries older than this id (the previous page's last).
    pub before: Option<i64>,
    pub limit: i64,
}

/// One change to record.
#[derive(Debug, Clone)]
pub struct NewAudit<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub object: &'a str,
    pub object_id: Option<&'a str>,
    pub detail: Value,
}

impl Store {
    /// Stores a new token's hash; the plain token is the caller's to show once.
    pub async fn create_token(
        &self,
        spec: &TokenSpec,
        token: &PlainToken,
    ) -> Result<TokenRecord, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "INSERT INTO api_tokens (id, name, role, hash, hint, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {TOKEN_COLUMNS}"
        );
        let name = spec.name.trim();
        let row = client
            .query_one(
                &sql,
                &[
                    &Uuid::now_v7(),
                    &name,
                    &spec.role.as_str(),
                    &token.hash(),
                    &token.hint(),
                    &spec.expires_at,
                ],
            )
            .await
            .map_err(StoreError::query("insert token"))
            .map_err(StoreError::unique_name("token", name))?;
        token_record(&row)
    }

    /// Makes `token` the admin token named `name`, replacing that name's
    /// earlier value: `HERALD_BOOTSTRAP_TOKEN` may change between starts.
    pub async fn ensure_bootstrap_token(
        &self,
        name: &str,
        token: &PlainToken,
    ) -> Result<TokenRecord, StoreError> {
        let mut client = self.client().await?;
        let tx = client
            .transaction()
            .await
            .map_err(StoreError::query("begin bootstrap token"))?;
        let hash = token.hash();
        let same = tx
            .query_opt(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM api_tokens
                     WHERE hash = $1 AND name = $2 AND role = 'admin' AND revoked_at IS NULL"
                ),
                &[&hash, &name],
            )
            .await
            .map_err(StoreError::query("find bootstrap token"))?;
        if let Some(row) = same {
            return token_record(&row);
        }
        // A changed value replaces the old one; the old hash (revoked) is kept
        // for the record under the name.
        tx.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE name = $1 AND revoked_at IS NULL",
            &[&name],
        )
        .await
        .map_err(StoreError::query("revoke old bootstrap token"))?;
        tx.execute(
            "DELETE FROM api_tokens WHERE hash = $1 AND revoked_at IS NOT NULL",
            &[&hash],
        )
        .await
        .map_err(StoreError::query("forget revoked bootstrap token"))?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO api_tokens (id, name, role, hash, hint) VALUES ($1, $2, 'admin', $3, $4)
                     RETURNING {TOKEN_COLUMNS}"
                ),
                &[&Uuid::now_v7(), &name, &hash, &token.hint()],
            )
            .await
            .map_err(StoreError::query("insert bootstrap token"))
            .map_err(|e| match e {
                StoreError::Query { ref source, .. }
                    if source.code()
                        == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) =>
                {
                    StoreError::Conflict {
                        field: "HERALD_BOOTSTRAP_TOKEN",
                        message: "this value is already another token's".into(),
                    }
                }
                other => other,
            })?;
        tx.commit()
            .await
            .map_err(StoreError::query("commit bootstrap token"))?;
        token_record(&row)
    }

    /// The token with this hash, whether or not it is still usable.
    pub async fn token_by_hash(&self, hash: &[u8]) -> Result<Option<TokenRecord>, StoreError> {
        let client = self.client().await?;
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE hash = $1");
        let row = client
            .query_opt(&sql, &[&hash])
            .await
            .map_err(StoreError::query("find token"))?;
        row.as_ref().map(token_record).transpose()
    }

    /// Records that a token was used at `at`.
    pub async fn touch_token(&self, id: Uuid, at: OffsetDateTime) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE api_tokens SET last_used_at = greatest(last_used_at, $2) WHERE id = $1",
                &[&id, &at],
            )
            .await
            .map_err(StoreError::query("touch token"))?;
        Ok(())
    }

    /// Every token, revoked ones last.
    pub async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY revoked_at IS NOT NULL, name, created_at"
        );
        let rows = client
            .query(&sql, &[])
            .await
            .map_err(StoreError::query("list tokens"))?;
        rows.iter().map(token_record).collect()
    }

    /// Revokes a token; revoking one already revoked changes nothing.
    pub async fn revoke_token(&self, id: Uuid) -> Result<TokenRecord, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1
             RETURNING {TOKEN_COLUMNS}"
        );
        let row = client
            .query_opt(&sql, &[&id])
            .await
            .map_err(StoreError::query("revoke token"))?;
        row.as_ref()
            .map(token_record)
            .transpose()?
            .ok_or_else(|| StoreError::not_found("token", id))
    }

    /// The token named `name` that is not revoked.
    pub async fn live_token_named(&self, name: &str) -> Result<Option<TokenRecord>, StoreError> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE name = $1 AND revoked_at IS NULL"
        );
        let row = client
            .query_opt(&sql, &[&name])
            .await
            .map_err(StoreError::query("find token by name"))?;
        row.as_ref().map(token_record).transpose()
    }

    pub async fn record_audit(&self, entry: &NewAudit<'_>) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO audit (actor, action, object, object_id, detail) VALUES ($1, $2, $3, $4, $5)",
                &[
                    &entry.actor,
                    &entry.action,
                    &entry.object,
                    &entry.object_id,
                    &entry.detail,
                ],
            )
            .await
            .map_err(StoreError::query("record audit"))?;
        Ok(())
    }

    pub async fn list_audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT id, at, actor, action, object, object_id, detail FROM audit
                 WHERE ($1::text IS NULL OR actor = $1)
                   AND ($2::text IS NULL OR object = $2)
                   AND ($3::text IS NULL OR object_id = $3)
                   AND ($4::bigint IS NULL OR id < $4)
                 ORDER BY id DESC LIMIT $5",
                &[
                    &filter.actor,
                    &filter.object,
                    &filter.object_id,
                    &filter.before,
                    &filter.limit,
                ],
            )
            .await
            .map_err(StoreError::query("list audit"))?;
        Ok(rows
            .iter()
            .map(|row| AuditEntry {
                id: row.get("id"),
                at: row.get("at"),
                actor: row.get("actor"),
                action: row.get("action"),
                object: row.get("object"),
                object_id: row.get("object_id"),
                detail: row.get("detail"),
            })
            .collect())
    }
}
