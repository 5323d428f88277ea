//! Every error the API answers, mapped to a status code in one place.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use herald_model::{EventError, FieldError};
use herald_store::StoreError;
use serde_json::json;
use tracing::error;

#[derive(Debug)]
pub enum ApiError {
    /// 400: bad input, named by field.
    Invalid(FieldError),
    /// 413: too large.
    TooLarge(FieldError),
    /// 404.
    NotFound(String),
    /// 409: clashes with stored state.
    Conflict(FieldError),
    /// 409: what is being deleted is still used: `rules` (id, name) send to
    /// it, `notifiers` (id, name) fall back to it.
    InUse {
        message: String,
        rules: Vec<(uuid::Uuid, String)>,
        notifiers: Vec<(uuid::Uuid, String)>,
    },
    /// 422: a template did not render (preview).
    Render(herald_templates::TemplateError),
    /// 429: over a rate limit; `Retry-After` says when to try again.
    RateLimited {
        message: String,
        retry_after: std::time::Duration,
    },
    /// 502: a test send reached the endpoint, which refused it.
    Upstream { message: String, retryable: bool },
    /// 503: the broker or the database is unreachable.
    Unavailable(String),
    /// 500: logged in full, answered in general terms.
    Internal(String),
}

impl ApiError {
    pub fn invalid(field: &str, message: impl Into<String>) -> ApiError {
        ApiError::Invalid(FieldError::new(field, message))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Invalid(e) | ApiError::TooLarge(e) | ApiError::Conflict(e) => e.fmt(f),
            ApiError::Render(e) => write!(f, "template {e}"),
            ApiError::NotFound(m)
            | ApiError::Upstream { message: m, .. }
            | ApiError::RateLimited { message: m, .. }
            | ApiError::InUse { message: m, .. }
            | ApiError::Unavailable(m)
            | ApiError::Internal(m) => f.write_str(m),
        }
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::Invalid(e)
    }
}

impl From<EventError> for ApiError {
    fn from(e: EventError) -> Self {
        let named = |e: FieldError| match e.field.as_str() {
            "" => e.within("body"),
            _ => e,
        };
        match e {
            EventError::Invalid(e) => ApiError::Invalid(named(e)),
            EventError::TooLarge(e) => ApiError::TooLarge(named(e)),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => ApiError::NotFound(e.to_string()),
            StoreError::Conflict { field, message } => {
                ApiError::Conflict(FieldError::new(field, message))
            }
            StoreError::InUse {
                ref rules,
                ref notifiers,
                ..
            } => ApiError::InUse {
                message: e.to_string(),
                rules: rules.clone(),
                notifiers: notifiers.clone(),
            },
            StoreError::UnknownReference { field, message } => {
                ApiError::Invalid(FieldError::new(field, message))
            }
            StoreError::Unavailable(_) => ApiError::Unavailable(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let field_body = |status: StatusCode, e: FieldError| {
            let mut body = json!({"error": e.to_string()});
            if !e.field.is_empty() {
                body["field"] = json!(e.field);
            }
            (status, Json(body)).into_response()
        };
        match self {
            ApiError::Invalid(e) => field_body(StatusCode::BAD_REQUEST, e),
            ApiError::TooLarge(e) => field_body(StatusCode::PAYLOAD_TOO_LARGE, e),
            ApiError::Conflict(e) => field_body(StatusCode::CONFLICT, e),
            ApiError::InUse {
                message,
                rules,
                notifiers,
            } => {
                let named = |items: Vec<(uuid::Uuid, String)>| -> Vec<_> {
                    items
                        .into_iter()
                        .map(|(id, name)| json!({"id": id, "name": name}))
                        .collect()
                };
                let body = json!({
                    "error": message,
                    "rules": named(rules),
                    "notifiers": named(notifiers),
                });
                (StatusCode::CONFLICT, Json(body)).into_response()
            }
            ApiError::NotFound(message) => {
                (StatusCode::NOT_FOUND, Json(json!({"error": message}))).into_response()
            }
            ApiError::Render(e) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({
                    "error": format!("template {e}"),
                    "part": e.part,
                    "line": e.line,
                })),
            )
                .into_response(),
            ApiError::RateLimited {
                message,
                retry_after,
            } => {
                // Whole seconds, rounded up: a client that waits this long
                // finds room.
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(axum::http::header::RETRY_AFTER, seconds.max(1).to_string())],
                    Json(json!({"error": message, "retry_after": seconds.max(1)})),
                )
                    .into_response()
            }
            ApiError::Upstream { message, retryable } => (
                StatusCode::BAD_GATEWAY,
                Json(json!({"error": message, "retryable": retryable})),
            )
                .into_response(),
            ApiError::Unavailable(message) => (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": message})),
            )
                .into_response(),
            ApiError::Internal(detail) => {
                error!(error = %detail, "internal error");
                let body = json!({"error": "internal error; see the server log"});
                (StatusCode::INTERNAL_SERVER_ERROR, Json(body)).into_response()
            }
        }
    }
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such API path".into())
}
