//! The sender: consumes the delivery queue of every channel kind, delivers each
//! job with retries, and records how it ended before acking it.
//!
//! For each job it first leases the notification in the database. A job whose
//! notification is already sent or failed is a duplicate and is acked without
//! sending; one leased by another worker is parked in the wait queue until the
//! lease ends (a worker that died mid-send leaves its lease to lapse). A final
//! failure becomes a row in the error table, which `flush` replays.
//!
//! Concurrency is bounded by a semaphore; waits between retries are async and
//! end early on shutdown, when unfinished deliveries are handed back to the
//! queue. While the database is unreachable the sender stops consuming.
//!
//! It does not route events and does not replay failures.

mod job;
mod limits;
pub mod retry;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use herald_metrics::Metrics;
use herald_model::DeliveryJob;
use herald_model::SecretKey;
use herald_queue::{Publisher, Subscription};
use herald_store::Store;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::limits::InFlight;

pub use retry::RetryPolicy;

#[derive(Debug, Clone)]
pub struct SenderOptions {
    /// Deliveries in flight at once, over all kinds.
    pub concurrency: usize,
    /// Deliveries in flight at once to one notifier; more wait in the wait queue.
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
            concurrency: 64,
            per_notifier: 16,
            prefetch: 128,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(10),
            max_replays: 10,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

pub struct Sender {
    worker: Arc<Worker>,
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
        let worker = Worker {
            store,
            publisher,
            key,
            http: herald_channels::http::client(),
            metrics,
            in_flight: InFlight::new(options.per_notifier),
            options,
            database_down: AtomicBool::new(false),
        };
        Sender {
            worker: Arc::new(worker),
        }
    }

    /// Delivers until `shutdown`, then waits up to the shutdown timeout for
    /// deliveries in flight; what is still unfinished goes back to the queue.
    pub async fn run(self, shutdown: CancellationToken) {
        let slots = Arc::new(Semaphore::new(self.worker.options.concurrency.max(1)));
        let tracker = TaskTracker::new();
        let topology = self.worker.publisher.broker().topology().clone();
        let consumers: Vec<_> = topology
            .kinds()
            .iter()
            .map(|kind| {
                let queue = topology.delivery_queue(kind);
                info!(%queue, "sender consuming");
                tokio::spawn(self.worker.clone().consume(
                    queue,
                    slots.clone(),
                    tracker.clone(),
                    shutdown.clone(),
                ))
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
        queue: String,
        slots: Arc<Semaphore>,
        tracker: TaskTracker,
        shutdown: CancellationToken,
    ) -> Subscription {
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
            let Some(share) = self.in_flight.try_hold(job.notifier_id) else {
                // This notifier already holds its share of the slots (its endpoint
                // is slow or failing): the job waits outside, not in the prefetch.
                let wait = self.options.timeout.max(Duration::from_secs(1));
                self.defer(&delivery, delivery.routing_key(), wait).await;
                continue;
            };
            let permit = tokio::select! {
                permit = slots.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
                () = shutdown.cancelled() => {
                    delivery.requeue().await;
                    break;
                }
            };
            let worker = self.clone();
            let queue = queue.clone();
            let shutdown = shutdown.clone();
            tracker.spawn(async move {
                worker.handle(delivery, job, &queue, &shutdown).await;
                drop((share, permit));
            });
        }
        sub
    }

    async fn wait_for_database(&self, shutdown: &CancellationToken) {
        warn!("database unavailable; sender paused");
        let mut delay = Duration::from_millis(200);
        while self.store.ping().await.is_err() {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.cancelled() => return,
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        if self.database_down.swap(false, Ordering::Relaxed) {
            info!("database reachable again; sender resumes");
        }
    }
}
