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
#[utoipa::path(
    post,
    path = "/api/v1/tokens",
    tag = "tokens",
    summary = "Create an API token",
    request_body(content = herald_model::TokenSpec, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; the token is shown here only", body = crate::openapi::CreatedToken),
        (status = 400, description = "Bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 409, description = "A name already taken, or another clash with what is stored", body = crate::openapi::ErrorBody),
        (status = 413, description = "The body is over HERALD_MAX_REQUEST_BYTES", body = crate::openapi::ErrorBody),
    )
)]
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

#[utoipa::path(
    get,
    path = "/api/v1/tokens",
    tag = "tokens",
    summary = "Every token (never the tokens themselves)",
    responses(
        (status = 200, description = "The tokens", body = crate::openapi::Items<herald_model::TokenRecord>),
    )
)]
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let items = state.store.list_tokens().await?;
    Ok(Json(json!({ "items": items })))
}

/// `DELETE /api/v1/tokens/{id}`: revokes it; it stays listed, revoked.
#[utoipa::path(
    delete,
    path = "/api/v1/tokens/{id}",
    tag = "tokens",
    summary = "Revoke a token (it stays listed, revoked)",
    params(
        ("id" = uuid::Uuid, Path, description = "The token's id"),
    ),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "The id is not a UUID, or bad input; `field` names it", body = crate::openapi::ErrorBody),
        (status = 404, description = "No such object", body = crate::openapi::ErrorBody),
    )
)]
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
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "tokens",
    summary = "Changes, newest first",
    params(
        ("actor" = Option<String>, Query, description = "Changes by this token's name"),
        ("object" = Option<String>, Query, description = "Changes to this kind of object (`notifier`, `rule`, …)"),
        ("object_id" = Option<String>, Query, description = "Changes to this object"),
        ("before" = Option<i64>, Query, description = "Entries older than this id (the previous page's last)"),
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "At most this many (default 50)"),
    ),
    responses(
        (status = 200, description = "The audit entries", body = crate::openapi::Items<herald_model::AuditEntry>),
        (status = 400, description = "Bad input; `field` names it", body = crate::openapi::ErrorBody),
    )
)]
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
