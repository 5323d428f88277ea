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
#[utoipa::path(
    get,
    path = "/api/v1/notifications",
    tag = "notifications",
    summary = "Notifications, newest first",
    params(
        ("status" = Option<herald_model::NotificationStatus>, Query, description = "Notifications with this status"),
        ("event_id" = Option<uuid::Uuid>, Query, description = "One event's notifications"),
        ("notifier_id" = Option<uuid::Uuid>, Query, description = "One notifier's notifications"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "At most this many (default 50)"),
        ("cursor" = Option<uuid::Uuid>, Query, description = "The `next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of notifications", body = herald_store::Page<herald_model::Notification>),
        (status = 400, description = "Bad input; `field` names it", body = crate::openapi::ErrorBody),
    )
)]
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
#[utoipa::path(
    get,
    path = "/api/v1/notifications/{id}",
    tag = "notifications",
    summary = "One notification with its event",
    params(
        ("id" = uuid::Uuid, Path, description = "The notification's id"),
    ),
    responses(
        (status = 200, description = "The notification and the event it delivers", body = crate::openapi::NotificationWithEvent),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
    )
)]
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
