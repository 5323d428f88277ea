//! No-activity monitor CRUD: `/api/v1/monitors`. An answer shows the
//! monitor's settings and its state (`active` or `silent`), when a matching
//! event last arrived and when it last went silent.
//!
//! It does not raise or resolve monitors: the flush role does.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use herald_model::{Monitor, MonitorSpec};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{ApiError, AppState, params};

#[utoipa::path(
    post,
    path = "/api/v1/monitors",
    tag = "monitors",
    summary = "Create a no-activity monitor",
    request_body(content = herald_model::MonitorSpec, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = herald_model::Monitor),
        (status = 400, description = "Bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 409, description = "A name already taken, or another clash with what is stored", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is over HERALD_MAX_REQUEST_BYTES", body = crate::openapi::ErrorBody),
    )
)]
pub async fn create(
    State(state): State<Arc<AppState>>,
    body: Body,
) -> Result<(StatusCode, Json<Monitor>), ApiError> {
    let spec = MonitorSpec::from_json(params::json(body, state.max_request_bytes).await?)?;
    let monitor = state.store.create_monitor(Uuid::now_v7(), &spec).await?;
    Ok((StatusCode::CREATED, Json(monitor)))
}

#[utoipa::path(
    get,
    path = "/api/v1/monitors",
    tag = "monitors",
    summary = "Every monitor",
    responses(
        (status = 200, description = "The monitors", body = crate::openapi::Items<herald_model::Monitor>),
    )
)]
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "items": state.store.list_monitors().await? })))
}

#[utoipa::path(
    get,
    path = "/api/v1/monitors/{id}",
    tag = "monitors",
    summary = "One monitor",
    params(
        ("id" = uuid::Uuid, Path, description = "The monitor's id"),
    ),
    responses(
        (status = 200, description = "The monitor", body = herald_model::Monitor),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
    )
)]
pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Monitor>, ApiError> {
    Ok(Json(state.store.get_monitor(params::id(&id)?).await?))
}

#[utoipa::path(
    put,
    path = "/api/v1/monitors/{id}",
    tag = "monitors",
    summary = "Replace a monitor",
    params(
        ("id" = uuid::Uuid, Path, description = "The monitor's id"),
    ),
    request_body(content = herald_model::MonitorSpec, content_type = "application/json"),
    responses(
        (status = 200, description = "Replaced", body = herald_model::Monitor),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
        (status = 409, description = "A name already taken, or another clash with what is stored", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is over HERALD_MAX_REQUEST_BYTES", body = crate::openapi::ErrorBody),
    )
)]
pub async fn update(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Monitor>, ApiError> {
    let id = params::id(&id)?;
    let spec = MonitorSpec::from_json(params::json(body, state.max_request_bytes).await?)?;
    Ok(Json(state.store.update_monitor(id, &spec).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/monitors/{id}",
    tag = "monitors",
    summary = "Delete a monitor",
    params(
        ("id" = uuid::Uuid, Path, description = "The monitor's id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_monitor(params::id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
