//! Bounds on the server as a whole: how long a request may take and how many
//! are handled at once, so that a flood of slow requests cannot hold every
//! database connection or grow memory without end.

use std::time::Duration;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::json;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower_http::timeout::TimeoutLayer;

/// The limits of [`bounded`].
#[derive(Debug, Clone, Copy)]
pub struct ServerBounds {
    /// A request not answered within this is answered 503.
    pub request_timeout: Duration,
    /// Requests handled at once; more wait for a turn (within their timeout).
    pub max_concurrent: usize,
}

/// `app` with its requests bounded. The timeout is the outer layer, so it
/// also covers the wait for a turn: under a flood, requests are answered
/// 503 after the timeout instead of queueing without end.
pub fn bounded(app: Router, bounds: ServerBounds) -> Router {
    app.layer(GlobalConcurrencyLimitLayer::new(
        bounds.max_concurrent.max(1),
    ))
    .layer(TimeoutLayer::with_status_code(
        StatusCode::SERVICE_UNAVAILABLE,
        bounds.request_timeout,
    ))
    .layer(axum::middleware::map_response(explain_timeout))
}

/// tower-http answers a timeout with an empty 503; every answer of this API
/// says what went wrong in `{"error"}`. Herald's own 503s always have a body.
async fn explain_timeout(response: Response) -> Response {
    let empty = response.headers().get(header::CONTENT_TYPE).is_none();
    if response.status() != StatusCode::SERVICE_UNAVAILABLE || !empty {
        return response;
    }
    let message = "the request was not answered within HERALD_HTTP_TIMEOUT; a change it made may have been applied: read it back before trying again";
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"error": message})),
    )
        .into_response()
}
