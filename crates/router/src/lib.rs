//! The router: consumes events, matches them against the enabled rules, records
//! one notification per matched notifier and queues one delivery job each.
//!
//! Events are handled in batches of whatever has already arrived (up to
//! `batch_size`): one statement records a batch's events and notifications, the
//! jobs are published with confirms, and only then are the events acked. A
//! redelivered event therefore creates nothing new; its still-pending
//! notifications are queued again, which senders treat as harmless duplicates.
//!
//! It does not deliver anything, and it never drops an event: invalid ones go to
//! the dead-letter queue with the reason, and when the database or the broker is
//! unavailable the batch is handed back to the queue.

mod rules;

use std::collections::HashSet;
use std::sync::Arc;

use herald_metrics::Metrics;
use herald_model::{DeliveryJob, Event};
use herald_queue::{Delivery, Publisher, QueueError, Subscription};
use herald_store::{NewNotification, Recorded, Store, StoreError};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use uuid::Uuid;

pub use rules::{RuleSet, Target};

#[derive(Debug, Clone)]
pub struct RouterOptions {
    /// Unacked events the broker may push ahead.
    pub prefetch: u16,
    /// Events handled together at most.
    pub batch_size: usize,
    /// Consumers of the normal lane, each with its own batches, so that one
    /// batch's round trips overlap another's.
    pub consumers: usize,
}

impl Default for RouterOptions {
    fn default() -> Self {
        RouterOptions {
            prefetch: 512,
            batch_size: 400,
            consumers: 2,
        }
    }
}

#[derive(Clone)]
pub struct Router {
    store: Store,
    publisher: Arc<Publisher>,
    metrics: Arc<Metrics>,
    options: RouterOptions,
    rules: RuleSet,
}

/// Why a batch goes back to the queue untouched.
enum Handback {
    Database(StoreError),
    Broker(QueueError),
}

impl Router {
    pub fn new(
        store: Store,
        publisher: Arc<Publisher>,
        metrics: Arc<Metrics>,
        options: RouterOptions,
    ) -> Router {
        Router {
            store,
            publisher,
            metrics,
            options,
            rules: RuleSet::default(),
        }
    }

    /// Routes until `shutdown`: the priority lane (critical events) in a loop of
    /// its own, the rest in `consumers` loops; the batch in hand is finished first.
    pub async fn run(self, shutdown: CancellationToken) {
        let topology = self.publisher.broker().topology().clone();
        let mut lanes = tokio::task::JoinSet::new();
        lanes.spawn(
            self.clone()
                .lane(topology.critical_router_queue(), shutdown.clone()),
        );
        for _ in 0..self.options.consumers.max(1) {
            lanes.spawn(self.clone().lane(topology.router_queue(), shutdown.clone()));
        }
        while lanes.join_next().await.is_some() {}
        info!("router stopped");
    }

    async fn lane(mut self, queue: String, shutdown: CancellationToken) {
        let broker = self.publisher.broker().clone();
        let mut sub = Subscription::new(broker, queue, self.options.prefetch);
        info!(queue = %sub.queue(), "router consuming");
        while let Some(first) = sub.next(&shutdown).await {
            let mut batch = vec![first];
            batch.extend(sub.ready(self.options.batch_size.saturating_sub(1)));
            match self.route(&batch, sub.queue()).await {
                Ok(()) => {
                    // Batches are settled in order, so one frame acks the whole batch.
                    if let Some(last) = batch.last() {
                        last.ack_up_to().await;
                    }
                }
                Err(handback) => {
                    for d in &batch {
                        d.requeue().await;
                    }
                    match handback {
                        Handback::Database(error) => {
                            warn!(%error, events = batch.len(), "database unavailable; events handed back");
                            // Stop taking work until the database answers again.
                            sub.close().await;
                            self.wait_for_database(&shutdown).await;
                        }
                        Handback::Broker(error) => {
                            warn!(%error, events = batch.len(), "cannot queue jobs; events handed back");
                        }
                    }
                }
            }
        }
        sub.close().await;
    }

    async fn route(&mut self, batch: &[Delivery], queue: &str) -> Result<(), Handback> {
        let now = OffsetDateTime::now_utc();
        let mut events: Vec<(usize, Event)> = Vec::with_capacity(batch.len());
        let mut seen = HashSet::new();
        for (i, delivery) in batch.iter().enumerate() {
            match herald_model::parse_event(delivery.body(), now) {
                Ok(event) => {
                    if seen.insert(event.id) {
                        events.push((i, event));
                    }
                }
                Err(error) => {
                    self.dead_letter(delivery, queue, &format!("invalid event: {error}"))
                        .await?
                }
            }
        }
        if events.is_empty() {
            return Ok(());
        }
        self.refresh_rules().await?;
        let recorded = self.record(batch, queue, &mut events).await?;
        let jobs = self.jobs(&events, &recorded, now);
        self.publisher
            .publish(&jobs)
            .await
            .map_err(Handback::Broker)?;
        self.count(&events, &recorded);
        debug!(events = events.len(), jobs = jobs.len(), "routed a batch");
        Ok(())
    }

    async fn refresh_rules(&mut self) -> Result<(), Handback> {
        let version = self
            .store
            .config_version()
            .await
            .map_err(Handback::Database)?;
        if version != self.rules.version() {
            let snapshot = self
                .store
                .routing_snapshot()
                .await
                .map_err(Handback::Database)?;
            self.rules = RuleSet::new(snapshot);
            debug!(version, rules = self.rules.len(), "loaded rules");
        }
        Ok(())
    }

    /// Records the batch in one statement. If the statement fails for another
    /// reason than an unavailable database, the events are recorded one by one
    /// so that the one the database refuses is dead-lettered alone.
    async fn record(
        &self,
        batch: &[Delivery],
        queue: &str,
        events: &mut Vec<(usize, Event)>,
    ) -> Result<Recorded, Handback> {
        let all: Vec<Event> = events.iter().map(|(_, e)| e.clone()).collect();
        match self
            .store
            .record_routing(&all, &self.notifications(&all))
            .await
        {
            Ok(recorded) => return Ok(recorded),
            Err(e) if e.is_unavailable() => return Err(Handback::Database(e)),
            Err(e) => debug!(error = %e, "batch refused; recording events one by one"),
        }
        let mut merged = Recorded::default();
        let mut kept = Vec::with_capacity(events.len());
        for (i, event) in events.drain(..) {
            let one = std::slice::from_ref(&event);
            match self
                .store
                .record_routing(one, &self.notifications(one))
                .await
            {
                Ok(r) => {
                    merged.new_events.extend(r.new_events);
                    merged.enqueue.extend(r.enqueue);
                    merged.stored.extend(r.stored);
                    kept.push((i, event));
                }
                Err(e) if e.is_unavailable() => return Err(Handback::Database(e)),
                Err(e) => {
                    let reason = format!("the database refused event {}: {e}", event.id);
                    self.dead_letter(&batch[i], queue, &reason).await?;
                }
            }
        }
        *events = kept;
        Ok(merged)
    }

    fn notifications(&self, events: &[Event]) -> Vec<NewNotification> {
        events
            .iter()
            .flat_map(|event| {
                self.rules
                    .targets(event)
                    .into_iter()
                    .map(|t| NewNotification {
                        id: Uuid::now_v7(),
                        event_id: event.id,
                        notifier_id: t.notifier_id,
                        notifier_name: t.notifier_name,
                        kind: t.kind,
                        rule_ids: t.rule_ids,
                    })
            })
            .collect()
    }

    fn jobs(
        &self,
        events: &[(usize, Event)],
        recorded: &Recorded,
        now: OffsetDateTime,
    ) -> Vec<herald_queue::Outgoing> {
        let topology = self.publisher.broker().topology();
        recorded
            .enqueue
            .iter()
            .filter_map(|e| {
                let event = recorded.stored.get(&e.event_id).or_else(|| {
                    events
                        .iter()
                        .map(|(_, ev)| ev)
                        .find(|ev| ev.id == e.event_id)
                })?;
                let job = DeliveryJob {
                    notification_id: e.notification_id,
                    notifier_id: e.notifier_id,
                    routed_at: now,
                    event: event.clone(),
                };
                let id = e.notification_id.to_string();
                Some(topology.delivery_message(&e.kind, job.is_critical(), id, job.encode()))
            })
            .collect()
    }

    fn count(&self, events: &[(usize, Event)], recorded: &Recorded) {
        for (_, e) in events
            .iter()
            .filter(|(_, e)| recorded.new_events.contains(&e.id))
        {
            self.metrics
                .events_routed
                .with_label_values(&[e.category.as_str(), e.severity.as_str()])
                .inc();
        }
        for job in recorded
            .enqueue
            .iter()
            .filter(|j| recorded.new_events.contains(&j.event_id))
        {
            self.metrics
                .notifications_created
                .with_label_values(&[&job.kind])
                .inc();
        }
    }

    async fn dead_letter(
        &self,
        delivery: &Delivery,
        queue: &str,
        reason: &str,
    ) -> Result<(), Handback> {
        warn!(queue, reason, "dead-lettering a message");
        self.publisher
            .dead_letter(delivery, queue, reason)
            .await
            .map_err(Handback::Broker)?;
        self.metrics.dead_lettered.with_label_values(&[queue]).inc();
        Ok(())
    }

    async fn wait_for_database(&self, shutdown: &CancellationToken) {
        tokio::select! {
            () = self.store.wait_until_reachable() => info!("database reachable again; routing resumes"),
            () = shutdown.cancelled() => {}
        }
    }
}
