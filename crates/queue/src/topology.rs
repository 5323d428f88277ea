//! Every exchange and queue Herald uses, named from one prefix `<p>`.
//!
//! ```text
//! <p>.events               topic, key <category>.<severity>
//!   *.critical          -> <p>.router.critical      (the priority lane)
//!   *.warning, *.info   -> <p>.router
//!   any other key       -> <p>.events.unrouted (alternate exchange) -> <p>.router
//! <p>.deliveries           direct, key <kind>  -> <p>.deliveries.<kind>
//! <p>.deliveries.critical  direct, key <kind>  -> <p>.deliveries.<kind>.critical
//! <p>.deliveries.later     direct, key <kind>  -> <p>.deliveries.<kind>.later
//! <p>.dead                 topic, key <queue it came from> -> <p>.dead
//! ```

use std::str::FromStr;
use std::time::Duration;

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

use crate::Outgoing;

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

/// One queue: where its rejects go, what feeds it.
struct QueueSpec {
    name: String,
    dead_letter_to: String,
    bindings: Vec<(String, String)>,
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

    fn later_deliveries_exchange(&self) -> String {
        format!("{}.deliveries.later", self.prefix)
    }

    pub fn dead_exchange(&self) -> String {
        format!("{}.dead", self.prefix)
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

    /// Jobs queued again from the database (retries, jobs put aside,
    /// replays): their own queue, so that a broken endpoint's retries never
    /// stand in line with, or hold back, fresh jobs.
    pub fn later_delivery_queue(&self, kind: &str) -> String {
        format!("{}.deliveries.{kind}.later", self.prefix)
    }

    pub fn dead_queue(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    /// Events for the events exchange, routed by `<category>.<severity>`: one
    /// event, or a JSON array of events that share the routing key.
    pub fn event_message(&self, routing_key: String, body: Vec<u8>) -> Outgoing {
        Outgoing::json(self.events_exchange(), routing_key, body)
    }

    /// Delivery jobs for the queue of their channel `kind`, in the critical lane
    /// when `critical`.
    pub fn delivery_message(&self, kind: &str, critical: bool, body: Vec<u8>) -> Outgoing {
        let exchange = if critical {
            self.critical_deliveries_exchange()
        } else {
            self.deliveries_exchange()
        };
        Outgoing::json(exchange, kind.to_owned(), body)
    }

    /// Delivery jobs queued again from the database: in the later lane of
    /// their `kind`, or the critical lane when `critical`.
    pub fn later_message(&self, kind: &str, critical: bool, body: Vec<u8>) -> Outgoing {
        let exchange = if critical {
            self.critical_deliveries_exchange()
        } else {
            self.later_deliveries_exchange()
        };
        Outgoing::json(exchange, kind.to_owned(), body)
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
        if let Some(expires) = self.expires {
            let millis = i64::try_from(expires.as_millis()).unwrap_or(i64::MAX);
            args.insert("x-expires".into(), AMQPValue::LongLongInt(millis));
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
                bindings: vec![bind(dead.clone(), "#")],
            },
            QueueSpec {
                name: self.router_queue(),
                dead_letter_to: dead.clone(),
                bindings: vec![
                    bind(events.clone(), "*.warning"),
                    bind(events.clone(), "*.info"),
                    bind(self.unrouted_exchange(), ""),
                ],
            },
            QueueSpec {
                name: self.critical_router_queue(),
                dead_letter_to: dead.clone(),
                bindings: vec![bind(events, "*.critical")],
            },
        ];
        for kind in &self.kinds {
            queues.push(QueueSpec {
                name: self.delivery_queue(kind),
                dead_letter_to: dead.clone(),
                bindings: vec![bind(self.deliveries_exchange(), kind)],
            });
            queues.push(QueueSpec {
                name: self.critical_delivery_queue(kind),
                dead_letter_to: dead.clone(),
                bindings: vec![bind(self.critical_deliveries_exchange(), kind)],
            });
            queues.push(QueueSpec {
                name: self.later_delivery_queue(kind),
                dead_letter_to: dead.clone(),
                bindings: vec![bind(self.later_deliveries_exchange(), kind)],
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
        let exchanges = vec![
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
                self.later_deliveries_exchange(),
                ExchangeKind::Direct,
                FieldTable::default(),
            ),
            (
                self.dead_exchange(),
                ExchangeKind::Topic,
                FieldTable::default(),
            ),
        ];
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
        assert_eq!(
            t.later_delivery_queue("email"),
            "herald.deliveries.email.later"
        );
        assert_eq!(t.dead_queue(), "herald.dead");
        assert_eq!("quorum".parse::<QueueType>(), Ok(QueueType::Quorum));
        assert!("mirrored".parse::<QueueType>().is_err());
    }
}
