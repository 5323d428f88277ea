//! Consuming with manual acks, re-subscribing after connection losses.

use std::time::Duration;

use futures::{FutureExt, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::FieldTable;
use lapin::{Channel, Consumer};
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::{Broker, bounded};

/// A received message. Dropping it without acking leaves it with the broker,
/// which redelivers it when this channel closes.
pub struct Delivery {
    inner: lapin::message::Delivery,
}

impl Delivery {
    pub fn body(&self) -> &[u8] {
        &self.inner.data
    }

    pub fn routing_key(&self) -> &str {
        self.inner.routing_key.as_str()
    }

    pub fn content_type(&self) -> Option<String> {
        self.inner
            .properties
            .content_type()
            .as_ref()
            .map(|c| c.to_string())
    }

    pub fn message_id(&self) -> Option<String> {
        self.inner
            .properties
            .message_id()
            .as_ref()
            .map(|c| c.to_string())
    }

    /// A failed ack is only logged: the broker redelivers what it never saw acked,
    /// and every consumer is idempotent.
    pub async fn ack(&self) {
        if let Err(error) = bounded("basic.ack", self.inner.ack(BasicAckOptions::default())).await {
            debug!(%error, "ack not sent; the broker will redeliver");
        }
    }

    /// Acks this delivery and every earlier one of the same channel in one
    /// frame; for consumers that settle their deliveries in order.
    pub async fn ack_up_to(&self) {
        let multiple = BasicAckOptions { multiple: true };
        if let Err(error) = bounded("basic.ack", self.inner.ack(multiple)).await {
            debug!(%error, "ack not sent; the broker will redeliver");
        }
    }

    /// Hands the message back to the queue for another consumer.
    pub async fn requeue(&self) {
        let options = BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        };
        if let Err(error) = bounded("basic.nack", self.inner.nack(options)).await {
            debug!(%error, "nack not sent; the broker will redeliver");
        }
    }
}

/// A consumer of one queue with a bounded prefetch.
pub struct Subscription {
    broker: Broker,
    queue: String,
    prefetch: u16,
    /// Kept across a pause, so that deliveries still in flight can be acked;
    /// with the number of the connection it is on.
    channel: Option<(u64, Channel)>,
    consumer: Option<Consumer>,
}

impl Subscription {
    pub fn new(broker: Broker, queue: String, prefetch: u16) -> Subscription {
        Subscription {
            broker,
            queue,
            prefetch,
            channel: None,
            consumer: None,
        }
    }

    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// The next delivery, (re)subscribing whenever needed; `None` once `shutdown`
    /// is cancelled.
    pub async fn next(&mut self, shutdown: &CancellationToken) -> Option<Delivery> {
        loop {
            if self.consumer.is_none() {
                self.consumer = Some(self.subscribe(shutdown).await?);
            }
            let generation = self.channel.as_ref().map_or(0, |(g, _)| *g);
            let broker = self.broker.clone();
            let consumer = self.consumer.as_mut()?;
            // Shutdown first: at shutdown the connection goes too, and that is no reason to resubscribe.
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return None,
                item = consumer.next() => match item {
                    Some(Ok(inner)) => return Some(Delivery { inner }),
                    Some(Err(error)) => {
                        warn!(queue = %self.queue, %error, "consumer failed; re-subscribing");
                        self.consumer = None;
                    }
                    None => {
                        warn!(queue = %self.queue, "consumer cancelled by the broker; re-subscribing");
                        self.consumer = None;
                    }
                },
                () = broker.lost(generation) => {
                    warn!(queue = %self.queue, "connection replaced; re-subscribing");
                    self.consumer = None;
                    self.channel = None;
                }
            }
        }
    }

    /// Deliveries that have already arrived, up to `max`, without waiting.
    pub fn ready(&mut self, max: usize) -> Vec<Delivery> {
        let mut out = Vec::new();
        let Some(consumer) = self.consumer.as_mut() else {
            return out;
        };
        while out.len() < max {
            match consumer.next().now_or_never() {
                Some(Some(Ok(inner))) => out.push(Delivery { inner }),
                _ => break,
            }
        }
        out
    }

    /// Asks the broker to stop sending (`basic.cancel`) but keeps the channel,
    /// so deliveries being worked on can still be acked. Returns what had
    /// arrived and was not handed out yet; the caller hands it back. The next
    /// call to `next` subscribes again.
    pub async fn pause(&mut self) -> Vec<Delivery> {
        let (Some((_, channel)), Some(consumer)) = (&self.channel, &self.consumer) else {
            return Vec::new();
        };
        let _ = bounded(
            "basic.cancel",
            channel.basic_cancel(consumer.tag(), BasicCancelOptions::default()),
        )
        .await;
        // Everything sent before the cancel-ok has arrived by now.
        let held = self.ready(usize::MAX);
        self.consumer = None;
        held
    }

    /// Closes the channel: the broker requeues everything unacked at once.
    pub async fn close(&mut self) {
        self.consumer = None;
        if let Some((_, channel)) = self.channel.take() {
            let _ = bounded("channel.close", channel.close(200, "closing".into())).await;
        }
    }

    async fn subscribe(&mut self, shutdown: &CancellationToken) -> Option<Consumer> {
        let mut delay = Duration::from_millis(100);
        loop {
            if shutdown.is_cancelled() {
                return None;
            }
            match self.try_subscribe().await {
                Ok(consumer) => return Some(consumer),
                Err(error) => {
                    debug!(queue = %self.queue, %error, "cannot subscribe yet");
                    self.channel = None;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.cancelled() => return None,
            }
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// Consumes on the current channel if it is still open, else on a new one.
    async fn try_subscribe(&mut self) -> Result<Consumer, crate::QueueError> {
        let open = self.channel.take().filter(|(_, c)| c.status().connected());
        let (generation, channel) = match open {
            Some(open) => open,
            None => {
                let (generation, channel) = self.broker.channel(Duration::from_secs(5)).await?;
                bounded(
                    "basic.qos",
                    channel.basic_qos(self.prefetch, BasicQosOptions::default()),
                )
                .await?;
                (generation, channel)
            }
        };
        let consume = channel.basic_consume(
            self.queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        );
        let consumer = bounded("basic.consume", consume).await?;
        self.channel = Some((generation, channel));
        Ok(consumer)
    }
}
