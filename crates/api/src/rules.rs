use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use herald_model::{Rule, RuleSpec};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{ApiError, AppState, params};

pub async fn create(
    State(state): State<Arc<AppState>>,
    body: Body,
) -> Result<(StatusCode, Json<Rule>), ApiError> {
    let spec = RuleSpec::from_json(params::json(body, state.max_request_bytes).await?)?;
    let rule = state.store.create_rule(Uuid::now_v7(), &spec).await?;
    Ok((StatusCode::CREATED, Json(rule)))
}

pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "items": state.store.list_rules().await? })))
}

pub async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Rule>, ApiError> {
    Ok(Json(state.store.get_rule(params::id(&id)?).await?))
}

pub async fn update(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    body: Body,
) -> Result<Json<Rule>, ApiError> {
    let id = params::id(&id)?;
    let spec = RuleSpec::from_json(params::json(body, state.max_request_bytes).await?)?;
    Ok(Json(state.store.update_rule(id, &spec).await?))
}

pub async fn delete(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_rule(params::id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}
