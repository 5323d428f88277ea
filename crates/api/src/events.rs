use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{ApiError, AppState, params};

/// `POST /api/v1/events`: one event or an array. 202 only once the broker has
/// confirmed every event.
pub async fn publish(
    State(state): State<Arc<AppState>>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let bytes = params::body(body, state.max_request_bytes).await?;
    let events = herald_model::parse_events(&bytes, OffsetDateTime::now_utc())?;
    state.ingest.publish(&events).await.map_err(|e| {
        ApiError::Unavailable(format!("events not accepted, publish them again: {e}"))
    })?;
    let ids: Vec<_> = events.iter().map(|e| e.id).collect();
    Ok((StatusCode::ACCEPTED, Json(json!({ "ids": ids }))))
}
