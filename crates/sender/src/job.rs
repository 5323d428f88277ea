//! One delivery job, from lease to ack.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use herald_channels::{Delivery as Target, DeliveryError, NotifierConfig, SendContext};
use herald_model::{DeliveryJob, Span};
use herald_queue::Delivery;
use herald_store::{Claim, Claimed, LeaseRequest, Sent, StoreError};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use uuid::Uuid;

use crate::Worker;
use crate::deferrer::Deferral;
use crate::retry::{self, RetryPolicy, Verdict};

/// A lease outlives an attempt's timeout by this much, so that it never lapses
/// while the attempt is still running.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// A delivery job and the token of the lease taken for it.
#[derive(Clone, Copy)]
struct Lease<'a> {
    token: Uuid,
    job: &'a DeliveryJob,
}

/// How an attempt ended, if not in success.
enum AttemptError {
    Delivery(DeliveryError),
    /// Shutdown began: hand the job back instead of trying again.
    Interrupted,
    /// While this worker waited to retry, another took the notification over.
    LostLease,
    Database(StoreError),
}

impl Verdict for AttemptError {
    fn retry(&self) -> Option<Option<Duration>> {
        match self {
            AttemptError::Delivery(e) if e.retryable() => Some(e.retry_after()),
            _ => None,
        }
    }
}

impl Worker {
    pub(crate) async fn handle(
        &self,
        delivery: Delivery,
        job: DeliveryJob,
        queue: &str,
        shutdown: &CancellationToken,
    ) {
        // Identifies this delivery's lease: another copy of the job, even in this
        // process, cannot take it while it runs.
        let token = Uuid::now_v7();
        let lease = self.options.timeout + LEASE_MARGIN;
        let kind = delivery.routing_key().to_owned();
        match self.claim(job.notification_id, token, lease).await {
            Ok(Claim::Claimed(claimed)) => {
                let held = Lease { token, job: &job };
                self.deliver(&delivery, held, claimed, shutdown).await;
            }
            Ok(Claim::Done(status)) => {
                debug!(notification = %job.notification_id, status = status.as_str(), "duplicate job dropped");
                self.count(&kind, "duplicate");
                delivery.ack().await;
            }
            Ok(Claim::Leased { until }) => {
                let wait = (until - OffsetDateTime::now_utc())
                    .try_into()
                    .unwrap_or(Duration::ZERO);
                self.defer(delivery, wait + Duration::from_millis(100));
            }
            Ok(Claim::NotifierGone { notifier_id }) => {
                let reason =
                    format!("notifier {notifier_id} was deleted after the event was routed");
                let held = Lease { token, job: &job };
                match self.persist_failure(held, 0, &reason, true, shutdown).await {
                    true => self.dead_letter(&delivery, queue, &reason).await,
                    false => delivery.requeue().await,
                }
            }
            Ok(Claim::Unknown) => {
                let reason = format!("no notification {} was recorded", job.notification_id);
                self.dead_letter(&delivery, queue, &reason).await;
            }
            Err(e) if e.is_unavailable() => self.hand_back_for_database(&delivery, &e).await,
            Err(e) => {
                self.dead_letter(
                    &delivery,
                    queue,
                    &format!("cannot lease the notification: {e}"),
                )
                .await
            }
        }
    }

    async fn deliver(
        &self,
        delivery: &Delivery,
        held: Lease<'_>,
        claimed: Claimed,
        shutdown: &CancellationToken,
    ) {
        let job = held.job;
        let kind = claimed.kind.clone();
        let config = match self.settings(&claimed) {
            Ok(config) => config,
            Err(reason) => {
                return self
                    .finish_failed(delivery, held, &kind, 0, &reason, shutdown)
                    .await;
            }
        };
        let policy = RetryPolicy {
            max_elapsed: config
                .options
                .max_elapsed
                .map_or(self.options.retry.max_elapsed, Span::get),
            max_attempts: config
                .options
                .max_attempts
                .unwrap_or(self.options.retry.max_attempts),
            ..self.options.retry
        };
        let timeout = config
            .options
            .timeout
            .map_or(self.options.timeout, Span::get);
        let target = Target {
            event: &job.event,
            notification_id: job.notification_id,
            notifier: &claimed.notifier_name,
        };
        let cx = SendContext {
            http: &self.http,
            timeout,
        };
        let (result, attempts) = retry::run(
            &policy,
            shutdown,
            |n| self.attempt(n, held, &config, &target, &cx, shutdown),
            |e, wait| {
                if let AttemptError::Delivery(e) = e {
                    self.in_flight.failed(job.notifier_id);
                    debug!(notification = %job.notification_id, error = %e, ?wait, "delivery failed; will retry");
                }
                self.count(&kind, "retried");
            },
        )
        .await;
        match result {
            Ok(()) => {
                self.finish_sent(delivery, job, &kind, attempts, shutdown)
                    .await
            }
            Err(AttemptError::Delivery(e)) => {
                self.in_flight.failed(job.notifier_id);
                let reason = if e.retryable() {
                    format!("gave up after {attempts} attempts: {e}")
                } else {
                    e.message
                };
                self.finish_failed(delivery, held, &kind, attempts, &reason, shutdown)
                    .await;
            }
            Err(AttemptError::Interrupted) => {
                let _ = self.store.release(job.notification_id, held.token).await;
                self.count(&kind, "handed_back");
                delivery.requeue().await;
            }
            Err(AttemptError::LostLease) => {
                self.count(&kind, "duplicate");
                delivery.ack().await;
            }
            Err(AttemptError::Database(e)) => self.hand_back_for_database(delivery, &e).await,
        }
    }

    /// One attempt. Every attempt but a first one within the default lease
    /// renews the lease first, so a worker only ever sends while it holds it.
    async fn attempt(
        &self,
        n: u32,
        held: Lease<'_>,
        config: &NotifierConfig,
        target: &Target<'_>,
        cx: &SendContext<'_>,
        shutdown: &CancellationToken,
    ) -> Result<(), AttemptError> {
        if shutdown.is_cancelled() {
            return Err(AttemptError::Interrupted);
        }
        if n > 1 || cx.timeout > self.options.timeout {
            let lease = cx.timeout + LEASE_MARGIN;
            match self
                .claim(held.job.notification_id, held.token, lease)
                .await
            {
                Ok(Claim::Claimed(_)) => {}
                Ok(_) => return Err(AttemptError::LostLease),
                Err(e) => return Err(AttemptError::Database(e)),
            }
        }
        let started = Instant::now();
        let guard = cx.timeout + Duration::from_secs(1);
        let result = tokio::time::timeout(guard, config.deliver(target, cx))
            .await
            .unwrap_or_else(|_| {
                Err(DeliveryError {
                    disposition: herald_channels::Disposition::Retry { after: None },
                    message: format!("no answer within {:?}", cx.timeout),
                })
            });
        self.metrics
            .attempt_duration
            .with_label_values(&[config.kind()])
            .observe(started.elapsed().as_secs_f64());
        result.map_err(AttemptError::Delivery)
    }

    /// Leases a notification, in the next claim batch.
    async fn claim(
        &self,
        notification_id: Uuid,
        token: Uuid,
        lease: Duration,
    ) -> Result<Claim, StoreError> {
        let request = LeaseRequest {
            notification_id,
            token,
            lease,
        };
        self.claims.call(request).await
    }

    /// The notifier's settings, unsealed and parsed; an error is permanent.
    fn settings(&self, claimed: &Claimed) -> Result<NotifierConfig, String> {
        let mut config = claimed.config.clone();
        self.key
            .open_config(&mut config, herald_channels::secret_fields(&claimed.kind))
            .map_err(|e| format!("notifier settings cannot be read: {e}"))?;
        NotifierConfig::parse(&claimed.kind, &config)
            .map_err(|e| format!("notifier settings are invalid: {e}"))
    }

    async fn finish_sent(
        &self,
        delivery: &Delivery,
        job: &DeliveryJob,
        kind: &str,
        attempts: u32,
        shutdown: &CancellationToken,
    ) {
        let attempts = i32::try_from(attempts).unwrap_or(i32::MAX);
        let recorded = self
            .persist("record a sent notification", shutdown, || {
                self.sent.call(Sent {
                    notification_id: job.notification_id,
                    attempts,
                })
            })
            .await;
        if !recorded {
            // Sent but not recorded: the job comes back and may be sent again.
            warn!(notification = %job.notification_id, "sent, but the outcome could not be recorded; handing the job back");
            return delivery.requeue().await;
        }
        delivery.ack().await;
        let latency = (OffsetDateTime::now_utc() - job.routed_at)
            .as_seconds_f64()
            .max(0.0);
        self.metrics
            .delivery_latency
            .with_label_values(&[kind])
            .observe(latency);
        self.count(kind, "sent");
        debug!(notification = %job.notification_id, kind, attempts, "delivered");
    }

    async fn finish_failed(
        &self,
        delivery: &Delivery,
        held: Lease<'_>,
        kind: &str,
        attempts: u32,
        reason: &str,
        shutdown: &CancellationToken,
    ) {
        let job = held.job;
        warn!(notification = %job.notification_id, notifier = %job.notifier_id, kind, attempts, error = reason, "delivery failed");
        if self
            .persist_failure(held, attempts, reason, false, shutdown)
            .await
        {
            self.count(kind, "failed");
            delivery.ack().await;
        } else {
            delivery.requeue().await;
        }
    }

    async fn persist_failure(
        &self,
        held: Lease<'_>,
        attempts: u32,
        reason: &str,
        dead: bool,
        shutdown: &CancellationToken,
    ) -> bool {
        let attempts = i32::try_from(attempts).unwrap_or(i32::MAX);
        self.persist("record a failure", shutdown, || {
            self.store.record_failure(
                held.job.notification_id,
                held.token,
                attempts,
                reason,
                self.options.max_replays,
                dead,
            )
        })
        .await
    }

    /// Runs a write until it succeeds, retrying while the database is
    /// unreachable (an outcome must not be lost once the endpoint has answered),
    /// until shutdown. Returns whether it was written.
    async fn persist<T, F, Fut>(&self, what: &str, shutdown: &CancellationToken, write: F) -> bool
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, StoreError>>,
    {
        let mut delay = Duration::from_millis(100);
        loop {
            match write().await {
                Ok(_) => return true,
                Err(e) if e.is_unavailable() && !shutdown.is_cancelled() => {
                    debug!(error = %e, what, "database unavailable; retrying the write");
                }
                Err(e) => {
                    warn!(error = %e, what, "write failed");
                    return false;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = shutdown.cancelled() => {}
            }
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }

    /// Parks the job in the wait queue, from where the broker brings it back
    /// after about `wait`; the deferrer acks it once parked.
    pub(crate) fn defer(&self, delivery: Delivery, wait: Duration) {
        let topology = self.publisher.broker().topology();
        let message =
            topology.deferred_message(delivery.routing_key(), delivery.body().to_vec(), wait);
        // The receiver lives as long as the sender runs; after that nothing is acked
        // and the broker requeues the job when the channel closes.
        let _ = self.deferrals.send(Deferral { delivery, message });
    }

    pub(crate) async fn dead_letter(&self, delivery: &Delivery, queue: &str, reason: &str) {
        warn!(queue, reason, "dead-lettering a delivery job");
        match self.publisher.dead_letter(delivery, queue, reason).await {
            Ok(()) => {
                self.metrics.dead_lettered.with_label_values(&[queue]).inc();
                delivery.ack().await;
            }
            Err(_) => delivery.requeue().await,
        }
    }

    async fn hand_back_for_database(&self, delivery: &Delivery, error: &StoreError) {
        if !self.database_down.swap(true, Ordering::Relaxed) {
            info!(%error, "database unavailable; handing jobs back");
        }
        delivery.requeue().await;
    }

    fn count(&self, kind: &str, outcome: &str) {
        self.metrics
            .deliveries
            .with_label_values(&[kind, outcome])
            .inc();
    }
}
