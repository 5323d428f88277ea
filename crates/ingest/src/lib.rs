//! Getting events into Herald: the HTTP API, the `herald emit` command and Rust
//! programs all publish through [`Ingest`], which validates each event and
//! reports success only once the broker has confirmed every message.
//!
//! Rust programs use [`Client`]:
//!
//! ```no_run
//! # async fn demo() -> Result<(), herald_ingest::IngestError> {
//! use herald_ingest::{Client, NewEvent};
//! use herald_model::{Category, Severity};
//!
//! let client = Client::connect("amqp://guest:guest@127.0.0.1:5672/%2f", "herald").await?;
//! let id = client
//!     .emit(NewEvent::new("ci", Category::Job).kind("failed").severity(Severity::Critical)
//!         .scope("acme/web/deploy-app").title("Deploy failed"))
//!     .await?;
//! # Ok(()) }
//! ```
//!
//! It does not route, store or deliver anything.

use std::sync::Arc;
use std::time::Duration;

use herald_metrics::Metrics;
use herald_model::{Category, Event, EventError, Severity};
use herald_queue::{Broker, BrokerTls, Depths, Publisher, QueueError, QueueType, Topology};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("invalid event: {0}")]
    Invalid(#[from] EventError),
    #[error("event not accepted by the broker: {0}")]
    Broker(#[from] QueueError),
    #[error("cannot connect to the broker: {0}")]
    Connect(#[source] QueueError),
}

/// Events in one message at most: enough to make the broker's cost per event
/// small, few enough that a router batch is made of several messages.
pub const EVENTS_PER_MESSAGE: usize = 100;

/// How long a request may wait for the router's queue to have room, and how
/// long the queue may stay as long as it is before the request stops waiting.
const ADMISSION_WAIT: Duration = Duration::from_secs(1);
const ADMISSION_STALL: Duration = Duration::from_millis(50);
/// Messages ready in the router's queue above which a request waits: any,
/// since the router holds a batch's worth already.
const BACKED_UP: u32 = 0;

/// Publishes validated events to the events exchange.
#[derive(Clone)]
pub struct Ingest {
    publisher: Arc<Publisher>,
    metrics: Arc<Metrics>,
    /// Set for the API: see [`Ingest::paced`].
    depths: Option<Arc<Depths>>,
}

impl Ingest {
    pub fn new(publisher: Arc<Publisher>, metrics: Arc<Metrics>) -> Ingest {
        Ingest {
            publisher,
            metrics,
            depths: None,
        }
    }

    /// Publishing waits, briefly, while the router's queue is backed up (the
    /// router itself waits while the senders are behind). A client that
    /// publishes as fast as it is answered thus goes at the pace Herald
    /// delivers, and its events spend their time in flight, not in queues;
    /// every event is still accepted, at most [`ADMISSION_WAIT`] later.
    /// Critical events never wait, and nothing waits on a backlog that is not
    /// draining (a stalled endpoint, a stopped router, a database down): then
    /// the queue is what absorbs the burst.
    #[must_use]
    pub fn paced(mut self) -> Ingest {
        let broker = self.publisher.broker().clone();
        self.depths = Some(Arc::new(Depths::new(broker, Duration::from_millis(2))));
        self
    }

    /// Publishes `events`; `Ok` means the broker confirmed all of them.
    ///
    /// Events that share a routing key travel together, up to
    /// [`EVENTS_PER_MESSAGE`] in one message (a JSON array), so a request of a
    /// hundred events costs the broker one message, not a hundred. A single
    /// event is sent as the object it is.
    pub async fn publish(&self, events: &[Event]) -> Result<(), QueueError> {
        let topology = self.publisher.broker().topology();
        if let Some(depths) = &self.depths
            && events.iter().any(|e| e.severity != Severity::Critical)
        {
            let queue = topology.router_queue();
            let wait = (ADMISSION_WAIT, ADMISSION_STALL);
            depths.room(&queue, BACKED_UP, Some(wait)).await;
        }
        let mut by_key: Vec<(String, Vec<&Event>)> = Vec::new();
        for e in events {
            let key = e.routing_key();
            match by_key.iter_mut().find(|(k, _)| *k == key) {
                Some((_, group)) => group.push(e),
                None => by_key.push((key, vec![e])),
            }
        }
        let messages: Vec<_> = by_key
            .iter()
            .flat_map(|(key, group)| {
                group.chunks(EVENTS_PER_MESSAGE).map(|chunk| {
                    let body = match chunk {
                        [one] => serde_json::to_vec(one),
                        many => serde_json::to_vec(many),
                    };
                    topology.event_message(key.clone(), body.expect("events are JSON"))
                })
            })
            .collect();
        self.publisher.publish(&messages).await?;
        for e in events {
            self.metrics
                .events_ingested
                .with_label_values(&[e.category.as_str(), e.severity.as_str()])
                .inc();
        }
        Ok(())
    }
}

/// An event under construction, validated like any other when emitted.
#[derive(Debug, Clone)]
pub struct NewEvent(Map<String, Value>);

impl NewEvent {
    pub fn new(source: &str, category: Category) -> NewEvent {
        let mut map = Map::new();
        map.insert("source".into(), json!(source));
        map.insert("category".into(), json!(category));
        NewEvent(map)
    }

    fn set(mut self, key: &str, value: Value) -> NewEvent {
        self.0.insert(key.into(), value);
        self
    }

    pub fn id(self, id: Uuid) -> NewEvent {
        self.set("id", json!(id))
    }
    pub fn kind(self, kind: &str) -> NewEvent {
        self.set("kind", json!(kind))
    }
    pub fn severity(self, severity: Severity) -> NewEvent {
        self.set("severity", json!(severity))
    }
    pub fn scope(self, scope: &str) -> NewEvent {
        self.set("scope", json!(scope))
    }
    pub fn title(self, title: &str) -> NewEvent {
        self.set("title", json!(title))
    }
    pub fn message(self, message: &str) -> NewEvent {
        self.set("message", json!(message))
    }
    pub fn label(mut self, key: &str, value: &str) -> NewEvent {
        let labels = self.0.entry("labels").or_insert_with(|| json!({}));
        labels[key] = json!(value);
        self
    }
    pub fn data(self, data: Value) -> NewEvent {
        self.set("data", data)
    }
    pub fn dedup_key(self, key: &str) -> NewEvent {
        self.set("dedup_key", json!(key))
    }
    pub fn resolved(self, resolved: bool) -> NewEvent {
        self.set("resolved", json!(resolved))
    }
    pub fn url(self, url: &str) -> NewEvent {
        self.set("url", json!(url))
    }

    /// Validates the event exactly as the HTTP API would.
    pub fn build(self) -> Result<Event, EventError> {
        let bytes = serde_json::to_vec(&Value::Object(self.0)).expect("a map is JSON");
        herald_model::parse_event(&bytes, OffsetDateTime::now_utc())
    }
}

/// A connection for Rust programs that publish events straight to the broker.
pub struct Client {
    ingest: Ingest,
    broker: Broker,
    shutdown: CancellationToken,
}

impl Client {
    /// Connects to the broker. On a broker Herald never ran on, it declares
    /// Herald's exchanges and router queue, so events are kept until Herald
    /// starts; otherwise it uses them as they are.
    pub async fn connect(amqp_url: &str, prefix: &str) -> Result<Client, IngestError> {
        Client::connect_with(amqp_url, prefix, QueueType::Classic).await
    }

    /// As [`Client::connect`], for a deployment that uses quorum queues.
    pub async fn connect_with(
        amqp_url: &str,
        prefix: &str,
        queue_type: QueueType,
    ) -> Result<Client, IngestError> {
        Client::connect_tls(amqp_url, BrokerTls::default(), prefix, queue_type).await
    }

    /// As [`Client::connect_with`], trusting `tls` too on an `amqps://` URL.
    pub async fn connect_tls(
        amqp_url: &str,
        tls: BrokerTls,
        prefix: &str,
        queue_type: QueueType,
    ) -> Result<Client, IngestError> {
        let shutdown = CancellationToken::new();
        let topology = Topology::for_publisher(prefix, queue_type);
        let broker = Broker::start_tls(amqp_url, tls, "herald-client", topology, shutdown.clone());
        let wait = Duration::from_secs(10);
        if let Err(e) = broker.wait_usable(wait).await {
            shutdown.cancel();
            return Err(IngestError::Connect(e));
        }
        let publisher = Arc::new(Publisher::new(broker.clone(), wait));
        Ok(Client {
            ingest: Ingest::new(publisher, Metrics::new()),
            broker,
            shutdown,
        })
    }

    /// Validates and publishes one event; returns its id once confirmed.
    pub async fn emit(&self, event: NewEvent) -> Result<Uuid, IngestError> {
        let event = event.build()?;
        self.ingest.publish(std::slice::from_ref(&event)).await?;
        Ok(event.id)
    }

    /// Publishes already-validated events.
    pub async fn publish(&self, events: &[Event]) -> Result<(), IngestError> {
        Ok(self.ingest.publish(events).await?)
    }

    /// Closes the connection and waits until it is closed. Dropping a client
    /// closes it too, in the background; a process about to exit closes it
    /// here first, so the close is not cut short.
    pub async fn close(self) {
        self.shutdown.cancel();
        self.broker.closed().await;
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_events_are_validated_like_posted_ones() {
        let e = NewEvent::new("ci", Category::Job)
            .kind("failed")
            .severity(Severity::Critical)
            .scope("/acme/web/")
            .label("env", "prod")
            .build()
            .unwrap();
        assert_eq!(e.scope.as_str(), "acme/web");
        assert_eq!(e.labels["env"], "prod");
        let bad = NewEvent::new("ci", Category::Job).kind("exploded").build();
        assert_eq!(bad.unwrap_err().field_error().field, "kind");
    }
}
