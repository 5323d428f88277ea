use herald_model::{Event, Notification, NotificationStatus};
use tokio_postgres::Row;
use uuid::Uuid;

use crate::{Page, Store, StoreError};

#[derive(Debug, Clone, Default)]
pub struct NotificationFilter {
    pub status: Option<NotificationStatus>,
    pub event_id: Option<Uuid>,
    pub notifier_id: Option<Uuid>,
    pub limit: i64,
    pub cursor: Option<Uuid>,
}

const SELECT: &str = "
    SELECT id, event_id, notifier_id, notifier_name, kind, rule_ids, status, attempts, last_error,
           CASE WHEN status = 'pending' AND lease_owner IS NULL THEN due_at END AS next_attempt_at,
           notes, targets, reason, group_id, suppressed, fallback_of, created_at, updated_at, sent_at
    FROM notifications";

fn notification(row: &Row) -> Result<Notification, StoreError> {
    Ok(Notification {
        id: row.get("id"),
        event_id: row.get("event_id"),
        notifier_id: row.get("notifier_id"),
        notifier_name: row.get("notifier_name"),
        kind: row.get("kind"),
        rule_ids: serde_json::from_value(row.get("rule_ids"))
            .map_err(|e| StoreError::Corrupt(format!("rule ids: {e}")))?,
        status: crate::delivery::parse(row.get("status"))?,
        attempts: row.get("attempts"),
        last_error: row.get("last_error"),
        next_attempt_at: row.get("next_attempt_at"),
        notes: row
            .get::<_, Option<serde_json::Value>>("notes")
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| StoreError::Corrupt(format!("notification notes: {e}")))?
            .unwrap_or_default(),
        targets: row.get("targets"),
        reason: row.get("reason"),
        group_id: row.get("group_id"),
        suppressed: row.get("suppressed"),
        fallback_of: row.get("fallback_of"),
        created_at: row.get("created_at"),
        updated_at: row.get("updated_at"),
        sent_at: row.get("sent_at"),
    })
}

impl Store {
    pub async fn list_notifications(
        &self,
        f: &NotificationFilter,
    ) -> Result<Page<Notification>, StoreError> {
        let client = self.client().await?;
        let status = f.status.map(NotificationStatus::as_str);
        let rows = client
            .query(
                &format!(
                    "{SELECT} WHERE ($1::text IS NULL OR status = $1)
                       AND ($2::uuid IS NULL OR event_id = $2)
                       AND ($3::uuid IS NULL OR notifier_id = $3)
                       AND ($4::uuid IS NULL OR id < $4)
                     ORDER BY id DESC LIMIT $5"
                ),
                &[&status, &f.event_id, &f.notifier_id, &f.cursor, &f.limit],
            )
            .await
            .map_err(StoreError::query("list notifications"))?;
        let items = rows
            .iter()
            .map(notification)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::new(items, f.limit, |n| n.id))
    }

    pub async fn get_notification(&self, id: Uuid) -> Result<Notification, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(&format!("{SELECT} WHERE id = $1"), &[&id])
            .await
            .map_err(StoreError::query("get notification"))?
            .ok_or_else(|| StoreError::not_found("notification", id))?;
        notification(&row)
    }

    pub async fn get_event(&self, id: Uuid) -> Result<Event, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt("SELECT body FROM events WHERE id = $1", &[&id])
            .await
            .map_err(StoreError::query("get event"))?
            .ok_or_else(|| StoreError::not_found("event", id))?;
        serde_json::from_value(row.get(0))
            .map_err(|e| StoreError::Corrupt(format!("event {id}: {e}")))
    }
}
