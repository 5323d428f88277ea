//! How many messages wait in a queue, and how many consumers it has: what
//! stages that push back read before they take or add more work. Each answer
//! is a passive `queue.declare`, kept for a few milliseconds, so callers that
//! ask often cost the broker little. `/metrics` reads every queue's depth
//! here too ([`Depths::of_each`]). AMQP tells ready messages and consumers,
//! not unacknowledged messages: those only the broker's own metrics show.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use lapin::Channel;
use lapin::options::QueueDeclareOptions;
use lapin::types::FieldTable;
use tokio::sync::Mutex;

use crate::{Broker, QueueError, bounded};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Depth {
    /// Messages ready, not delivered to any consumer.
    pub ready: u32,
    pub consumers: u32,
}

/// Why a probe has no depth: the broker said no for this queue, or could
/// not be asked at all.
enum Unanswered {
    Queue,
    Broker,
}

pub struct Depths {
    broker: Broker,
    /// How long an answer is reused.
    fresh: Duration,
    /// A failed passive declare (a queue that does not exist) closes its
    /// channel, so depths use one of their own.
    channel: Mutex<Option<Channel>>,
    known: std::sync::Mutex<HashMap<String, (Instant, Depth)>>,
}

impl Depths {
    /// Depths read through `broker`, each answer reused for `fresh`.
    pub fn new(broker: Broker, fresh: Duration) -> Depths {
        Depths {
            broker,
            fresh,
            channel: Mutex::new(None),
            known: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// The depth of `queue`, at most `fresh` old; `None` if the broker cannot
    /// tell now (unreachable, no such queue).
    pub async fn of(&self, queue: &str) -> Option<Depth> {
        self.probe(queue).await.ok()
    }

    /// The depth of each of `queues` (e.g. [`crate::Topology::queue_names`]),
    /// each at most `fresh` old, in their order; `None` for a queue the broker
    /// did not tell. Once the broker is unreachable, or stops answering, the
    /// remaining queues are not asked: a scrape during an outage answers at
    /// once instead of waiting for each queue in turn.
    pub async fn of_each(&self, queues: &[String]) -> Vec<(String, Option<Depth>)> {
        let mut depths = Vec::with_capacity(queues.len());
        let mut reachable = self.broker.is_connected();
        for queue in queues {
            let depth = if reachable {
                match self.probe(queue).await {
                    Ok(depth) => Some(depth),
                    Err(Unanswered::Queue) => None,
                    Err(Unanswered::Broker) => {
                        reachable = false;
                        None
                    }
                }
            } else {
                None
            };
            depths.push((queue.clone(), depth));
        }
        depths
    }

    async fn probe(&self, queue: &str) -> Result<Depth, Unanswered> {
        if let Some(depth) = self.cached(queue) {
            return Ok(depth);
        }
        let mut slot = self.channel.lock().await;
        // Another caller may have asked while this one waited for the channel.
        if let Some(depth) = self.cached(queue) {
            return Ok(depth);
        }
        let channel = match slot.as_ref().filter(|c| c.status().connected()) {
            Some(channel) => channel.clone(),
            None => {
                let (_, channel) = self
                    .broker
                    .channel(Duration::from_secs(1))
                    .await
                    .map_err(|_| Unanswered::Broker)?;
                *slot = Some(channel.clone());
                channel
            }
        };
        let passive = QueueDeclareOptions {
            passive: true,
            ..QueueDeclareOptions::default()
        };
        let declared = channel.queue_declare(queue.into(), passive, FieldTable::default());
        let found = match bounded("queue.declare", declared).await {
            Ok(found) => found,
            Err(e) => {
                *slot = None;
                // The broker answered (no such queue, the channel closed for
                // it) unless the call timed out or the connection went.
                let answered = matches!(e, QueueError::Amqp { .. }) && self.broker.is_connected();
                return Err(if answered {
                    Unanswered::Queue
                } else {
                    Unanswered::Broker
                });
            }
        };
        let depth = Depth {
            ready: found.message_count(),
            consumers: found.consumer_count(),
        };
        self.known
            .lock()
            .expect("never poisoned")
            .insert(queue.to_owned(), (Instant::now(), depth));
        Ok(depth)
    }

    /// A known depth still fresh: an empty queue's for five times longer,
    /// since a backlog takes a while to build and at a trickle the probes
    /// would cost more than the work.
    fn cached(&self, queue: &str) -> Option<Depth> {
        let known = self.known.lock().expect("never poisoned");
        let (at, depth) = known.get(queue)?;
        let fresh = match depth.ready {
            0 => self.fresh * 5,
            _ => self.fresh,
        };
        (at.elapsed() < fresh).then_some(*depth)
    }

    /// Waits while `queue` has consumers and more than `limit` messages ready,
    /// checking as often as answers go stale. With `wait`, gives up after that
    /// long, and sooner when the queue has not shrunk for `stall`: waiting for
    /// a backlog that is not draining helps no one.
    pub async fn room(&self, queue: &str, limit: u32, wait: Option<(Duration, Duration)>) {
        let start = Instant::now();
        let (mut least, mut shrank) = (u32::MAX, start);
        loop {
            let ready = match self.of(queue).await {
                Some(d) if d.consumers > 0 && d.ready > limit => d.ready,
                _ => return,
            };
            if ready < least {
                (least, shrank) = (ready, Instant::now());
            }
            if let Some((most, stall)) = wait
                && (start.elapsed() >= most || shrank.elapsed() >= stall)
            {
                return;
            }
            tokio::time::sleep(self.fresh).await;
        }
    }
}
