//! `GET /api/v1/problems`: the open problems. A firing event opens one (keyed
//! by its `dedup_key`, or source + scope + kind), a resolving event of the
//! same key closes it; inhibitions look at them, and a resolve goes to the
//! notifiers that got the firing events. Read-only: problems change only by
//! events.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use serde_json::{Value, json};

use crate::{ApiError, AppState, params};

/// `GET /api/v1/problems?limit=`: open problems, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/problems",
    tag = "problems",
    summary = "Open problems, oldest first",
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "At most this many (default 50)"),
    ),
    responses(
        (status = 200, description = "The open problems", body = crate::openapi::Items<herald_model::Problem>),
        (status = 400, description = "Bad input; `field` names it", body = crate::openapi::ErrorBody),
    )
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    Query(raw): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let mut q = params::Query::new(raw);
    let limit = q.limit()?;
    q.finish()?;
    let items = state.store.open_problems(limit).await?;
    Ok(Json(json!({ "items": items })))
}
