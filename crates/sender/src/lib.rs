//! The sender: consumes the delivery queue of every channel kind, delivers each
//! job with retries, and records how it ended before acking it.
//!
//! For each job it first leases the notification in the database. A job whose
//! notification is already sent or failed is a duplicate and is acked without
//! sending; one leased by another worker is parked in the wait queue until the
//! lease ends (a worker that died mid-send leaves its lease to lapse). A final
//! failure becomes a row in the error table, which `flush` replays.
//!
//! Concurrency is bounded by a semaphore; a notifier that is slow or failing
//! gets a bounded share of it, its extra jobs waiting in the wait queue (see
//! `limits`). Critical events have their own queues, consumed beside the rest.
//! Waits between retries are async and end early on shutdown, when unfinished
//! deliveries are handed back to the queue. While the database is unreachable
//! the sender stops consuming.
//!
//! It does not route events and does not replay failures.

mod batch;
mod deferrer;
mod job;
mod limits;
pub mod retry;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use herald_metrics::Metrics;
use herald_model::DeliveryJob;
use herald_model::SecretKey;
use herald_queue::{Delivery, Publisher, Subscription};
use herald_store::{Claim, LeaseRequest, Sent, Store};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};
use uuid::Uuid;

use crate::batch::Batcher;
use crate::deferrer::Deferral;
use crate::limits::{Held, InFlight, Share};

/// How often a job waiting for its notifier's slot checks whether the notifier
/// turned slow, in which case it leaves for the wait queue.
const RECHECK: Duration = Duration::from_millis(100);

pub use retry::RetryPolicy;

#[derive(Debug, Clone)]
pub struct SenderOptions {
    /// Deliveries in flight at once, over all kinds.
    pub concurrency: usize,
    /// Deliveries in flight at once to a slow or failing notifier; more wait
    /// in the wait queue.
    pub per_notifier: usize,
    /// Unacked jobs the broker may push ahead, per kind.
    pub prefetch: u16,
    /// Defaults for notifiers that set no `max_elapsed` / `max_attempts`.
    pub retry: RetryPolicy,
    /// Default time one attempt may take, for notifiers that set no `timeout`.
    pub timeout: Duration,
    /// Replays after which a failure is `dead`.
    pub max_replays: i32,
    /// How long in-flight deliveries may take to finish on shutdown.
    pub shutdown_timeout: Duration,
}

impl Default for SenderOptions {
    fn default() -> Self {
        SenderOptions {
            concurrency: 256,
            per_notifier: 128,
            prefetch: 512,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(10),
            max_replays: 10,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

/// One queue a sender consumes, and the slots its deliveries take.
struct Lane {
    queue: String,
    critical: bool,
    slots: Arc<Semaphore>,
}

pub struct Sender {
    worker: Arc<Worker>,
    deferrals: mpsc::UnboundedReceiver<Deferral>,
}

/// What every delivery task shares.
struct Worker {
    store: Store,
    publisher: Arc<Publisher>,
    key: Arc<SecretKey>,
    http: reqwest::Client,
    metrics: Arc<Metrics>,
    options: SenderOptions,
    in_flight: Arc<InFlight>,
    claims: Batcher<LeaseRequest, Claim>,
    sent: Batcher<Sent, ()>,
    deferrals: mpsc::UnboundedSender<Deferral>,
    database_down: AtomicBool,
}

impl Sender {
    pub fn new(
        store: Store,
        publisher: Arc<Publisher>,
        key: Arc<SecretKey>,
        metrics: Arc<Metrics>,
        options: SenderOptions,
    ) -> Sender {
        let (to_defer, deferrals) = mpsc::unbounded_channel();
        let claiming = store.clone();
        let recording = store.clone();
        let worker = Worker {
            claims: Batcher::spawn(move |requests| {
                let store = claiming.clone();
                async move { store.claim_many(&requests).await }
            }),
            sent: Batcher::spawn(move |sent| {
                let store = recording.clone();
                async move {
                    store.record_sent_many(&sent).await?;
                    Ok(vec![(); sent.len()])
                }
            }),
            store,
            publisher,
            key,
            http: herald_channels::http::client(),
            metrics,
            in_flight: InFlight::new(options.per_notifier),
            options,
            deferrals: to_defer,
            database_down: AtomicBool::new(false),
        };
        Sender {
            worker: Arc::new(worker),
            deferrals,
        }
    }

    /// Delivers until `shutdown`, then waits up to the shutdown timeout for
    /// deliveries in flight; what is still unfinished goes back to the queue.
    pub async fn run(self, shutdown: CancellationToken) {
        let concurrency = self.worker.options.concurrency.max(1);
        let slots = Arc::new(Semaphore::new(concurrency));
        // Critical jobs have slots of their own: they never wait behind a backlog.
        let critical_slots = Arc::new(Semaphore::new((concurrency / 8).max(4)));
        let tracker = TaskTracker::new();
        let stop_deferring = CancellationToken::new();
        let deferrer = tokio::spawn(deferrer::run(
            self.worker.publisher.clone(),
            self.worker.metrics.clone(),
            self.deferrals,
            stop_deferring.clone(),
        ));
        let topology = self.worker.publisher.broker().topology().clone();
        let lanes = topology.kinds().iter().flat_map(|kind| {
            [
                Lane {
                    queue: topology.delivery_queue(kind),
                    critical: false,
                    slots: slots.clone(),
                },
                Lane {
                    queue: topology.critical_delivery_queue(kind),
                    critical: true,
                    slots: critical_slots.clone(),
                },
            ]
        });
        let consumers: Vec<_> = lanes
            .map(|lane| {
                info!(queue = %lane.queue, "sender consuming");
                tokio::spawn(
                    self.worker
                        .clone()
                        .consume(lane, tracker.clone(), shutdown.clone()),
                )
            })
            .collect();
        let mut subscriptions = Vec::new();
        for consumer in consumers {
            if let Ok(sub) = consumer.await {
                subscriptions.push(sub);
            }
        }
        tracker.close();
        let grace = self.worker.options.shutdown_timeout;
        if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
            warn!(
                ?grace,
                "deliveries still in flight at the shutdown timeout are handed back"
            );
        }
        stop_deferring.cancel();
        let _ = deferrer.await;
        // Closing the channels requeues whatever was prefetched or left unacked.
        for mut sub in subscriptions {
            sub.close().await;
        }
        info!("sender stopped");
    }
}

impl Worker {
    async fn consume(
        self: Arc<Self>,
        lane: Lane,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) -> Subscription {
        let Lane {
            queue,
            critical,
            slots,
        } = lane;
        let broker = self.publisher.broker().clone();
        let mut sub = Subscription::new(broker, queue.clone(), self.options.prefetch);
        while let Some(delivery) = sub.next(&shutdown).await {
            if self.database_down.load(Ordering::Relaxed) {
                // Stop taking work and hand back what has not started; deliveries
                // in flight keep the channel to ack once their outcome is written.
                delivery.requeue().await;
                for held in sub.pause().await {
                    held.requeue().await;
                }
                self.wait_for_database(&shutdown).await;
                continue;
            }
            let job: DeliveryJob = match serde_json::from_slice(delivery.body()) {
                Ok(job) => job,
                Err(e) => {
                    let reason = format!("invalid delivery job: {e}");
                    self.dead_letter(&delivery, &queue, &reason).await;
                    continue;
                }
            };
            let worker = self.clone();
            let queue = queue.clone();
            let shutdown = shutdown.clone();
            let slots = slots.clone();
            // One task per job, bounded by the prefetch: a job waiting for its
            // notifier's share holds no slot and blocks no other notifier.
            tracker.spawn(async move {
                let Some((share, delivery)) = worker.share(delivery, job.notifier_id, critical, &shutdown).await else {
                    return;
                };
                let permit = tokio::select! {
                    permit = slots.acquire_owned() => permit.expect("the semaphore is never closed"),
                    () = shutdown.cancelled() => return delivery.requeue().await,
                };
                worker.handle(delivery, job, &queue, &shutdown).await;
                drop((share, permit));
            });
        }
        sub
    }

    /// A slot of the notifier's share, waiting while the notifier is busy but
    /// healthy; `None` when the job was parked (slow or failing notifier) or
    /// handed back (shutdown).
    async fn share(
        &self,
        delivery: Delivery,
        notifier: Uuid,
        urgent: bool,
        shutdown: &CancellationToken,
    ) -> Option<(Held, Delivery)> {
        loop {
            match self.in_flight.try_hold(notifier, urgent) {
                Share::Held(held) => return Some((held, delivery)),
                Share::Defer(wait) => {
                    self.defer(delivery, wait);
                    return None;
                }
                Share::Wait(freed) => tokio::select! {
                    () = freed.notified() => {}
                    () = tokio::time::sleep(RECHECK) => {}
                    () = shutdown.cancelled() => {
                        delivery.requeue().await;
                        return None;
                    }
                },
            }
        }
    }

    async fn wait_for_database(&self, shutdown: &CancellationToken) {
        warn!("database unavailable; sender paused");
        tokio::select! {
            () = self.store.wait_until_reachable() => {}
            () = shutdown.cancelled() => return,
        }
        if self.database_down.swap(false, Ordering::Relaxed) {
            info!("database reachable again; sender resumes");
        }
    }
}
