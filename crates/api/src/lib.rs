//! Herald's HTTP API, JSON in and out, under `/api/v1`, plus `/metrics`,
//! `/healthz` and `/readyz`.
//!
//! This crate is the only one that knows HTTP status codes: every error becomes
//! a response in [`error`], with a message that names the field at fault and
//! never leaks internals. Notifier settings leave it masked.
//!
//! It does not route or deliver: events are handed to the broker, test sends
//! use the channel directly, replays go through the flush job's code.

mod auth;
mod bounds;
mod channels;
mod error;
mod events;
mod failures;
mod ingest_formats;
mod monitors;
mod notifications;
mod notifiers;
pub mod openapi;
mod ops;
mod params;
mod problems;
mod rules;
mod silences;
mod tokens;
mod web;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware;
use axum::routing::{delete, get, post};
use herald_flush::Flusher;
use herald_ingest::Ingest;
use herald_metrics::Metrics;
use herald_model::Keyring;
use herald_queue::Broker;
use herald_store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use auth::{CACHE_FOR as TOKEN_CACHE_FOR, Caller, TokenCache};
pub use bounds::{ServerBounds, bounded};
pub use error::ApiError;
pub use events::IngestLimit;
pub use ops::{Ops, QUEUE_GAUGES_FRESH};

/// Everything the handlers use.
pub struct AppState {
    pub store: Store,
    pub ingest: Ingest,
    pub flusher: Flusher,
    pub key: Arc<Keyring>,
    /// The outbound guard and the HTTP clients of test sends.
    pub outbound: herald_channels::Outbound,
    pub ops: Ops,
    /// Largest request body accepted, in bytes.
    pub max_request_bytes: usize,
    /// How long a test send may take.
    pub test_timeout: Duration,
    /// Herald's public base URL, `herald.url` to templates.
    pub public_url: String,
    /// Tokens recently looked up.
    pub tokens: TokenCache,
    /// Events per second each token may publish.
    pub ingest_limit: IngestLimit,
}

impl AppState {
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.ops.metrics
    }

    pub fn broker(&self) -> &Broker {
        &self.ops.broker
    }
}

/// The whole API.
pub fn router(state: Arc<AppState>) -> Router {
    let api = Router::new()
        .route("/events", get(events::list).post(events::publish))
        .route("/events/{id}", get(events::get))
        .route("/events/{id}/explain", get(events::explain))
        .route("/ingest/alertmanager", post(ingest_formats::alertmanager))
        .route("/channels", get(channels::list))
        .route("/notifiers", get(notifiers::list).post(notifiers::create))
        .route(
            "/notifiers/{id}",
            get(notifiers::get)
                .put(notifiers::update)
                .delete(notifiers::delete),
        )
        .route("/notifiers/{id}/clone", post(notifiers::clone))
        .route("/notifiers/{id}/test", post(notifiers::test))
        .route("/notifiers/{id}/preview", post(notifiers::preview))
        .route("/rules", get(rules::list).post(rules::create))
        .route("/rules/dry-run", post(rules::dry_run))
        .route(
            "/rules/{id}",
            get(rules::get).put(rules::update).delete(rules::delete),
        )
        .route("/silences", get(silences::list).post(silences::create))
        .route(
            "/silences/{id}",
            get(silences::get)
                .put(silences::update)
                .delete(silences::expire),
        )
        .route(
            "/inhibitions",
            get(silences::list_inhibitions).post(silences::create_inhibition),
        )
        .route(
            "/inhibitions/{id}",
            get(silences::get_inhibition)
                .put(silences::update_inhibition)
                .delete(silences::delete_inhibition),
        )
        .route("/monitors", get(monitors::list).post(monitors::create))
        .route(
            "/monitors/{id}",
            get(monitors::get)
                .put(monitors::update)
                .delete(monitors::delete),
        )
        .route("/rules/{id}/clone", post(rules::clone))
        .route("/notifications", get(notifications::list))
        .route("/notifications/{id}", get(notifications::get))
        .route("/failures", get(failures::list))
        .route("/failures/replay", post(failures::replay_all))
        .route("/failures/{id}", get(failures::get))
        .route("/failures/{id}/replay", post(failures::replay))
        .route("/failures/{id}/discard", post(failures::discard))
        .route("/problems", get(problems::list))
        .route("/tokens", get(tokens::list).post(tokens::create))
        .route("/tokens/{id}", delete(tokens::revoke))
        .route("/audit", get(tokens::audit))
        .fallback(error::not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .with_state(state.clone());
    Router::new()
        .merge(web::router(state.clone(), api.clone()))
        .nest("/api/v1", api)
        .merge(openapi::router())
        .merge(ops::router(state.ops.clone()))
}

/// `/metrics`, `/healthz` and `/readyz` alone, for roles without the API.
pub fn router_for_ops(ops: Ops) -> Router {
    ops::router(ops)
}

/// Serves `app` on `listener` until `shutdown`, finishing requests in flight.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}
