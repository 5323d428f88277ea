//! One delivery job, from its notifier's share to its outcome.
//!
//! The job's message is settled once the outcome is written: a sender that
//! dies before leaves the job to be redelivered. A delivery that runs longer
//! than [`WATCH_AFTER`] hands the notification over to the database (it
//! becomes due when its lease ends) and lets its message go, so a slow endpoint
//! never holds messages that other notifiers' jobs travel in. One attempt is
//! made; a retryable failure puts the notification aside until its next
//! attempt, recorded with its error, instead of waiting here.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use herald_channels::{
    Delivery as Target, DeliveryError, NotifierConfig, RuleTemplates, SendContext, TargetLog,
};
use herald_model::{DeliveryJob, Event};
use herald_store::{Claim, Claimed, LeaseRequest, StoreError};
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};
use uuid::Uuid;

use crate::Worker;
use crate::limits::Share;
use crate::message::Part;
use crate::retry::RetryPolicy;

/// A lease outlives an attempt's timeout by this much, so that it never lapses
/// while the attempt is still running.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// How often a job waiting for its notifier's slot checks whether the notifier
/// turned slow, in which case it is put aside.
const RECHECK: Duration = Duration::from_millis(100);

/// How long a delivery may hold its message; the same time marks its notifier
/// as slow.
const WATCH_AFTER: Duration = crate::limits::SLOW;

/// A delivery job and the token of the lease taken for it.
#[derive(Clone, Copy)]
pub(crate) struct Lease<'a> {
    pub(crate) token: Uuid,
    pub(crate) job: &'a DeliveryJob,
}

/// What shapes an attempt's message besides the event.
#[derive(Clone, Copy)]
struct Message<'a> {
    notifier: &'a str,
    attempt: u32,
    rules: &'a [Arc<RuleTemplates>],
    /// The events of the group it sends, when it leads one.
    group: &'a [Event],
}

/// Why an attempt did not deliver.
enum AttemptError {
    Delivery(DeliveryError),
    /// Another sender took the notification over before the attempt began.
    LostLease,
    Database(StoreError),
}

impl Worker {
    /// Runs one job of a message: a share of its notifier, a slot, the lease,
    /// then the attempt. `part` is settled once the job no longer needs its
    /// message.
    pub(crate) async fn run(
        &self,
        job: DeliveryJob,
        part: Part,
        critical: bool,
        slots: Arc<Semaphore>,
        shutdown: &CancellationToken,
    ) {
        let held = loop {
            match self.in_flight.try_hold(job.notifier_id, critical) {
                Share::Held(held) => break held,
                Share::Defer(wait) => return self.defer(&job, part, wait).await,
                Share::Wait(freed) => tokio::select! {
                    () = freed.notified() => {}
                    () = tokio::time::sleep(RECHECK) => {}
                    () = shutdown.cancelled() => return self.hand_back(part),
                },
            }
        };
        let permit = tokio::select! {
            permit = slots.acquire_owned() => permit.expect("the semaphore is never closed"),
            () = shutdown.cancelled() => return self.hand_back(part),
        };
        self.lease(&job, part, shutdown).await;
        drop((held, permit));
    }

    async fn lease(&self, job: &DeliveryJob, part: Part, shutdown: &CancellationToken) {
        // Identifies this delivery's lease: another copy of the job, even in this
        // process, cannot take it while it runs.
        let token = Uuid::now_v7();
        let lease = self.options.timeout.saturating_add(LEASE_MARGIN);
        let held = Lease { token, job };
        match self.claim(job.notification_id, token, lease).await {
            Ok(Claim::Claimed(claimed)) => {
                let mut part = part;
                part.leased();
                let mut part = Some(part);
                let written = self.deliver(held, claimed, &mut part, shutdown).await;
                match (part, written) {
                    (Some(part), true) => part.done(),
                    (Some(part), false) => self.hand_back(part),
                    (None, _) => {}
                }
            }
            Ok(Claim::Done(_) | Claim::Leased { .. } | Claim::Parked { .. }) => {
                debug!(notification = %job.notification_id, "spare copy of a job dropped");
                self.count(part.delivery().routing_key(), "duplicate");
                part.done();
            }
            Ok(Claim::NotifierGone { notifier_id }) => {
                let reason =
                    format!("notifier {notifier_id} was deleted after the event was routed");
                match self
                    .persist_failure(held, 0, &reason, None, true, shutdown)
                    .await
                {
                    true => self.dead_letter(job, part, &reason).await,
                    false => self.hand_back(part),
                }
            }
            Ok(Claim::Unknown) => {
                let reason = format!("no notification {} was recorded", job.notification_id);
                self.dead_letter(job, part, &reason).await;
            }
            Err(e) if e.is_unavailable() => self.database_lost(part, &e),
            // The job itself is fine: dead-lettering it would leave its pending
            // notification to no one. It comes back and is leased then.
            Err(e) => {
                warn!(notification = %job.notification_id, error = %e, "cannot lease; the job goes back");
                self.hand_back(part);
            }
        }
    }

    /// One attempt under the lease, and its outcome written; whether it was.
    /// Takes `part` if the delivery runs long (see [`WATCH_AFTER`]).
    async fn deliver(
        &self,
        held: Lease<'_>,
        claimed: Claimed,
        part: &mut Option<Part>,
        shutdown: &CancellationToken,
    ) -> bool {
        let job = held.job;
        let kind = claimed.kind.clone();
        let made = u32::try_from(claimed.round_attempts).unwrap_or(0) + 1;
        let config = match self.settings(&claimed) {
            Ok(config) => config,
            Err(reason) => {
                return self
                    .finish_failed(held, &kind, 0, &reason, None, shutdown)
                    .await;
            }
        };
        let rules = match self
            .rules
            .layers(&self.store, claimed.config_version, &job.rule_ids)
            .await
        {
            Ok(rules) => rules,
            // As a lease that cannot be renewed: the job goes back, and its
            // copy finds the lease and has it watched.
            Err(e) => {
                warn!(notification = %job.notification_id, error = %e, "cannot read the rules' templates");
                return false;
            }
        };
        let group = match claimed.group_id {
            Some(group_id) => match self.store.take_group(group_id).await {
                Ok(events) => events,
                // As for the templates: the job goes back.
                Err(e) => {
                    warn!(notification = %job.notification_id, error = %e, "cannot read the group's events");
                    return false;
                }
            },
            None => Vec::new(),
        };
        let policy = RetryPolicy {
            max_elapsed: config
                .options
                .max_elapsed_or(self.options.retry.max_elapsed),
            max_attempts: config
                .options
                .max_attempts_or(self.options.retry.max_attempts),
            ..self.options.retry
        };
        let timeout = config.options.timeout_or(self.options.timeout);
        let message = Message {
            notifier: &claimed.notifier_name,
            attempt: made,
            rules: &rules,
            group: &group,
        };
        let log = TargetLog::new(claimed.delivered_targets);
        let attempt = self.attempt(held, message, &config, timeout, &log);
        tokio::pin!(attempt);
        let result = tokio::select! {
            result = &mut attempt => result,
            () = tokio::time::sleep(WATCH_AFTER) => {
                self.watch(held, part).await;
                attempt.await
            }
        };
        let targets = log.outcomes();
        match result {
            Ok(()) => self.finish_sent(job, &kind, targets, shutdown).await,
            Err(AttemptError::Delivery(e)) => {
                self.in_flight.failed(job.notifier_id);
                if e.template.is_some() {
                    self.metrics.render_errors.with_label_values(&[&kind]).inc();
                }
                let elapsed = (OffsetDateTime::now_utc() - claimed.round_started_at)
                    .try_into()
                    .unwrap_or(Duration::ZERO);
                let next = match e.retryable() {
                    true => policy.next_wait(made, elapsed, e.retry_after()),
                    false => None,
                };
                match next {
                    Some(wait) => {
                        self.retry_later(held, &kind, wait, e, targets, shutdown)
                            .await
                    }
                    None if e.retryable() => {
                        let reason = format!("gave up after {made} attempts: {e}");
                        self.finish_failed(held, &kind, made, &reason, targets.as_ref(), shutdown)
                            .await
                    }
                    None => {
                        self.finish_failed(
                            held,
                            &kind,
                            made,
                            &e.message,
                            targets.as_ref(),
                            shutdown,
                        )
                        .await
                    }
                }
            }
            Err(AttemptError::LostLease) => {
                self.count(&kind, "duplicate");
                true
            }
            // The job goes back; its copy finds the lease and has it watched.
            Err(AttemptError::Database(e)) => {
                self.database_down.store(true, Ordering::Relaxed);
                warn!(notification = %job.notification_id, error = %e, "cannot renew the lease");
                false
            }
        }
    }

    /// Hands a long delivery's notification over to the database and lets its
    /// message go; if the database cannot take it, the message stays held.
    async fn watch(&self, held: Lease<'_>, part: &mut Option<Part>) {
        let lease = (held.job.notification_id, held.token);
        if self.watches.call(lease).await.is_ok()
            && let Some(part) = part.take()
        {
            part.done();
        }
    }

    /// One attempt. An attempt that may outlast the default lease renews the
    /// lease first, so a worker only ever sends while it holds it.
    async fn attempt(
        &self,
        held: Lease<'_>,
        message: Message<'_>,
        config: &NotifierConfig,
        timeout: Duration,
        targets: &TargetLog,
    ) -> Result<(), AttemptError> {
        if timeout > self.options.timeout {
            match self
                .claim(
                    held.job.notification_id,
                    held.token,
                    timeout.saturating_add(LEASE_MARGIN),
                )
                .await
            {
                Ok(Claim::Claimed(_)) => {}
                Ok(_) => return Err(AttemptError::LostLease),
                Err(e) => return Err(AttemptError::Database(e)),
            }
        }
        let cx = SendContext {
            outbound: &self.options.outbound,
            timeout,
            targets,
        };
        let target = Target {
            event: &held.job.event,
            notification_id: held.job.notification_id,
            notifier: message.notifier,
            attempt: message.attempt,
            rules: message.rules,
            public_url: &self.options.public_url,
            group: message.group,
        };
        let started = Instant::now();
        let guard = timeout.saturating_add(Duration::from_secs(1));
        let result = tokio::time::timeout(guard, config.deliver(&target, &cx))
            .await
            .unwrap_or_else(|_| {
                Err(DeliveryError::retry(format!(
                    "no answer within {timeout:?}"
                )))
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

    /// The notifier's settings, unsealed and parsed, from the cache while the
    /// notifier is unchanged; an error is permanent.
    fn settings(&self, claimed: &Claimed) -> Result<Arc<NotifierConfig>, String> {
        let key = (claimed.notifier_id, claimed.settings_version);
        if let Some(config) = self.settings.lock().expect("never poisoned").get(&key) {
            return Ok(config.clone());
        }
        let mut config = claimed.config.clone();
        self.key
            .open_config(
                &mut config,
                herald_channels::secret_fields(&claimed.kind),
                claimed.notifier_id,
            )
            .map_err(|e| format!("notifier settings cannot be read: {e}"))?;
        let config = NotifierConfig::parse(&claimed.kind, &config)
            .map(Arc::new)
            .map_err(|e| format!("notifier settings are invalid: {e}"))?;
        let mut cache = self.settings.lock().expect("never poisoned");
        // A changed notifier leaves its old entry behind: keep one per notifier.
        cache.retain(|(id, _), _| *id != claimed.notifier_id);
        cache.insert(key, config.clone());
        Ok(config)
    }
}
