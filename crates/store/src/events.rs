//! Recorded events: listing them newest first, and reading one back with what
//! explain needs.

use herald_model::{Category, Event, RecordedEvent, Severity};
use time::OffsetDateTime;
use tokio_postgres::Row;
use uuid::Uuid;

use crate::{Store, StoreError};

/// Which recorded events to list. `scope` is a prefix: `acme` lists `acme`
/// and everything below it.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub source: Option<String>,
    pub category: Option<Category>,
    pub severity: Option<Severity>,
    pub scope: Option<String>,
    pub matched: Option<bool>,
    pub since: Option<OffsetDateTime>,
    pub limit: i64,
    pub cursor: Option<EventCursor>,
}

/// Where a page of events ended: the last event's reception time and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventCursor {
    pub received_at: OffsetDateTime,
    pub id: Uuid,
}

impl EventCursor {
    /// The cursor as an opaque token for an API answer.
    pub fn token(&self) -> String {
        format!("{}_{}", self.received_at.unix_timestamp_nanos(), self.id)
    }

    pub fn parse(token: &str) -> Option<EventCursor> {
        let (nanos, id) = token.split_once('_')?;
        let received_at = OffsetDateTime::from_unix_timestamp_nanos(nanos.parse().ok()?).ok()?;
        Some(EventCursor {
            received_at,
            id: id.parse().ok()?,
        })
    }
}

/// A page of events and where the next one starts, if there may be one.
#[derive(Debug)]
pub struct EventPage {
    pub items: Vec<RecordedEvent>,
    pub next_cursor: Option<EventCursor>,
}

const SELECT: &str = "SELECT id, body, received_at, matched, config_version FROM events";

fn recorded(row: &Row) -> Result<RecordedEvent, StoreError> {
    let id: Uuid = row.get("id");
    let event: Event = serde_json::from_value(row.get("body"))
        .map_err(|e| StoreError::Corrupt(format!("event {id}: {e}")))?;
    Ok(RecordedEvent {
        event,
        received_at: row.get("received_at"),
        matched: row.get("matched"),
        config_version: row.get("config_version"),
    })
}

/// `prefix` made safe for LIKE: its own `%`, `_` and `\` match themselves.
fn like_escaped(prefix: &str) -> String {
    prefix
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

impl Store {
    pub async fn list_events(&self, f: &EventFilter) -> Result<EventPage, StoreError> {
        let client = self.client().await?;
        let scope = f.scope.as_deref().filter(|s| !s.is_empty());
        let below = scope.map(|s| format!("{}/%", like_escaped(s)));
        let category = f.category.map(Category::as_str);
        let severity = f.severity.map(Severity::as_str);
        let (after_time, after_id) = match f.cursor {
            Some(c) => (Some(c.received_at), Some(c.id)),
            None => (None, None),
        };
        let rows = client
            .query(
                &format!(
                    "{SELECT} WHERE ($1::text IS NULL OR source = $1)
                       AND ($2::text IS NULL OR category = $2)
                       AND ($3::text IS NULL OR severity = $3)
                       AND ($4::text IS NULL OR scope = $4 OR scope LIKE $5)
                       AND ($6::bool IS NULL OR matched = $6)
                       AND ($7::timestamptz IS NULL OR received_at >= $7)
                       AND ($8::timestamptz IS NULL OR (received_at, id) < ($8, $9::uuid))
                     ORDER BY received_at DESC, id DESC LIMIT $10"
                ),
                &[
                    &f.source,
                    &category,
                    &severity,
                    &scope,
                    &below,
                    &f.matched,
                    &f.since,
                    &after_time,
                    &after_id,
                    &f.limit,
                ],
            )
            .await
            .map_err(StoreError::query("list events"))?;
        let items = rows.iter().map(recorded).collect::<Result<Vec<_>, _>>()?;
        let full = i64::try_from(items.len()).unwrap_or(i64::MAX) >= f.limit;
        let next_cursor = items.last().filter(|_| full).map(|last| EventCursor {
            received_at: last.received_at,
            id: last.event.id,
        });
        Ok(EventPage { items, next_cursor })
    }

    pub async fn get_recorded_event(&self, id: Uuid) -> Result<RecordedEvent, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(&format!("{SELECT} WHERE id = $1"), &[&id])
            .await
            .map_err(StoreError::query("get event"))?
            .ok_or_else(|| StoreError::not_found("event", id))?;
        recorded(&row)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_what_it_wrote() {
        let c = EventCursor {
            received_at: OffsetDateTime::from_unix_timestamp_nanos(1_795_000_000_123_456_000)
                .unwrap(),
            id: Uuid::now_v7(),
        };
        assert_eq!(EventCursor::parse(&c.token()), Some(c));
        assert_eq!(EventCursor::parse("nope"), None);
        assert_eq!(like_escaped("a_b%c"), "a\\_b\\%c");
    }
}
