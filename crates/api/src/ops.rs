//! `/metrics`, `/healthz` and `/readyz`: served by the API, and alone by every
//! role that runs without it. The gauges that describe the outside (broker,
//! database, error table, queue depths) are read at scrape time.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use herald_metrics::Metrics;
use herald_model::access::token_hash;
use herald_queue::{Broker, Depths};
use herald_store::Store;
use serde_json::json;

#[derive(Clone)]
pub struct Ops {
    pub metrics: Arc<Metrics>,
    pub broker: Broker,
    pub store: Store,
    /// SHA-256 of `HERALD_METRICS_TOKEN`: when set, `/metrics` needs it.
    pub metrics_token: Option<Arc<[u8]>>,
    /// Reads the depth of every queue of the broker's topology for
    /// `herald_queue_*`; its answers are reused for a second (an empty
    /// queue's for five), so frequent scrapes cost the broker little.
    pub depths: Arc<Depths>,
}

/// How long a queue's depth read for `/metrics` is reused.
pub const QUEUE_GAUGES_FRESH: std::time::Duration = std::time::Duration::from_secs(1);

pub fn router(ops: Ops) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(ops)
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    summary = "Prometheus metrics",
    responses(
        (status = 200, description = "The metrics, in the Prometheus text format", body = String, content_type = "text/plain"),
        (status = 401, description = "HERALD_METRICS_TOKEN is set and was not presented", body = crate::openapi::ErrorBody),
    )
)]
pub(crate) async fn metrics(State(ops): State<Ops>, headers: HeaderMap) -> Response {
    if let Some(expected) = &ops.metrics_token {
        // Hashes compared, so the comparison's time says nothing about the token.
        let presented = crate::auth::bearer(&headers).ok().flatten();
        if presented.map(token_hash).as_deref() != Some(&expected[..]) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, r#"Bearer realm="herald-metrics""#)],
                Json(json!({"error": "/metrics needs the token of HERALD_METRICS_TOKEN as `Authorization: Bearer <token>`"})),
            )
                .into_response();
        }
    }
    ops.metrics
        .broker_up
        .set(i64::from(ops.broker.is_connected()));
    let database_up = ops.store.ping().await.is_ok();
    ops.metrics.database_up.set(i64::from(database_up));
    if database_up {
        herald_flush::refresh_failures_gauge(&ops.store, &ops.metrics).await;
    }
    refresh_queue_gauges(&ops).await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        ops.metrics.render(),
    )
        .into_response()
}

/// Sets `herald_queue_messages` and `herald_queue_consumers` for every queue
/// Herald declares; a queue the broker cannot tell about now loses its
/// series rather than keep a stale value.
async fn refresh_queue_gauges(ops: &Ops) {
    let queues = ops.broker.topology().queue_names();
    let (messages, consumers) = (&ops.metrics.queue_messages, &ops.metrics.queue_consumers);
    for (queue, depth) in ops.depths.of_each(&queues).await {
        match depth {
            Some(depth) => {
                messages
                    .with_label_values(&[&queue])
                    .set(i64::from(depth.ready));
                consumers
                    .with_label_values(&[&queue])
                    .set(i64::from(depth.consumers));
            }
            None => {
                let _ = messages.remove_label_values(&[&queue]);
                let _ = consumers.remove_label_values(&[&queue]);
            }
        }
    }
}

/// The process is alive.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    summary = "Whether the process is alive",
    responses(
        (status = 200, description = "Alive", body = crate::openapi::Health),
    )
)]
pub(crate) async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// The process can do its work: the broker and the database both answer.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    summary = "Whether the broker and the database answer",
    responses(
        (status = 200, description = "Ready", body = crate::openapi::Readiness),
        (status = 503, description = "The broker or the database is down", body = crate::openapi::Readiness),
    )
)]
pub(crate) async fn readyz(State(ops): State<Ops>) -> (StatusCode, Json<serde_json::Value>) {
    let broker = ops.broker.is_connected();
    let database = ops.store.ping().await;
    let word = |up| if up { "up" } else { "down" };
    let mut body = json!({"broker": word(broker), "database": word(database.is_ok())});
    if let Err(e) = database {
        body["database_error"] = json!(e.to_string());
    }
    let status = if broker && body["database"] == "up" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body))
}
