use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use herald_flush::FlushError;
use herald_model::{Failure, ReplayedBy};
use herald_store::{FailureFilter, Page};
use serde_json::{Value, json};

use crate::{ApiError, AppState, params};

impl From<FlushError> for ApiError {
    fn from(e: FlushError) -> Self {
        match e {
            FlushError::Store(e) => e.into(),
            FlushError::Broker(e) => ApiError::Unavailable(format!("nothing was replayed: {e}")),
        }
    }
}

/// `GET /api/v1/failures?status=&notifier_id=&limit=&cursor=`; without a
/// status, the open ones (pending, replaying, dead).
pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Page<Failure>>, ApiError> {
    let mut q = params::Query::new(raw);
    let filter = FailureFilter {
        status: q.parse("status")?,
        notifier_id: q.parse("notifier_id")?,
        limit: q.limit()?,
        cursor: q.parse("cursor")?,
    };
    q.finish()?;
    Ok(Json(state.store.list_failures(&filter).await?))
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Failure>, ApiError> {
    Ok(Json(state.store.get_failure(params::id(&id)?).await?))
}

/// Replays one failure, pending or dead.
pub async fn replay(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let outcome = state
        .flusher
        .replay_one(params::id(&id)?, ReplayedBy::Api)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"replayed": outcome.replayed})),
    ))
}

/// Replays every pending failure now.
pub async fn replay_all(
    State(state): State<Arc<AppState>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let outcome = state.flusher.run_once(ReplayedBy::Api).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"replayed": outcome.replayed})),
    ))
}

pub async fn discard(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Failure>, ApiError> {
    Ok(Json(state.store.discard_failure(params::id(&id)?).await?))
}
