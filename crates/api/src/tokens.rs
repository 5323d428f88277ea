//! `/api/v1/tokens` (admins only) and `/api/v1/audit`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use herald_model::{PlainToken, TokenSpec, from_value};
use herald_store::AuditFilter;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{ApiError, AppState, params};

/// `POST /api/v1/tokens {name, role, expires_at?}`: the token is in this
/// answer and nowhere else, ever.
pub async fn create(
    State(state): State<Arc<AppState>>,
    body: Body,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let spec: TokenSpec = from_value(params::json(body, state.max_request_bytes).await?)?;
    spec.validate(OffsetDateTime::now_utc())?;
    let token = PlainToken::generate();
    let record = state.store.create_token(&spec, &token).await?;
    let mut answer = serde_json::to_value(&record).expect("a token record is JSON");
    answer["token"] = json!(token.expose());
    Ok((StatusCode::CREATED, Json(answer)))
}

pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let items = state.store.list_tokens().await?;
    Ok(Json(json!({ "items": items })))
}

/// `DELETE /api/v1/tokens/{id}`: revokes it; it stays listed, revoked.
pub async fn revoke(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.store.revoke_token(params::id(&id)?).await?;
    state.tokens.clear();
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/audit?actor=&object=&object_id=&before=&limit=`: changes,
/// newest first; pass the last entry's `id` as `before` for the next page.
pub async fn audit(
    State(state): State<Arc<AppState>>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut q = params::Query::new(raw);
    let filter = AuditFilter {
        actor: q.parse("actor")?,
        object: q.parse("object")?,
        object_id: q.parse("object_id")?,
        before: q.parse("before")?,
        limit: q.limit()?,
    };
    q.finish()?;
    let items = state.store.list_audit(&filter).await?;
    Ok(Json(json!({ "items": items })))
}
