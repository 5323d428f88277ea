//! The monitor watch, run by the flush role: about every second it raises the
//! no-activity monitors that heard nothing for their `silent_for` and
//! resolves the silent ones whose events arrive again. Their events are
//! published to the events exchange through [`Ingest`], with confirms, as
//! the API publishes any event, so they are routed like any other; a
//! monitor's new state is committed only once they are confirmed.
//!
//! Several flush processes share the work (`SKIP LOCKED`) and none raises a
//! monitor twice; one that cannot reach the broker changes nothing and tries
//! again at the next tick. A raise published but not committed (a crash in
//! between) is published again as the same event, which the router records
//! once.
//!
//! It does not see events: the router records which monitors they fed.

use std::sync::Arc;
use std::time::Duration;

use herald_ingest::Ingest;
use herald_metrics::Metrics;
use herald_model::Event;
use herald_queue::Publisher;
use herald_store::{Store, Transitions};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::FlushError;

/// How often monitors are checked: the precision of a monitor's `silent_for`
/// (at least a second).
pub const MONITOR_TICK: Duration = Duration::from_secs(1);
/// Monitors changed per transaction.
const BATCH: i64 = 100;

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonitorOutcome {
    pub raised: usize,
    pub resolved: usize,
}

#[derive(Clone)]
pub struct MonitorWatch {
    store: Store,
    ingest: Ingest,
    metrics: Arc<Metrics>,
}

impl MonitorWatch {
    pub fn new(store: Store, publisher: Arc<Publisher>, metrics: Arc<Metrics>) -> MonitorWatch {
        MonitorWatch {
            store,
            // Not paced: a monitor's event never waits for the router's queue.
            ingest: Ingest::new(publisher, metrics.clone()),
            metrics,
        }
    }

    /// Raises and resolves every monitor due, batch after batch, until none is.
    pub async fn run_once(&self) -> Result<MonitorOutcome, FlushError> {
        let mut outcome = MonitorOutcome::default();
        loop {
            let ingest = &self.ingest;
            let transitions = self
                .store
                .monitor_transitions(BATCH, async |events: &[Event]| ingest.publish(events).await)
                .await?;
            let events = match transitions {
                Transitions::Published(events) => events,
                Transitions::PublishFailed(e) => return Err(FlushError::Broker(e)),
            };
            for event in &events {
                self.count(event, &mut outcome);
            }
            if i64::try_from(events.len()).unwrap_or(i64::MAX) < BATCH {
                return Ok(outcome);
            }
        }
    }

    fn count(&self, event: &Event, outcome: &mut MonitorOutcome) {
        let transition = match event.resolved {
            true => {
                outcome.resolved += 1;
                "resolved"
            }
            false => {
                outcome.raised += 1;
                "raised"
            }
        };
        self.metrics
            .monitor_transitions
            .with_label_values(&[transition])
            .inc();
        let name = event.labels.get("monitor").map_or("", String::as_str);
        info!(monitor = name, transition, event = %event.id, "monitor {transition}");
    }

    /// Runs `run_once` every `tick` ([`MONITOR_TICK`] in production) until
    /// `shutdown`.
    pub async fn run(self, tick: Duration, shutdown: CancellationToken) {
        info!(?tick, "monitor watch running");
        let mut ticks = tokio::time::interval(tick);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failing = false;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                () = shutdown.cancelled() => break,
            }
            match self.run_once().await {
                Ok(_) => failing = false,
                // Once per outage, not every second.
                Err(error) if !failing => {
                    warn!(%error, "cannot raise or resolve monitors; trying again");
                    failing = true;
                }
                Err(_) => {}
            }
        }
        info!("monitor watch stopped");
    }
}
