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
#[utoipa::path(
    get,
    path = "/api/v1/failures",
    tag = "failures",
    summary = "Failures; without a status, the open ones",
    params(
        ("status" = Option<herald_model::FailureStatus>, Query, description = "Failures with this status"),
        ("notifier_id" = Option<uuid::Uuid>, Query, description = "One notifier's failures"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "At most this many (default 50)"),
        ("cursor" = Option<uuid::Uuid>, Query, description = "The `next_cursor` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of failures", body = herald_store::Page<herald_model::Failure>),
        (status = 400, description = "Bad input; `field` names it", body = crate::openapi::ErrorBody),
    )
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/failures/{id}",
    tag = "failures",
    summary = "One failure",
    params(
        ("id" = uuid::Uuid, Path, description = "The failure's id"),
    ),
    responses(
        (status = 200, description = "The failure", body = herald_model::Failure),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
    )
)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Failure>, ApiError> {
    Ok(Json(state.store.get_failure(params::id(&id)?).await?))
}

/// Replays one failure, pending or dead.
#[utoipa::path(
    post,
    path = "/api/v1/failures/{id}/replay",
    tag = "failures",
    summary = "Replay one failure, pending or dead",
    params(
        ("id" = uuid::Uuid, Path, description = "The failure's id"),
    ),
    responses(
        (status = 202, description = "Queued for delivery again", body = crate::openapi::Replayed),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
        (status = 409, description = "A name already taken, or another clash with what is stored", body = crate::openapi::ErrorBody),
    )
)]
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
#[utoipa::path(
    post,
    path = "/api/v1/failures/replay",
    tag = "failures",
    summary = "Replay every pending failure now",
    responses(
        (status = 202, description = "Queued for delivery again", body = crate::openapi::Replayed),
    )
)]
pub async fn replay_all(
    State(state): State<Arc<AppState>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let outcome = state.flusher.run_once(ReplayedBy::Api).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"replayed": outcome.replayed})),
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/failures/{id}/discard",
    tag = "failures",
    summary = "Discard a failure",
    params(
        ("id" = uuid::Uuid, Path, description = "The failure's id"),
    ),
    responses(
        (status = 200, description = "Discarded", body = herald_model::Failure),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
        (status = 409, description = "A name already taken, or another clash with what is stored", body = crate::openapi::ErrorBody),
    )
)]
pub async fn discard(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Failure>, ApiError> {
    Ok(Json(state.store.discard_failure(params::id(&id)?).await?))
}
