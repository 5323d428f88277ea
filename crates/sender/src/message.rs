//! One message of jobs, settled once each of its jobs is: leased (from then on
//! the database owns the notification), finished, put aside, or found to be a
//! spare copy. Then the message is acked; if any job had to be handed back
//! (shutdown, database down), the whole message goes back to the queue, and the
//! jobs already taken care of are dropped as duplicates when it returns.
//!
//! It also counts the jobs a consumer holds that are not leased yet, so a
//! consumer takes no new message while it holds enough work. Deliveries in
//! flight are bounded by the slots and do not count: a notifier whose
//! deliveries hang must not keep the consumer from other notifiers' jobs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use herald_queue::Delivery;
use tokio::sync::Notify;

/// Jobs a consumer holds that are not leased yet, against a limit.
pub(crate) struct InHand {
    count: AtomicUsize,
    limit: usize,
    freed: Notify,
}

impl InHand {
    pub(crate) fn new(limit: usize) -> Arc<InHand> {
        Arc::new(InHand {
            count: AtomicUsize::new(0),
            limit: limit.max(1),
            freed: Notify::new(),
        })
    }

    /// Returns once fewer jobs than the limit are in hand.
    pub(crate) async fn room(&self) {
        loop {
            let freed = self.freed.notified();
            if self.count.load(Ordering::Acquire) < self.limit {
                return;
            }
            freed.await;
        }
    }

    fn take(&self, n: usize) {
        self.count.fetch_add(n, Ordering::AcqRel);
    }

    fn give(&self) {
        self.count.fetch_sub(1, Ordering::AcqRel);
        self.freed.notify_waiters();
    }
}

struct Message {
    delivery: Delivery,
    queue: Arc<str>,
    remaining: AtomicUsize,
    handed_back: AtomicBool,
    in_hand: Arc<InHand>,
}

/// One job's share in settling its message. Dropped unsettled, it hands the
/// job back, so a task that ends early never leaves its message unacked.
pub(crate) struct Part {
    message: Arc<Message>,
    /// Still counted in hand (not leased yet).
    in_hand: bool,
    settled: bool,
}

/// Splits a message of `n` jobs into one part per job.
pub(crate) fn parts(
    delivery: Delivery,
    queue: &Arc<str>,
    n: usize,
    in_hand: &Arc<InHand>,
) -> Vec<Part> {
    in_hand.take(n);
    let message = Arc::new(Message {
        delivery,
        queue: queue.clone(),
        remaining: AtomicUsize::new(n),
        handed_back: AtomicBool::new(false),
        in_hand: in_hand.clone(),
    });
    (0..n)
        .map(|_| Part {
            message: message.clone(),
            in_hand: true,
            settled: false,
        })
        .collect()
}

impl Part {
    /// The message this job came in (to dead-letter the job from it).
    pub(crate) fn delivery(&self) -> &Delivery {
        &self.message.delivery
    }

    /// The queue the message came from.
    pub(crate) fn queue(&self) -> &str {
        &self.message.queue
    }

    /// The job is leased: it leaves the count in hand, though its message
    /// waits for its outcome.
    pub(crate) fn leased(&mut self) {
        if std::mem::replace(&mut self.in_hand, false) {
            self.message.in_hand.give();
        }
    }

    /// The job is taken care of.
    pub(crate) fn done(mut self) {
        self.settle(false);
    }

    /// The job could not be taken care of: its message goes back to the queue.
    pub(crate) fn hand_back(mut self) {
        self.settle(true);
    }

    fn settle(&mut self, hand_back: bool) {
        if std::mem::replace(&mut self.settled, true) {
            return;
        }
        self.leased();
        let message = &self.message;
        if hand_back {
            message.handed_back.store(true, Ordering::Release);
        }
        // Without a runtime (the process is ending) the channel closes unacked
        // and the broker requeues the message.
        if message.remaining.fetch_sub(1, Ordering::AcqRel) == 1
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let message = message.clone();
            runtime.spawn(async move {
                if message.handed_back.load(Ordering::Acquire) {
                    message.delivery.requeue().await;
                } else {
                    message.delivery.ack().await;
                }
            });
        }
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        self.settle(true);
    }
}
