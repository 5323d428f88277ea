//! Consuming with manual acks, re-subscribing after connection losses.
//!
//! The prefetch can change while consuming: a consumer that reads messages of
//! very different sizes (one event, or a hundred) keeps a budget of work in
//! hand rather than a number of messages, so that what it cannot take yet
//! stays in the queue, where the depth shows it (see [`crate::Depths`]).

use std::collections::VecDeque;
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

/// Work to keep in hand, and what messages carry of it on average.
struct Budget {
    units: usize,
    max: u16,
    mean: f64,
}

impl Budget {
    fn prefetch(&self) -> u16 {
        let fit = (self.units as f64 / self.mean).ceil();
        (fit as u16).clamp(2.min(self.max), self.max)
    }
}

/// A consumer of one queue with a bounded prefetch.
pub struct Subscription {
    broker: Broker,
    queue: String,
    /// The prefetch of the current consumer, and the one wanted from now on.
    prefetch: u16,
    wanted: u16,
    /// Deliveries that arrived for a consumer cancelled to change the prefetch,
    /// handed out before new ones.
    pending: VecDeque<Delivery>,
    /// Units of work (events, jobs) to keep in hand, if the prefetch follows
    /// the size of messages, and the running mean of units per message.
    budget: Option<Budget>,
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
            wanted: prefetch,
            pending: VecDeque::new(),
            budget: None,
            channel: None,
            consumer: None,
        }
    }

    /// A subscription whose prefetch follows the size of its messages: about
    /// `units` of work in hand, between 2 and `max` messages. Report each
    /// message's size with [`Subscription::observe`].
    pub fn with_budget(broker: Broker, queue: String, max: u16, units: usize) -> Subscription {
        let mut sub = Subscription::new(broker, queue, max);
        sub.budget = Some(Budget {
            units,
            max,
            mean: 1.0,
        });
        sub
    }

    /// One message carried `units` of work: the prefetch follows when the mean
    /// size moved enough (a factor of two) to matter.
    pub fn observe(&mut self, units: usize) {
        let Some(budget) = self.budget.as_mut() else {
            return;
        };
        budget.mean = 0.9 * budget.mean + 0.1 * units.max(1) as f64;
        let fit = budget.prefetch();
        let (now, fit_f) = (f64::from(self.wanted), f64::from(fit));
        if fit_f >= 2.0 * now || fit_f <= now / 2.0 {
            self.wanted = fit;
        }
    }

    /// Asks for `prefetch` unacked messages from now on; the consumer is
    /// replaced, on the same channel, before the next delivery is read.
    pub fn set_prefetch(&mut self, prefetch: u16) {
        self.wanted = prefetch.max(1);
    }

    pub fn queue(&self) -> &str {
        &self.queue
    }

    /// The next delivery, (re)subscribing whenever needed; `None` once `shutdown`
    /// is cancelled.
    pub async fn next(&mut self, shutdown: &CancellationToken) -> Option<Delivery> {
        if self.wanted != self.prefetch && self.consumer.is_some() {
            let held = self.pause().await;
            self.pending.extend(held);
        }
        if let Some(delivery) = self.pending.pop_front() {
            return Some(delivery);
        }
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

    /// The next delivery if one arrives on the current consumer before
    /// `deadline`; `None` otherwise (it never re-subscribes, so it is safe to
    /// give up on).
    pub async fn next_before(&mut self, deadline: tokio::time::Instant) -> Option<Delivery> {
        if let Some(delivery) = self.pending.pop_front() {
            return Some(delivery);
        }
        let consumer = self.consumer.as_mut()?;
        match tokio::time::timeout_at(deadline, consumer.next()).await {
            Ok(Some(Ok(inner))) => Some(Delivery { inner }),
            _ => None,
        }
    }

    /// Deliveries that have already arrived, up to `max`, without waiting.
    pub fn ready(&mut self, max: usize) -> Vec<Delivery> {
        let take = max.min(self.pending.len());
        let mut out: Vec<Delivery> = self.pending.drain(..take).collect();
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
            return self.pending.drain(..).collect();
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
        self.pending.clear();
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

    /// Consumes on the current channel if it is still open, else on a new one,
    /// with the wanted prefetch (it applies to consumers started after it).
    async fn try_subscribe(&mut self) -> Result<Consumer, crate::QueueError> {
        let open = self.channel.take().filter(|(_, c)| c.status().connected());
        let (generation, channel) = match open {
            Some(open) => open,
            None => self.broker.channel(Duration::from_secs(5)).await?,
        };
        bounded(
            "basic.qos",
            channel.basic_qos(self.wanted, BasicQosOptions::default()),
        )
        .await?;
        let consume = channel.basic_consume(
            self.queue.as_str().into(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        );
        let consumer = bounded("basic.consume", consume).await?;
        self.prefetch = self.wanted;
        self.channel = Some((generation, channel));
        Ok(consumer)
    }
}

#[cfg(test)]
mod tests {
    use super::Budget;

    #[test]
    fn the_prefetch_keeps_a_budget_of_work_whatever_the_message_size() {
        // (units in hand, max messages, units per message) -> messages
        let cases = [
            (400, 512, 1.0, 400),
            (400, 512, 100.0, 4),
            (400, 512, 0.5, 512),
            (400, 512, 1000.0, 2),
            (400, 1, 100.0, 1),
        ];
        for (units, max, mean, want) in cases {
            let budget = Budget { units, max, mean };
            assert_eq!(budget.prefetch(), want, "{units} units, {mean} per message");
        }
    }
}
