//! Every exchange and queue Herald uses, named from one prefix.
//!
//! ```text
//! <p>.events      topic   routing key <category>.<severity>  -> <p>.router
//! <p>.deliveries  direct  routing key <kind>                 -> <p>.deliveries.<kind>
//! <p>.wait        fanout  (deferred jobs, per-message TTL)   -> <p>.deliveries.wait -> <p>.deliveries
//! <p>.dead        topic   routing key <queue it came from>   -> <p>.dead
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

impl Topology {
    /// `kinds` are the notifier kinds, one delivery queue each.
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

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn kinds(&self) -> &[String] {
        &self.kinds
    }

    pub fn events_exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }

    pub fn deliveries_exchange(&self) -> String {
        format!("{}.deliveries", self.prefix)
    }

    pub fn wait_exchange(&self) -> String {
        format!("{}.wait", self.prefix)
    }

    pub fn dead_exchange(&self) -> String {
        format!("{}.dead", self.prefix)
    }

    pub fn router_queue(&self) -> String {
        format!("{}.router", self.prefix)
    }

    pub fn delivery_queue(&self, kind: &str) -> String {
        format!("{}.deliveries.{kind}", self.prefix)
    }

    pub fn wait_queue(&self) -> String {
        format!("{}.deliveries.wait", self.prefix)
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

    /// A delivery job for the queue of its channel `kind`.
    pub fn delivery_message(&self, kind: &str, id: String, body: Vec<u8>) -> Outgoing {
        Outgoing {
            message_id: Some(id),
            ..Outgoing::json(self.deliveries_exchange(), kind.to_owned(), body)
        }
    }

    /// A delivery job parked in the wait queue for `delay`, after which the broker
    /// routes it back to the queue of its `kind`.
    pub fn deferred_message(&self, kind: &str, body: Vec<u8>, delay: Duration) -> Outgoing {
        Outgoing {
            expiration: Some(delay.max(Duration::from_millis(1))),
            ..Outgoing::json(self.wait_exchange(), kind.to_owned(), body)
        }
    }

    fn queue_args(&self, dead_letter_to: &str) -> FieldTable {
        let mut args = FieldTable::default();
        let kind = match self.queue_type {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
        };
        args.insert("x-queue-type".into(), AMQPValue::LongString(kind.into()));
        if !dead_letter_to.is_empty() {
            args.insert(
                "x-dead-letter-exchange".into(),
                AMQPValue::LongString(dead_letter_to.into()),
            );
        }
        if let Some(expires) = self.expires {
            let ms = i64::try_from(expires.as_millis()).unwrap_or(i64::MAX);
            args.insert("x-expires".into(), AMQPValue::LongLongInt(ms));
        }
        args
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
        let durable = ExchangeDeclareOptions {
            durable: true,
            auto_delete: self.expires.is_some(),
            ..ExchangeDeclareOptions::default()
        };
        let exchanges = [
            (self.events_exchange(), ExchangeKind::Topic),
            (self.deliveries_exchange(), ExchangeKind::Direct),
            (self.wait_exchange(), ExchangeKind::Fanout),
            (self.dead_exchange(), ExchangeKind::Topic),
        ];
        for (name, kind) in exchanges {
            ch.exchange_declare(name.as_str().into(), kind, durable, FieldTable::default())
                .await?;
        }
        let dead = self.dead_exchange();
        let mut queues = vec![
            (
                self.dead_queue(),
                String::new(),
                dead.clone(),
                "#".to_owned(),
            ),
            (
                self.router_queue(),
                dead.clone(),
                self.events_exchange(),
                "#".to_owned(),
            ),
            (
                self.wait_queue(),
                self.deliveries_exchange(),
                self.wait_exchange(),
                String::new(),
            ),
        ];
        for kind in &self.kinds {
            queues.push((
                self.delivery_queue(kind),
                dead.clone(),
                self.deliveries_exchange(),
                kind.clone(),
            ));
        }
        for (queue, dead_letter_to, exchange, key) in queues {
            let options = QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            };
            ch.queue_declare(
                queue.as_str().into(),
                options,
                self.queue_args(&dead_letter_to),
            )
            .await?;
            ch.queue_bind(
                queue.as_str().into(),
                exchange.as_str().into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
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
        assert_eq!(t.dead_queue(), "herald.dead");
        assert_eq!("quorum".parse::<QueueType>(), Ok(QueueType::Quorum));
        assert!("mirrored".parse::<QueueType>().is_err());
    }
}
