use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use herald_model::Notification;
use herald_store::{NotificationFilter, Page};
use serde_json::{Value, json};

use crate::{ApiError, AppState, params};

/// `GET /api/v1/notifications?status=&event_id=&notifier_id=&limit=&cursor=`,
/// newest first.
pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Page<Notification>>, ApiError> {
    let mut q = params::Query::new(raw);
    let filter = NotificationFilter {
        status: q.parse("status")?,
        event_id: q.parse("event_id")?,
        notifier_id: q.parse("notifier_id")?,
        limit: q.limit()?,
        cursor: q.parse("cursor")?,
    };
    q.finish()?;
    Ok(Json(state.store.list_notifications(&filter).await?))
}

/// One notification with the event it delivers.
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let n = state.store.get_notification(params::id(&id)?).await?;
    let event = state.store.get_event(n.event_id).await?;
    let mut body = json!(n);
    body["event"] = json!(event);
    Ok(Json(body))
}
