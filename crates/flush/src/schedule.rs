//! The scheduler: queues again the jobs of notifications that are due — a
//! retry's next attempt, a job put aside while its notifier was busy, a lease
//! whose holder did not finish — a few times a second, batch after batch while
//! batches are full. Several schedulers share the work (`SKIP LOCKED`); one that
//! cannot reach the broker changes nothing.

use std::sync::Arc;
use std::time::Duration;

use herald_metrics::Metrics;
use herald_queue::Publisher;
use herald_store::{ReplayOutcome, Store};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::{FlushError, queue_jobs};

/// How often due notifications are looked for: the precision of a retry's wait.
pub const TICK: Duration = Duration::from_millis(100);
/// Notifications queued per transaction.
const BATCH: i64 = 500;
/// Notifications of one notifier queued per batch, so that a slow notifier's
/// put-aside backlog comes back a share at a time.
const PER_NOTIFIER: usize = 256;

#[derive(Clone)]
pub struct Scheduler {
    store: Store,
    publisher: Arc<Publisher>,
    metrics: Arc<Metrics>,
}

impl Scheduler {
    pub fn new(store: Store, publisher: Arc<Publisher>, metrics: Arc<Metrics>) -> Scheduler {
        Scheduler {
            store,
            publisher,
            metrics,
        }
    }

    /// Queues every due notification's job, batch after batch, until none is
    /// due; returns how many.
    pub async fn run_once(&self) -> Result<usize, FlushError> {
        let mut queued = 0;
        loop {
            let publisher = &self.publisher;
            let outcome = self
                .store
                .queue_due(BATCH, PER_NOTIFIER, async |jobs| {
                    queue_jobs(publisher, jobs).await
                })
                .await?;
            let n = match outcome {
                ReplayOutcome::Replayed(n) => n,
                ReplayOutcome::EnqueueFailed(e) => return Err(FlushError::Broker(e)),
            };
            self.metrics.scheduled.inc_by(n as u64);
            queued += n;
            if i64::try_from(n).unwrap_or(i64::MAX) < BATCH {
                return Ok(queued);
            }
        }
    }

    /// Runs `run_once` every [`TICK`] until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        info!(tick = ?TICK, "scheduler running");
        let mut ticks = tokio::time::interval(TICK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = shutdown.cancelled() => break,
            }
            match self.run_once().await {
                Ok(n) => {
                    if n > 0 {
                        debug!(queued = n, "queued due notifications");
                    }
                    failing = false;
                }
                // Once per outage, not ten times a second.
                Err(error) if !failing => {
                    warn!(%error, "cannot queue due notifications; trying again");
                    failing = true;
                }
                Err(_) => {}
            }
        }
        info!("scheduler stopped");
    }
}
