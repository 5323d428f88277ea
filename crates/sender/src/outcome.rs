//! What a job's end writes: sent, failed, tried again later, put aside,
//! dead-lettered, or handed back; with the metric and the log line of each.

use std::sync::atomic::Ordering;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use herald_channels::DeliveryError;
use herald_model::DeliveryJob;
use herald_queue::Delivery;
use herald_store::{Defer, Failed, Retry, Sent, StoreError};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::Worker;
use crate::job::Lease;
use crate::message::Part;

impl Worker {
    /// Records a success; whether it was written.
    pub(crate) async fn finish_sent(
        &self,
        job: &DeliveryJob,
        kind: &str,
        targets: Option<serde_json::Value>,
        shutdown: &CancellationToken,
    ) -> bool {
        let id = job.notification_id;
        let sent = Sent {
            notification_id: id,
            targets,
        };
        if self
            .persist("record a sent notification", shutdown, || {
                self.sent.call(sent.clone())
            })
            .await
            .is_none()
        {
            // The job comes back and finds the lease: it may be sent twice.
            warn!(notification = %id, "sent, but the outcome could not be recorded before shutdown");
            return false;
        }
        let latency = (OffsetDateTime::now_utc() - job.routed_at)
            .as_seconds_f64()
            .max(0.0);
        self.metrics
            .delivery_latency
            .with_label_values(&[kind])
            .observe(latency);
        self.count(kind, "sent");
        debug!(notification = %id, kind, "delivered");
        true
    }

    /// Records a round that failed for good; whether it was written.
    pub(crate) async fn finish_failed(
        &self,
        held: Lease<'_>,
        kind: &str,
        attempts: u32,
        reason: &str,
        targets: Option<&serde_json::Value>,
        shutdown: &CancellationToken,
    ) -> bool {
        let job = held.job;
        warn!(notification = %job.notification_id, notifier = %job.notifier_id, kind, attempts, error = reason, "delivery failed");
        let written = self
            .persist_failure(held, attempts, reason, targets, false, shutdown)
            .await;
        if written {
            self.count(kind, "failed");
        }
        written
    }

    /// Puts the notification aside until its next attempt, with this one's
    /// error; whether it was written.
    pub(crate) async fn retry_later(
        &self,
        held: Lease<'_>,
        kind: &str,
        wait: Duration,
        error: DeliveryError,
        targets: Option<serde_json::Value>,
        shutdown: &CancellationToken,
    ) -> bool {
        let retry = Retry {
            notification_id: held.job.notification_id,
            token: held.token,
            wait,
            error: error.message,
            targets,
        };
        debug!(notification = %retry.notification_id, error = %retry.error, ?wait, "delivery failed; will retry");
        let written = self
            .persist("record a retry", shutdown, || {
                self.retries.call(retry.clone())
            })
            .await
            .is_some();
        if written {
            self.count(kind, "retried");
        }
        written
    }

    /// Puts a job of a busy notifier aside for `wait`, before any lease.
    pub(crate) async fn defer(&self, job: &DeliveryJob, part: Part, wait: Duration) {
        let defer = Defer {
            notification_id: job.notification_id,
            wait,
        };
        match self.defers.call(defer).await {
            Ok(()) => {
                self.count(part.delivery().routing_key(), "deferred");
                part.done();
            }
            Err(e) if e.is_unavailable() => self.database_lost(part, &e),
            Err(e) => {
                warn!(notification = %job.notification_id, error = %e, "cannot put a job aside");
                self.hand_back(part);
            }
        }
    }

    /// Moves one job of a message to the dead-letter queue with the reason.
    pub(crate) async fn dead_letter(&self, job: &DeliveryJob, part: Part, reason: &str) {
        let body = serde_json::to_vec(job).expect("a job is JSON");
        let queue = part.queue().to_owned();
        warn!(queue, reason, "dead-lettering a delivery job");
        match self
            .publisher
            .dead_letter_part(part.delivery(), &body, &queue, reason)
            .await
        {
            Ok(()) => {
                self.metrics
                    .dead_lettered
                    .with_label_values(&[&queue])
                    .inc();
                part.done();
            }
            Err(_) => self.hand_back(part),
        }
    }

    /// Moves a whole message that holds no readable job to the dead-letter queue.
    pub(crate) async fn dead_letter_message(&self, delivery: &Delivery, queue: &str, reason: &str) {
        warn!(queue, reason, "dead-lettering a delivery message");
        match self.publisher.dead_letter(delivery, queue, reason).await {
            Ok(()) => {
                self.metrics.dead_lettered.with_label_values(&[queue]).inc();
                delivery.ack().await;
            }
            Err(_) => delivery.requeue().await,
        }
    }

    pub(crate) fn hand_back(&self, part: Part) {
        self.count(part.delivery().routing_key(), "handed_back");
        part.hand_back();
    }

    pub(crate) fn database_lost(&self, part: Part, error: &StoreError) {
        if !self.database_down.swap(true, Ordering::Relaxed) {
            info!(%error, "database unavailable; handing jobs back");
        }
        self.hand_back(part);
    }

    pub(crate) async fn persist_failure(
        &self,
        held: Lease<'_>,
        attempts: u32,
        reason: &str,
        targets: Option<&serde_json::Value>,
        dead: bool,
        shutdown: &CancellationToken,
    ) -> bool {
        let failed = Failed {
            notification_id: held.job.notification_id,
            token: held.token,
            attempts: i32::try_from(attempts).unwrap_or(i32::MAX),
            error: reason,
            targets,
        };
        let written = self
            .persist("record a failure", shutdown, || {
                self.store
                    .record_failure(&failed, self.options.max_replays, dead)
            })
            .await;
        let Some(recorded) = written else {
            return false;
        };
        if let Some(fallback) = recorded.and_then(|r| r.fallback) {
            self.metrics.fallbacks.inc();
            info!(notification = %failed.notification_id, fallback = %fallback.notification_id, notifier = %fallback.notifier_id, "delivery failed for good; the event goes to the fallback notifier");
        }
        true
    }

    /// Runs a write until it succeeds, trying again while the database is
    /// unreachable (an outcome must not be lost once the endpoint has answered;
    /// it is written within a quarter second of the database's return, well
    /// inside the lease's grace), until shutdown. Returns what the write
    /// answered, `None` if it was not written.
    async fn persist<T, F, Fut>(
        &self,
        what: &str,
        shutdown: &CancellationToken,
        write: F,
    ) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(50))
            .with_max_delay(Duration::from_millis(250))
            .without_max_times();
        let stop = shutdown.clone();
        let written = write
            .retry(backoff)
            .sleep(move |wait| {
                let stop = stop.clone();
                async move {
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = stop.cancelled() => {}
                    }
                }
            })
            .when(|e: &StoreError| e.is_unavailable() && !shutdown.is_cancelled())
            .notify(|e, _| debug!(error = %e, what, "database unavailable; retrying the write"))
            .await;
        written
            .inspect_err(|e| warn!(error = %e, what, "write failed"))
            .ok()
    }

    pub(crate) fn count(&self, kind: &str, outcome: &str) {
        self.metrics
            .deliveries
            .with_label_values(&[kind, outcome])
            .inc();
    }
}
