//! The flush job: replays failures from the error table by queueing their
//! delivery jobs again, every `HERALD_FLUSH_INTERVAL` and on an operator's
//! request through the API.
//!
//! Each batch is locked with `FOR UPDATE SKIP LOCKED` and marked only once the
//! broker confirmed its jobs, so two flushers running at once split the work and
//! never replay the same failure twice, and a broker outage replays nothing.
//! Full batches are followed at once by the next; the schedule waits only when
//! the table is drained.
//!
//! The flush role also runs the [`Scheduler`], which queues again the jobs of
//! notifications whose moment has come (retries, jobs put aside, leases that
//! ended).
//!
//! It also runs the [`Retention`] sweep, which deletes events and
//! notifications past `HERALD_RETENTION`, and the [`MonitorWatch`], which
//! raises the no-activity monitors that fell silent and resolves them.
//!
//! It does not deliver: senders handle a replayed job like any other.

mod monitors;
mod retention;
mod schedule;

use std::sync::Arc;
use std::time::Duration;

use herald_metrics::Metrics;
use herald_model::{DeliveryJob, FailureStatus, JobBatch, ReplayedBy};
use herald_queue::{Publisher, QueueError};
use herald_store::{ReplayOutcome, ReplaySelection, Store, StoreError, StoredJob};

pub use monitors::{MONITOR_TICK, MonitorOutcome, MonitorWatch};
pub use retention::Retention;
pub use schedule::Scheduler;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum FlushError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("replayed jobs were not queued: {0}")]
    Broker(#[from] QueueError),
}

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    pub replayed: usize,
}

/// Sets the `herald_failures` gauge from the error table.
pub async fn refresh_failures_gauge(store: &Store, metrics: &Metrics) {
    if let Ok(counts) = store.count_failures().await {
        for status in [
            FailureStatus::Pending,
            FailureStatus::Replaying,
            FailureStatus::Dead,
        ] {
            let n = counts.get(&status).copied().unwrap_or(0);
            metrics
                .failures
                .with_label_values(&[status.as_str()])
                .set(n);
        }
    }
}

/// Publishes jobs rebuilt from the database in the later lane (critical ones
/// in the critical lane), one message per channel kind and lane; `Ok` once the
/// broker confirmed them all.
async fn queue_jobs(publisher: &Publisher, jobs: &[StoredJob]) -> Result<(), QueueError> {
    let now = OffsetDateTime::now_utc();
    let jobs = jobs.iter().map(|j| {
        let job = DeliveryJob {
            notification_id: j.notification_id,
            notifier_id: j.notifier_id,
            rule_ids: j.rule_ids.clone(),
            routed_at: now,
            event: j.event.clone(),
        };
        (j.kind.clone(), job)
    });
    let topology = publisher.broker().topology();
    let messages: Vec<_> = JobBatch::group(jobs)
        .iter()
        .map(|b| topology.later_message(&b.kind, b.critical, b.encode()))
        .collect();
    publisher.publish(&messages).await
}

#[derive(Clone)]
pub struct Flusher {
    store: Store,
    publisher: Arc<Publisher>,
    metrics: Arc<Metrics>,
    batch: i64,
}

impl Flusher {
    pub fn new(
        store: Store,
        publisher: Arc<Publisher>,
        metrics: Arc<Metrics>,
        batch: i64,
    ) -> Flusher {
        Flusher {
            store,
            publisher,
            metrics,
            batch: batch.max(1),
        }
    }

    /// Replays every pending failure, batch after batch, until none is left.
    pub async fn run_once(&self, by: ReplayedBy) -> Result<Outcome, FlushError> {
        let mut outcome = Outcome::default();
        loop {
            let n = self
                .replay(ReplaySelection::Pending { limit: self.batch }, by)
                .await?;
            outcome.replayed += n;
            if i64::try_from(n).unwrap_or(i64::MAX) < self.batch {
                break;
            }
        }
        self.refresh_gauge().await;
        Ok(outcome)
    }

    /// Replays one failure, pending or dead.
    pub async fn replay_one(&self, id: Uuid, by: ReplayedBy) -> Result<Outcome, FlushError> {
        let replayed = self.replay(ReplaySelection::One(id), by).await?;
        self.refresh_gauge().await;
        Ok(Outcome { replayed })
    }

    async fn replay(
        &self,
        selection: ReplaySelection,
        by: ReplayedBy,
    ) -> Result<usize, FlushError> {
        let publisher = &self.publisher;
        let outcome = self
            .store
            .replay(selection, by, async |jobs: &[StoredJob]| {
                queue_jobs(publisher, jobs).await
            })
            .await?;
        match outcome {
            ReplayOutcome::Replayed(n) => {
                if n > 0 {
                    self.metrics
                        .replays
                        .with_label_values(&[by.as_str()])
                        .inc_by(n as u64);
                    info!(replayed = n, by = by.as_str(), "replayed failures");
                }
                Ok(n)
            }
            ReplayOutcome::EnqueueFailed(e) => Err(FlushError::Broker(e)),
        }
    }

    async fn refresh_gauge(&self) {
        refresh_failures_gauge(&self.store, &self.metrics).await;
    }

    /// Runs `run_once` every `interval` until `shutdown`.
    pub async fn run(self, interval: Duration, shutdown: CancellationToken) {
        info!(?interval, "flush scheduled");
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = shutdown.cancelled() => break,
            }
            match self.run_once(ReplayedBy::Scheduler).await {
                Ok(_) => self.metrics.flush_runs.inc(),
                Err(error) => warn!(%error, "scheduled flush failed; the next run tries again"),
            }
        }
        info!("flush stopped");
    }
}
