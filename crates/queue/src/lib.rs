//! Herald's AMQP layer, and the only crate that imports lapin.
//!
//! - [`Topology`] names every exchange and queue from one prefix and declares them.
//! - [`Broker`] keeps one connection alive: it reconnects with backoff, forever,
//!   and re-declares the topology each time, so nothing above it handles
//!   reconnection beyond retrying a failed call.
//! - [`Publisher`] reports success only when the broker confirmed every message.
//! - [`Subscription`] yields deliveries and re-subscribes after a connection loss;
//!   whatever was not acked is redelivered by the broker.
//! - [`Depths`] tells how much waits in a queue, for stages that push back.
//!
//! It knows nothing of events or jobs: bodies are bytes.

mod broker;
mod consumer;
mod depth;
mod publisher;
mod topology;

use std::future::Future;
use std::time::Duration;

pub use broker::{Broker, BrokerTls, redact_url};
pub use consumer::{Delivery, Subscription};
pub use depth::{Depth, Depths};
pub use publisher::{Outgoing, Publisher};
pub use topology::{QueueType, Topology};

/// Header that carries why a message was dead-lettered.
pub const REASON_HEADER: &str = "x-herald-reason";
/// Header that carries the queue a dead-lettered message came from.
pub const QUEUE_HEADER: &str = "x-herald-queue";

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("the broker is unreachable: {0}")]
    Unavailable(String),
    /// The broker answered and said no: wrong credentials (`ACCESS_REFUSED`) or
    /// a virtual host the user may not open (`NOT_ALLOWED`). Retrying changes
    /// nothing until someone fixes the URL or the broker's users.
    #[error("the broker refused the connection: {0}")]
    Refused(String),
    #[error("the broker did not confirm within {0:?}")]
    Timeout(Duration),
    #[error("AMQP {op} got no answer within {after:?}")]
    Stalled { op: &'static str, after: Duration },
    #[error("the broker refused a message for exchange `{exchange}`, routing key `{routing_key}`")]
    Nacked {
        exchange: String,
        routing_key: String,
    },
    #[error("no queue is bound on exchange `{exchange}` for routing key `{routing_key}`")]
    Unroutable {
        exchange: String,
        routing_key: String,
    },
    /// The TLS settings cannot be used (a CA file that is missing or empty).
    #[error("broker TLS: {0}")]
    Tls(String),
    #[error("AMQP {op} failed: {source}")]
    Amqp {
        op: &'static str,
        #[source]
        source: lapin::Error,
    },
}

impl QueueError {
    fn amqp(op: &'static str) -> impl FnOnce(lapin::Error) -> QueueError {
        move |source| QueueError::Amqp { op, source }
    }

    /// The broker's own words when it refused this connection for good
    /// (AMQP reply codes 403 `ACCESS_REFUSED` and 530 `NOT_ALLOWED`), else
    /// `None`: a timeout or a reset may pass, a refusal does not.
    pub fn refusal(&self) -> Option<String> {
        let QueueError::Amqp { source, .. } = self else {
            return None;
        };
        match source.kind() {
            lapin::ErrorKind::ProtocolError(e) if matches!(e.get_id(), 403 | 530) => {
                Some(e.get_message().to_string())
            }
            _ => None,
        }
    }
}

/// How long any one broker call may take. On a connection that died without
/// lapin noticing, its futures may never resolve; a consumer or publisher
/// stuck on one would stop for good.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs one broker call `op`, bounded by [`CALL_TIMEOUT`].
async fn bounded<T>(
    op: &'static str,
    call: impl Future<Output = lapin::Result<T>>,
) -> Result<T, QueueError> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result.map_err(QueueError::amqp(op)),
        Err(_) => Err(QueueError::Stalled {
            op,
            after: CALL_TIMEOUT,
        }),
    }
}
