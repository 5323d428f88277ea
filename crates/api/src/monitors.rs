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

pub async fn create(
    State(state): State<Arc<AppState>>,
    body: Body,
) -> Result<(StatusCode, Json<Monitor>), ApiError> {
    let spec = MonitorSpec::from_json(params::json(body, state.max_request_bytes).await?)?;
    let monitor = state.store.create_monitor(Uuid::now_v7(), &spec).await?;
    Ok((StatusCode::CREATED, Json(monitor)))
}

pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "items": state.store.list_monitors().await? })))
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Monitor>, ApiError> {
    Ok(Json(state.store.get_monitor(params::id(&id)?).await?))
}

pub async fn update(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Monitor>, ApiError> {
    let id = params::id(&id)?;
    let spec = MonitorSpec::from_json(params::json(body, state.max_request_bytes).await?)?;
    Ok(Json(state.store.update_monitor(id, &spec).await?))
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_monitor(params::id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
