//! Publishing that only succeeds on a broker confirm.

use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Confirmation};
use tokio::sync::Mutex;
use tracing::debug;

use crate::{Broker, Delivery, QUEUE_HEADER, QueueError, REASON_HEADER};

/// One message to publish. Every message is persistent.
#[derive(Debug, Clone, Default)]
pub struct Outgoing {
    pub exchange: String,
    pub routing_key: String,
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub message_id: Option<String>,
    pub headers: Vec<(&'static str, String)>,
}

impl Outgoing {
    pub fn json(exchange: String, routing_key: String, body: Vec<u8>) -> Outgoing {
        Outgoing {
            exchange,
            routing_key,
            body,
            content_type: Some("application/json".into()),
            ..Outgoing::default()
        }
    }

    fn properties(&self) -> BasicProperties {
        let mut props = BasicProperties::default().with_delivery_mode(2);
        if let Some(ct) = &self.content_type {
            props = props.with_content_type(ct.as_str().into());
        }
        if let Some(id) = &self.message_id {
            props = props.with_message_id(id.as_str().into());
        }
        if !self.headers.is_empty() {
            let mut table = FieldTable::default();
            for (k, v) in &self.headers {
                table.insert((*k).into(), AMQPValue::LongString(v.as_str().into()));
            }
            props = props.with_headers(table);
        }
        props
    }
}

/// Publishes batches with confirms on one channel, pipelined: all messages of a
/// batch are written before any confirm is awaited.
pub struct Publisher {
    broker: Broker,
    channel: Mutex<Option<Channel>>,
    timeout: Duration,
}

impl Publisher {
    /// `timeout` bounds each call, waiting for the connection included.
    pub fn new(broker: Broker, timeout: Duration) -> Publisher {
        Publisher {
            broker,
            channel: Mutex::new(None),
            timeout,
        }
    }

    pub fn broker(&self) -> &Broker {
        &self.broker
    }

    /// Returns `Ok` only when the broker confirmed every message and routed each
    /// to at least one queue.
    pub async fn publish(&self, messages: &[Outgoing]) -> Result<(), QueueError> {
        if messages.is_empty() {
            return Ok(());
        }
        let outcome = tokio::time::timeout(self.timeout, self.publish_confirmed(messages)).await;
        let result = outcome.unwrap_or(Err(QueueError::Timeout(self.timeout)));
        if result.is_err() {
            // The channel may be half-broken; the next call opens a fresh one.
            *self.channel.lock().await = None;
        }
        result
    }

    async fn publish_confirmed(&self, messages: &[Outgoing]) -> Result<(), QueueError> {
        let channel = self.channel().await?;
        let mut confirms = Vec::with_capacity(messages.len());
        for m in messages {
            let confirm = channel
                .basic_publish(
                    m.exchange.as_str().into(),
                    m.routing_key.as_str().into(),
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    &m.body,
                    m.properties(),
                )
                .await
                .map_err(QueueError::amqp("basic.publish"))?;
            confirms.push(confirm);
        }
        for (confirm, m) in confirms.into_iter().zip(messages) {
            let names = || (m.exchange.clone(), m.routing_key.clone());
            match confirm
                .await
                .map_err(QueueError::amqp("publisher confirm"))?
            {
                Confirmation::Ack(None) => {}
                Confirmation::Ack(Some(_)) => {
                    let (exchange, routing_key) = names();
                    return Err(QueueError::Unroutable {
                        exchange,
                        routing_key,
                    });
                }
                Confirmation::Nack(_) | Confirmation::NotRequested => {
                    let (exchange, routing_key) = names();
                    return Err(QueueError::Nacked {
                        exchange,
                        routing_key,
                    });
                }
            }
        }
        Ok(())
    }

    async fn channel(&self) -> Result<Channel, QueueError> {
        let mut slot = self.channel.lock().await;
        if let Some(ch) = slot.as_ref().filter(|c| c.status().connected()) {
            return Ok(ch.clone());
        }
        let (_, ch) = self.broker.channel(self.timeout).await?;
        ch.confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(QueueError::amqp("confirm.select"))?;
        debug!("opened a confirming publisher channel");
        *slot = Some(ch.clone());
        Ok(ch)
    }

    /// Moves a message that cannot be processed to the dead-letter queue with the
    /// reason in a header. The caller acks the original once this returns `Ok`.
    pub async fn dead_letter(
        &self,
        delivery: &Delivery,
        queue: &str,
        reason: &str,
    ) -> Result<(), QueueError> {
        self.dead_letter_part(delivery, delivery.body(), queue, reason)
            .await
    }

    /// As [`Publisher::dead_letter`], for one part `body` of a message that
    /// carries several (one event of an array): the other parts go on.
    pub async fn dead_letter_part(
        &self,
        delivery: &Delivery,
        body: &[u8],
        queue: &str,
        reason: &str,
    ) -> Result<(), QueueError> {
        let topology = self.broker.topology();
        let message = Outgoing {
            exchange: topology.dead_exchange(),
            routing_key: queue.to_owned(),
            body: body.to_vec(),
            content_type: delivery.content_type(),
            message_id: delivery.message_id(),
            headers: vec![
                (REASON_HEADER, reason.to_owned()),
                (QUEUE_HEADER, queue.to_owned()),
                ("x-herald-routing-key", delivery.routing_key().to_owned()),
            ],
        };
        self.publish(std::slice::from_ref(&message)).await
    }
}
