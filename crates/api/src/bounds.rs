//! Bounds on the server as a whole: how long a request may take and how many
//! are handled at once, so that a flood of slow requests cannot hold every
//! database connection or grow memory without end.

use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
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
}
