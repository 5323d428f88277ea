//! The sender: consumes the delivery queue of every channel kind, delivers each
//! job, and records how its attempt ended.
//!
//! A message carries one job or many (jobs of one kind travel together). For
//! each job the sender takes a share of its notifier, a slot, and a lease on the
//! notification in the database; once every job of a message has its outcome
//! written (or was handed over to the database, see `job`), the message is
//! acked. A job whose notification is done, leased by another sender or put
//! aside is a spare copy and is dropped.
//!
//! Each lease covers one attempt. A success is recorded as sent; a permanent
//! failure, or the last retryable one, as failed with a row in the error table
//! (which `flush` replays); any other retryable failure puts the notification
//! aside until its next attempt (backoff, `Retry-After`), with its error, for
//! the scheduler to queue again. Nothing waits in the sender between attempts.
//!
//! A notifier gets a bounded share of the slots; a slow or failing one has its
//! extra jobs put aside for a moment (see `limits`). Critical events have their
//! own queues and slots. While the database is unreachable the sender stops
//! consuming; on shutdown the deliveries in flight finish, the jobs not started
//! go back to the queue.
//!
//! It does not route events and does not replay failures.

mod batch;
mod job;
mod limits;
mod message;
mod outcome;
pub mod retry;
mod rules;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use herald_channels::{Guard, NotifierConfig, Outbound};
use herald_metrics::Metrics;
use herald_model::{DeliveryJob, Keyring};
use herald_queue::{Publisher, Subscription};
use herald_store::{Claim, Defer, LeaseRequest, Store};
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};
use uuid::Uuid;

use crate::batch::Batcher;
use crate::limits::InFlight;
use crate::message::InHand;

pub use retry::RetryPolicy;

#[derive(Debug, Clone)]
pub struct SenderOptions {
    /// Deliveries in flight at once, over all kinds.
    pub concurrency: usize,
    /// Deliveries in flight at once to a slow or failing notifier; more are
    /// put aside for a moment.
    pub per_notifier: usize,
    /// Jobs a sender holds per queue whose outcome is not written yet (and
    /// messages the broker may push ahead).
    pub prefetch: u16,
    /// Defaults for notifiers that set no `max_elapsed` / `max_attempts`.
    pub retry: RetryPolicy,
    /// Default time one attempt may take, for notifiers that set no `timeout`.
    pub timeout: Duration,
    /// Replays after which a failure is `dead`.
    pub max_replays: i32,
    /// How long in-flight deliveries may take to finish on shutdown.
    pub shutdown_timeout: Duration,
    /// Herald's public base URL, `herald.url` to templates.
    pub public_url: String,
    /// Where deliveries may connect, and the HTTP clients that check it.
    pub outbound: Outbound,
}

impl Default for SenderOptions {
    fn default() -> Self {
        SenderOptions {
            concurrency: 1024,
            per_notifier: 256,
            prefetch: 512,
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(10),
            max_replays: 10,
            shutdown_timeout: Duration::from_secs(30),
            public_url: String::new(),
            outbound: Outbound::new(Guard::default()),
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
}

/// What every delivery task shares.
struct Worker {
    store: Store,
    publisher: Arc<Publisher>,
    key: Arc<Keyring>,
    metrics: Arc<Metrics>,
    options: SenderOptions,
    in_flight: Arc<InFlight>,
    claims: Batcher<LeaseRequest, Claim>,
    sent: Batcher<herald_store::Sent, ()>,
    retries: Batcher<herald_store::Retry, ()>,
    defers: Batcher<Defer, ()>,
    watches: Batcher<(Uuid, Uuid), ()>,
    /// Unsealed, parsed notifier settings by notifier and version.
    settings: Mutex<HashMap<(Uuid, OffsetDateTime), Arc<NotifierConfig>>>,
    /// The rules' templates, by configuration version.
    rules: rules::RuleCache,
    database_down: AtomicBool,
}

impl Sender {
    pub fn new(
        store: Store,
        publisher: Arc<Publisher>,
        key: Arc<Keyring>,
        metrics: Arc<Metrics>,
        options: SenderOptions,
    ) -> Sender {
        let worker = Worker {
            claims: Batcher::spawn({
                let store = store.clone();
                move |requests| {
                    let store = store.clone();
                    async move { store.claim_many(&requests).await }
                }
            }),
            sent: Batcher::spawn_writes({
                let store = store.clone();
                move |sent| {
                    let store = store.clone();
                    async move { store.record_sent_many(&sent).await }
                }
            }),
            retries: Batcher::spawn_writes({
                let store = store.clone();
                move |retries| {
                    let store = store.clone();
                    async move { store.record_retries(&retries).await }
                }
            }),
            defers: Batcher::spawn_writes({
                let store = store.clone();
                move |defers| {
                    let store = store.clone();
                    async move { store.defer_many(&defers).await }
                }
            }),
            watches: Batcher::spawn_writes({
                let store = store.clone();
                move |leases| {
                    let store = store.clone();
                    async move { store.watch_leases(&leases).await }
                }
            }),
            store,
            publisher,
            key,
            metrics,
            in_flight: InFlight::new(options.per_notifier),
            options,
            settings: Mutex::new(HashMap::new()),
            rules: rules::RuleCache::default(),
            database_down: AtomicBool::new(false),
        };
        Sender {
            worker: Arc::new(worker),
        }
    }

    /// Delivers until `shutdown`, then waits up to the shutdown timeout for
    /// deliveries in flight; jobs not leased yet go back to the queue.
    pub async fn run(self, shutdown: CancellationToken) {
        let concurrency = self.worker.options.concurrency.max(1);
        let slots = Arc::new(Semaphore::new(concurrency));
        // Critical jobs have slots of their own: they never wait behind a backlog.
        let critical_slots = Arc::new(Semaphore::new((concurrency / 8).max(4)));
        let tracker = TaskTracker::new();
        let topology = self.worker.publisher.broker().topology().clone();
        let lanes = topology.kinds().iter().flat_map(|kind| {
            [
                Lane {
                    queue: topology.delivery_queue(kind),
                    critical: false,
                    slots: slots.clone(),
                },
                Lane {
                    queue: topology.later_delivery_queue(kind),
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
                "deliveries still in flight at the shutdown timeout are left to their leases"
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
        let prefetch = self.options.prefetch;
        // About `prefetch` jobs in hand, however many travel per message: the
        // rest waits in the queue, where the router sees the backlog.
        let budget = usize::from(prefetch);
        let mut sub = Subscription::with_budget(broker, queue.clone(), prefetch, budget);
        let in_hand = InHand::new(usize::from(prefetch));
        let queue_name: Arc<str> = queue.as_str().into();
        loop {
            tokio::select! {
                () = in_hand.room() => {}
                () = shutdown.cancelled() => break,
            }
            let Some(delivery) = sub.next(&shutdown).await else {
                break;
            };
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
            let jobs = match DeliveryJob::decode_all(delivery.body()) {
                Ok(jobs) if !jobs.is_empty() => jobs,
                Ok(_) => {
                    delivery.ack().await;
                    continue;
                }
                Err(e) => {
                    let reason = format!("invalid delivery job: {e}");
                    self.dead_letter_message(&delivery, &queue, &reason).await;
                    continue;
                }
            };
            sub.observe(jobs.len());
            let parts = message::parts(delivery, &queue_name, jobs.len(), &in_hand);
            for (job, part) in jobs.into_iter().zip(parts) {
                let worker = self.clone();
                let shutdown = shutdown.clone();
                let slots = slots.clone();
                // One task per job: a job waiting for its notifier's share holds
                // no slot and blocks no other notifier.
                tracker.spawn(async move {
                    worker.run(job, part, critical, slots, &shutdown).await;
                });
            }
        }
        sub
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
