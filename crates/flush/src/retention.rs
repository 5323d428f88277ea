//! The retention sweep, run by the flush role: deletes events and their
//! notifications older than `HERALD_RETENTION`, a small batch per statement,
//! batch after batch while they are full. The store keeps whatever an open
//! failure needs (see `Store::delete_expired`).

use std::sync::Arc;
use std::time::Duration;

use herald_metrics::Metrics;
use herald_store::{Store, StoreError};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Events deleted per statement: few enough that a statement holds its locks
/// for milliseconds next to the router's inserts.
const BATCH: i64 = 500;

pub struct Retention {
    store: Store,
    metrics: Arc<Metrics>,
    keep: Duration,
}

impl Retention {
    pub fn new(store: Store, metrics: Arc<Metrics>, keep: Duration) -> Retention {
        Retention {
            store,
            metrics,
            keep,
        }
    }

    /// How often the sweep runs: a record outlives its retention by at most a
    /// tenth of it, and by ten minutes at most.
    fn period(&self) -> Duration {
        (self.keep / 10).clamp(Duration::from_millis(100), Duration::from_secs(600))
    }

    /// Deletes every expired event, batch after batch; returns how many.
    pub async fn run_once(&self) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let deleted = self.store.delete_expired(self.keep, BATCH).await?;
            total += deleted;
            self.metrics.retention_deleted.inc_by(deleted);
            if deleted < BATCH as u64 {
                self.store.delete_expired_state(self.keep).await?;
                return Ok(total);
            }
        }
    }

    /// Sweeps every [`Self::period`] until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        info!(keep = ?self.keep, period = ?self.period(), "retention scheduled");
        let mut ticks = tokio::time::interval(self.period());
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = shutdown.cancelled() => break,
            }
            match self.run_once().await {
                Ok(0) => {}
                Ok(deleted) => info!(deleted, "deleted events past their retention"),
                Err(error) => warn!(%error, "retention sweep failed; the next one tries again"),
            }
        }
    }
}
