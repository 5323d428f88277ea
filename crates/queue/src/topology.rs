//! Every exchange and queue Herald uses, named from one prefix `<p>`.
//!
//! ```text
//! <p>.events               topic, key <category>.<severity>
//!   *.critical          -> <p>.router.critical      (the priority lane)
//!   *.warning, *.info   -> <p>.router
//!   any other key       -> <p>.events.unrouted (alternate exchange) -> <p>.router
//! <p>.deliveries           direct, key <kind>  -> <p>.deliveries.<kind>
//! <p>.deliveries.critical  direct, key <kind>  -> <p>.deliveries.<kind>.critical
//! <p>.wait.<tier>          fanout -> <p>.deliveries.wait.<tier> (TTL 1s, 5s or 30s) -> back to <p>.deliveries
//! <p>.dead                 topic, key <queue it came from> -> <p>.dead
//! ```

use std::str::FromStr;
use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

use crate::Outgoing;

/// How long a deferred job may wait: each tier is a queue whose messages all
/// share one TTL, so a short wait never queues behind a long one.
pub const WAIT_TIERS: [Duration; 3] = [
    Duration::from_secs(1),
    Duration::from_secs(5),
    Duration::from_secs(30),
];

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum QueueType {
    /// One node's durable queues.
    #[default]
    Classic,
    /// Raft-replicated queues for a RabbitMQ cluster.
    Quorum,
}

impl FromStr for QueueType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "classic" => Ok(QueueType::Classic),
            "quorum" => Ok(QueueType::Quorum),
            other => Err(format!(
                "unknown queue type `{other}`, expected classic or quorum"
            )),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Topology {
    prefix: String,
    queue_type: QueueType,
    /// Deletes queues left unused this long; for test runs, never for production.
    expires: Option<Duration>,
    kinds: Vec<String>,
    /// Declare only when the events exchange is missing (publishing clients).
    only_if_missing: bool,
}

/// One queue: where its rejects go, how long its messages live, what feeds it.
struct QueueSpec {
    name: String,
    dead_letter_to: String,
    ttl: Option<Duration>,
    bindings: Vec<(String, String)>,
}

fn tier_name(tier: Duration) -> String {
    format!("{}s", tier.as_secs())
}

impl Topology {
    /// `kinds` are the notifier kinds, two delivery queues each.
    pub fn new(prefix: &str, queue_type: QueueType, kinds: &[&str]) -> Topology {
        Topology {
            prefix: prefix.to_owned(),
            queue_type,
            expires: None,
            kinds: kinds.iter().map(|k| (*k).to_owned()).collect(),
            only_if_missing: false,
        }
    }

    /// For a process that only publishes events: if Herald's exchange exists it
    /// is used as it is, whatever arguments the servers declared their queues
    /// with; only on a broker Herald never ran on is the topology declared, so
    /// that events published first are kept.
    #[must_use]
    pub fn for_publisher(prefix: &str, queue_type: QueueType) -> Topology {
        Topology {
            only_if_missing: true,
            ..Topology::new(prefix, queue_type, &[])
        }
    }

    #[must_use]
    pub fn with_expiry(mut self, expires: Option<Duration>) -> Topology {
        self.expires = expires;
        self
    }

    pub fn kinds(&self) -> &[String] {
        &self.kinds
    }

    pub fn events_exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }

    fn unrouted_exchange(&self) -> String {
        format!("{}.events.unrouted", self.prefix)
    }

    pub fn deliveries_exchange(&self) -> String {
        format!("{}.deliveries", self.prefix)
    }

    pub fn critical_deliveries_exchange(&self) -> String {
        format!("{}.deliveries.critical", self.prefix)
    }

    pub fn dead_exchange(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    fn wait_exchange(&self, tier: Duration) -> String {
        format!("{}.wait.{}", self.prefix, tier_name(tier))
    }

    pub fn router_queue(&self) -> String {
        format!("{}.router", self.prefix)
    }

    pub fn critical_router_queue(&self) -> String {
        format!("{}.router.critical", self.prefix)
    }

    pub fn delivery_queue(&self, kind: &str) -> String {
        format!("{}.deliveries.{kind}", self.prefix)
    }

    pub fn critical_delivery_queue(&self, kind: &str) -> String {
        format!("{}.deliveries.{kind}.critical", self.prefix)
    }

    pub fn dead_queue(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    /// An event for the events exchange, routed by `<category>.<severity>`.
    pub fn event_message(&self, routing_key: String, id: String, body: Vec<u8>) -> Outgoing {
        Outgoing {
            message_id: Some(id),
            ..Outgoing::json(self.events_exchange(), routing_key, body)
        }
    }

    /// A delivery job for the queue of its channel `kind`, in the critical lane
    /// when `critical`.
    pub fn delivery_message(
        &self,
        kind: &str,
        critical: bool,
        id: String,
        body: Vec<u8>,
    ) -> Outgoing {
        let exchange = if critical {
            self.critical_deliveries_exchange()
        } else {
            self.deliveries_exchange()
        };
        Outgoing {
            message_id: Some(id),
            ..Outgoing::json(exchange, kind.to_owned(), body)
        }
    }

    /// A delivery job parked for about `delay` (the shortest tier that is at
    /// least as long, else the longest), after which the broker routes it back
    /// to the queue of its `kind`.
    pub fn deferred_message(&self, kind: &str, body: Vec<u8>, delay: Duration) -> Outgoing {
        let tier = WAIT_TIERS
            .iter()
            .copied()
            .find(|t| *t >= delay)
            .unwrap_or(WAIT_TIERS[WAIT_TIERS.len() - 1]);
        Outgoing::json(self.wait_exchange(tier), kind.to_owned(), body)
    }

    fn queue_args(&self, spec: &QueueSpec) -> FieldTable {
        let mut args = FieldTable::default();
        let kind = match self.queue_type {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
        };
        args.insert("x-queue-type".into(), AMQPValue::LongString(kind.into()));
        if !spec.dead_letter_to.is_empty() {
            args.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString(spec.dead_letter_to.as_str().into()),
            );
        }
        let millis =
            |d: Duration| AMQPValue::LongLongInt(i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        if let Some(ttl) = spec.ttl {
            args.insert("x-message-ttl".into(), millis(ttl));
        }
        if let Some(expires) = self.expires {
            args.insert("x-expires".into(), millis(expires));
        }
        args
    }

    fn queues(&self) -> Vec<QueueSpec> {
        let dead = self.dead_exchange();
        let bind = |exchange: String, key: &str| (exchange, key.to_owned());
        let events = self.events_exchange();
        let mut queues = vec![
            QueueSpec {
                name: self.dead_queue(),
                dead_letter_to: String::new(),
                ttl: None,
                bindings: vec![bind(dead.clone(), "#")],
            },
            QueueSpec {
                name: self.router_queue(),
                dead_letter_to: dead.clone(),
                ttl: None,
                bindings: vec![
                    bind(events.clone(), "*.warning"),
                    bind(events.clone(), "*.info"),
                    bind(self.unrouted_exchange(), ""),
                ],
            },
            QueueSpec {
                name: self.critical_router_queue(),
                dead_letter_to: dead.clone(),
                ttl: None,
                bindings: vec![bind(events, "*.critical")],
            },
        ];
        for tier in WAIT_TIERS {
            queues.push(QueueSpec {
                name: format!("{}.deliveries.wait.{}", self.prefix, tier_name(tier)),
                dead_letter_to: self.deliveries_exchange(),
                ttl: Some(tier),
                bindings: vec![bind(self.wait_exchange(tier), "")],
            });
        }
        for kind in &self.kinds {
            queues.push(QueueSpec {
                name: self.delivery_queue(kind),
                dead_letter_to: dead.clone(),
                ttl: None,
                bindings: vec![bind(self.deliveries_exchange(), kind)],
            });
            queues.push(QueueSpec {
                name: self.critical_delivery_queue(kind),
                dead_letter_to: dead.clone(),
                ttl: None,
                bindings: vec![bind(self.critical_deliveries_exchange(), kind)],
            });
        }
        queues
    }

    /// The name of every queue this topology declares.
    pub fn queue_names(&self) -> Vec<String> {
        self.queues().into_iter().map(|q| q.name).collect()
    }

    /// Whether the declaration can be skipped: a publisher finds the events
    /// exchange in place. A failed passive declare closes the channel, so the
    /// check uses its own.
    pub(crate) async fn already_declared(&self, conn: &lapin::Connection) -> bool {
        if !self.only_if_missing {
            return false;
        }
        let Ok(ch) = conn.create_channel().await else {
            return false;
        };
        let passive = ExchangeDeclareOptions {
            passive: true,
            ..ExchangeDeclareOptions::default()
        };
        let found = ch
            .exchange_declare(
                self.events_exchange().as_str().into(),
                ExchangeKind::Topic,
                passive,
                FieldTable::default(),
            )
            .await
            .is_ok();
        if found {
            let _ = ch.close(200, "checked".into()).await;
        }
        found
    }

    /// Declares everything; idempotent, so every process does it on every connect.
    pub(crate) async fn declare(&self, ch: &Channel) -> lapin::Result<()> {
        // Queues that expire (test runs) take their exchanges with them.
        let options = ExchangeDeclareOptions {
            durable: true,
            auto_delete: self.expires.is_some(),
            ..ExchangeDeclareOptions::default()
        };
        let mut events_args = FieldTable::default();
        events_args.insert(
            "alternate-exchange".into(),
            AMQPValue::LongString(self.unrouted_exchange().as_str().into()),
        );
        let mut exchanges = vec![
            (self.events_exchange(), ExchangeKind::Topic, events_args),
            (
                self.unrouted_exchange(),
                ExchangeKind::Fanout,
                FieldTable::default(),
            ),
            (
                self.deliveries_exchange(),
                ExchangeKind::Direct,
                FieldTable::default(),
            ),
            (
                self.critical_deliveries_exchange(),
                ExchangeKind::Direct,
                FieldTable::default(),
            ),
            (
                self.dead_exchange(),
                ExchangeKind::Topic,
                FieldTable::default(),
            ),
        ];
        for tier in WAIT_TIERS {
            exchanges.push((
                self.wait_exchange(tier),
                ExchangeKind::Fanout,
                FieldTable::default(),
            ));
        }
        for (name, kind, args) in exchanges {
            ch.exchange_declare(name.as_str().into(), kind, options, args)
                .await?;
        }
        for spec in self.queues() {
            let durable = QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            };
            ch.queue_declare(spec.name.as_str().into(), durable, self.queue_args(&spec))
                .await?;
            for (exchange, key) in &spec.bindings {
                ch.queue_bind(
                    spec.name.as_str().into(),
                    exchange.as_str().into(),
                    key.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prefix() {
        let t = Topology::new("herald", QueueType::Classic, &["webhook", "email"]);
        assert_eq!(t.events_exchange(), "herald.events");
        assert_eq!(t.deliveries_exchange(), "herald.deliveries");
        assert_eq!(t.router_queue(), "herald.router");
        assert_eq!(t.delivery_queue("email"), "herald.deliveries.email");
        assert_eq!(
            t.critical_delivery_queue("email"),
            "herald.deliveries.email.critical"
        );
        assert_eq!(t.critical_router_queue(), "herald.router.critical");
        assert_eq!(t.dead_queue(), "herald.dead");
        assert_eq!("quorum".parse::<QueueType>(), Ok(QueueType::Quorum));
        assert!("mirrored".parse::<QueueType>().is_err());
    }

    #[test]
    fn deferred_jobs_wait_in_the_shortest_tier_that_is_long_enough() {
        let t = Topology::new("h", QueueType::Classic, &["webhook"]);
        let exchange = |ms| {
            t.deferred_message("webhook", vec![], Duration::from_millis(ms))
                .exchange
        };
        assert_eq!(exchange(100), "h.wait.1s");
        assert_eq!(exchange(1000), "h.wait.1s");
        assert_eq!(exchange(1001), "h.wait.5s");
        assert_eq!(exchange(20_000), "h.wait.30s");
        assert_eq!(exchange(600_000), "h.wait.30s");
        assert_eq!(
            t.deferred_message("webhook", vec![], Duration::ZERO)
                .routing_key,
            "webhook"
        );
    }
}
