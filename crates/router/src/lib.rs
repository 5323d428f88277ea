//! The router: consumes events, matches them against the enabled rules, records
//! one notification per matched notifier and queues their delivery jobs.
//!
//! Events are handled in batches of whatever has already arrived (up to
//! `batch_size` events; a message holds one event or a JSON array of them):
//! one statement records a batch's events and notifications, the jobs are
//! published with confirms, one message per channel kind and lane, and only
//! then are the events acked. A redelivered event therefore creates nothing
//! new; its still-pending notifications are queued again, which senders treat
//! as harmless duplicates.
//!
//! It does not deliver anything, and it never drops an event: an invalid one
//! goes to the dead-letter queue with the reason (alone, not with the events
//! it travelled with), and when the database or the broker is unavailable the
//! batch is handed back to the queue.

mod monitors;
mod policy;
mod rules;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use herald_metrics::Metrics;
use herald_model::{DeliveryJob, Event, JobBatch};
use herald_queue::{Delivery, Depths, Outgoing, Publisher, QueueError, Subscription};
use herald_store::{NewNotification, Recorded, Routing, Store, StoreError};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use uuid::Uuid;

pub use rules::{RuleSet, Target};

#[derive(Debug, Clone)]
pub struct RouterOptions {
    /// Unacked messages the broker may push ahead, at most; fewer when
    /// messages carry many events, so that about a batch is in hand and the
    /// rest waits in the queue, where the API sees it.
    pub prefetch: u16,
    /// Events handled together at most.
    pub batch_size: usize,
    /// Consumers of the normal lane, each with its own batches, so that one
    /// batch's round trips overlap another's.
    pub consumers: usize,
    /// Herald's public base URL, `herald.url` to conditions.
    pub public_url: String,
}

impl Default for RouterOptions {
    fn default() -> Self {
        RouterOptions {
            prefetch: 512,
            batch_size: 100,
            consumers: 1,
            public_url: String::new(),
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
    depths: Arc<Depths>,
    /// The delivery queues (normal lane) this lane has fed: it takes no new
    /// batch while one of them is backed up.
    fed: HashSet<String>,
    /// The monitors this process's lanes fed lately.
    monitors: monitors::Touches,
}

/// Messages ready in a delivery queue above which the router waits.
const BACKED_UP: u32 = 1;
/// How long the router trusts a delivery queue's depth: a backlog takes longer
/// than this to matter, and a probe per batch would cost more than the batch
/// at a trickle.
const DEPTH_FRESH: Duration = Duration::from_millis(10);
/// How long a batch that is not full waits for more events: at a trickle, a
/// statement and a message then serve several events instead of one; under
/// load batches fill at once and nothing waits.
const LINGER: Duration = Duration::from_millis(8);
/// The open problems read for inhibitions, at most: past this many, the
/// oldest are the ones looked at.
const MAX_PROBLEMS_READ: i64 = 10_000;

/// Why a batch goes back to the queue untouched.
enum Handback {
    Database(StoreError),
    Broker(QueueError),
}

/// A message taken off the queue, read: its events, and the parts that are not
/// valid events with the reason.
struct Incoming {
    delivery: Delivery,
    events: Vec<Event>,
    invalid: Vec<(Vec<u8>, String)>,
}

impl Incoming {
    /// How many events the message carried.
    fn size(&self) -> usize {
        self.events.len() + self.invalid.len()
    }

    fn read(delivery: Delivery, now: OffsetDateTime) -> Incoming {
        let mut events = Vec::new();
        let mut invalid = Vec::new();
        match herald_model::event_bodies(delivery.body()) {
            Ok(bodies) => {
                for body in bodies {
                    match herald_model::parse_event(body, now) {
                        Ok(event) => events.push(event),
                        Err(e) => invalid.push((body.to_vec(), format!("invalid event: {e}"))),
                    }
                }
            }
            Err(e) => invalid.push((delivery.body().to_vec(), format!("invalid event: {e}"))),
        }
        Incoming {
            delivery,
            events,
            invalid,
        }
    }
}

impl Router {
    pub fn new(
        store: Store,
        publisher: Arc<Publisher>,
        metrics: Arc<Metrics>,
        options: RouterOptions,
    ) -> Router {
        Router {
            depths: Arc::new(Depths::new(publisher.broker().clone(), DEPTH_FRESH)),
            store,
            publisher,
            metrics,
            options,
            rules: RuleSet::default(),
            fed: HashSet::new(),
            monitors: monitors::Touches::default(),
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
        let critical = queue == broker.topology().critical_router_queue();
        let (max, budget) = (self.options.prefetch, self.options.batch_size);
        let mut sub = Subscription::with_budget(broker, queue, max, budget);
        info!(queue = %sub.queue(), "router consuming");
        loop {
            // Critical events never wait; the others wait while the senders
            // are behind, so the backlog stays here, where the API sees it.
            if !critical {
                tokio::select! {
                    () = self.room() => {}
                    () = shutdown.cancelled() => break,
                }
            }
            let Some(first) = sub.next(&shutdown).await else {
                break;
            };
            let now = OffsetDateTime::now_utc();
            let mut batch = vec![Incoming::read(first, now)];
            sub.observe(batch[0].size());
            let mut events = batch[0].events.len();
            let linger = tokio::time::Instant::now() + LINGER;
            while events < self.options.batch_size {
                let Some(more) = sub.next_before(linger).await else {
                    break;
                };
                let more = Incoming::read(more, now);
                sub.observe(more.size());
                events += more.events.len();
                batch.push(more);
            }
            match self.route(&mut batch, sub.queue(), now).await {
                Ok(()) => {
                    // Batches are settled in order, so one frame acks the whole batch.
                    if let Some(last) = batch.last() {
                        last.delivery.ack_up_to().await;
                    }
                }
                Err(handback) => {
                    for m in &batch {
                        m.delivery.requeue().await;
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

    async fn route(
        &mut self,
        batch: &mut [Incoming],
        queue: &str,
        now: OffsetDateTime,
    ) -> Result<(), Handback> {
        let mut events: Vec<(usize, Event)> = Vec::new();
        let mut seen = HashSet::new();
        for (i, m) in batch.iter_mut().enumerate() {
            for (body, reason) in &m.invalid {
                self.dead_letter(&m.delivery, body, queue, reason).await?;
            }
            for event in m.events.drain(..) {
                if seen.insert(event.id) {
                    events.push((i, event));
                }
            }
        }
        if events.is_empty() {
            return Ok(());
        }
        let recorded = self.record(batch, queue, &mut events).await?;
        let routed = events.iter().map(|(_, e)| e);
        self.monitors
            .feed(&self.store, self.rules.monitors(), routed)
            .await
            .map_err(Handback::Database)?;
        let jobs = self.jobs(&events, &recorded, now);
        self.publisher
            .publish(&jobs)
            .await
            .map_err(Handback::Broker)?;
        let topology = self.publisher.broker().topology();
        let normal = topology.deliveries_exchange();
        for job in jobs.iter().filter(|j| j.exchange == normal) {
            self.fed.insert(topology.delivery_queue(&job.routing_key));
        }
        self.count(&events, &recorded);
        self.count_id_conflicts(&events, &recorded);
        debug!(
            events = events.len(),
            jobs = recorded.enqueue.len(),
            "routed a batch"
        );
        Ok(())
    }

    /// Records `events` matched against the current rules and settled by
    /// their policies, loading the rules again as often as they changed under
    /// the batch.
    async fn record_current(
        &mut self,
        events: &[Event],
        now: OffsetDateTime,
    ) -> Result<Recorded, StoreError> {
        loop {
            let lookups = self.lookups(events).await?;
            let mut drafts = policy::draft(&self.rules, events, &lookups, now);
            let routing = if policy::needs_state(&self.rules, &drafts) {
                let drafted: Vec<NewNotification> =
                    drafts.iter().map(|d| d.notification.clone()).collect();
                let rules = &self.rules;
                self.store
                    .record_routing_with(rules.version(), events, &drafted, async |tx, new| {
                        let taken = std::mem::take(&mut drafts);
                        let (planned, done) =
                            policy::settle(rules, events, taken, tx, new, now).await?;
                        drafts = done;
                        Ok(planned)
                    })
                    .await?
            } else {
                policy::settle_stateless(&self.rules, events, &mut drafts, now);
                let notifications: Vec<NewNotification> =
                    drafts.iter().map(|d| d.notification.clone()).collect();
                self.store
                    .record_routing(self.rules.version(), events, &notifications)
                    .await?
            };
            match routing {
                Routing::Recorded(recorded) => {
                    self.count_decisions(events, &drafts, &recorded);
                    return Ok(recorded);
                }
                Routing::Stale => {
                    let snapshot = self.store.routing_snapshot().await?;
                    self.rules = RuleSet::new(snapshot, &self.options.public_url);
                    debug!(
                        version = self.rules.version(),
                        rules = self.rules.len(),
                        "loaded rules"
                    );
                }
            }
        }
    }

    /// What deciding `events` needs read first: the open problems when an
    /// inhibition could suppress one of them, and who got the firing events
    /// of the problems the resolving ones close. Nothing is read for a batch
    /// that needs neither.
    async fn lookups(&self, events: &[Event]) -> Result<policy::Lookups, StoreError> {
        let mut lookups = policy::Lookups::default();
        if events.iter().any(|e| self.rules.may_be_inhibited(e)) {
            lookups.problems = self.store.open_problems(MAX_PROBLEMS_READ).await?;
        }
        let resolving: Vec<String> = events
            .iter()
            .filter(|e| e.resolved)
            .map(herald_model::problem_key)
            .collect();
        if !resolving.is_empty() {
            lookups.firing = self.store.firing_targets(&resolving).await?;
        }
        Ok(lookups)
    }

    /// Records the batch in one statement. If the statement fails for another
    /// reason than an unavailable database, the events are recorded one by one
    /// so that the one the database refuses is dead-lettered alone.
    async fn record(
        &mut self,
        batch: &[Incoming],
        queue: &str,
        events: &mut Vec<(usize, Event)>,
    ) -> Result<Recorded, Handback> {
        let all: Vec<Event> = events.iter().map(|(_, e)| e.clone()).collect();
        let now = OffsetDateTime::now_utc();
        match self.record_current(&all, now).await {
            Ok(recorded) => return Ok(recorded),
            Err(e) if e.is_unavailable() => return Err(Handback::Database(e)),
            Err(e) => debug!(error = %e, "batch refused; recording events one by one"),
        }
        let mut merged = Recorded::default();
        let mut kept = Vec::with_capacity(events.len());
        for (i, event) in events.drain(..) {
            match self.record_current(std::slice::from_ref(&event), now).await {
                Ok(r) => {
                    merged.new_events.extend(r.new_events);
                    merged.enqueue.extend(r.enqueue);
                    merged.stored.extend(r.stored);
                    kept.push((i, event));
                }
                Err(e) if e.is_unavailable() => return Err(Handback::Database(e)),
                Err(e) => {
                    let reason = format!("the database refused event {}: {e}", event.id);
                    let body = serde_json::to_vec(&event).expect("an event is JSON");
                    self.dead_letter(&batch[i].delivery, &body, queue, &reason)
                        .await?;
                }
            }
        }
        *events = kept;
        Ok(merged)
    }

    /// The jobs to queue, one message per channel kind and lane.
    fn jobs(
        &self,
        events: &[(usize, Event)],
        recorded: &Recorded,
        now: OffsetDateTime,
    ) -> Vec<Outgoing> {
        // The stored copy of an event seen before wins over this batch's.
        let mut by_id: HashMap<Uuid, &Event> = events.iter().map(|(_, e)| (e.id, e)).collect();
        by_id.extend(recorded.stored.iter().map(|(id, e)| (*id, e)));
        let jobs = recorded.enqueue.iter().filter_map(|e| {
            let event = by_id.get(&e.event_id)?;
            let job = DeliveryJob {
                notification_id: e.notification_id,
                notifier_id: e.notifier_id,
                rule_ids: e.rule_ids.clone(),
                routed_at: now,
                event: (*event).clone(),
            };
            Some((e.kind.clone(), job))
        });
        let topology = self.publisher.broker().topology();
        JobBatch::group(jobs)
            .iter()
            .map(|b| topology.delivery_message(&b.kind, b.critical, b.encode()))
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

    /// Reports each event whose id was recorded before with other content:
    /// the first copy stays (the id is the idempotency key), but a publisher
    /// reusing ids would otherwise lose events without a trace.
    fn count_id_conflicts(&self, events: &[(usize, Event)], recorded: &Recorded) {
        for (_, event) in events {
            if let Some(stored) = recorded.stored.get(&event.id)
                && !stored.same_content(event)
            {
                warn!(
                    event = %event.id,
                    stored_source = %stored.source,
                    new_source = %event.source,
                    "event id reused with different content; the first copy is kept, this one dropped"
                );
                self.metrics.event_id_conflicts.inc();
            }
        }
    }

    /// Counts what routing decided about events seen for the first time:
    /// each condition that errored once, however many notifiers its rule
    /// names, and each notification suppressed or deferred by its reason.
    fn count_decisions(&self, events: &[Event], drafts: &[policy::Draft], recorded: &Recorded) {
        let new = |d: &&policy::Draft| recorded.new_events.contains(&events[d.event].id);
        let errors: HashSet<(Uuid, &str)> = drafts
            .iter()
            .filter(new)
            .flat_map(|d| {
                let n = &d.notification;
                n.notes
                    .iter()
                    .filter(|note| note.contains("condition error"))
                    .map(move |note| (n.event_id, note.as_str()))
            })
            .collect();
        if !errors.is_empty() {
            warn!(errors = ?errors, "conditions failed; their rules selected the events anyway");
            self.metrics.condition_errors.inc_by(errors.len() as u64);
        }
        for tag in drafts.iter().filter(new).filter_map(|d| d.tag) {
            let counter = match tag.suppresses() {
                true => &self.metrics.suppressed,
                false => &self.metrics.deferred,
            };
            counter.with_label_values(&[tag.as_str()]).inc();
        }
    }

    /// Dead-letters `body`, one event (or the whole message) of `delivery`.
    async fn dead_letter(
        &self,
        delivery: &Delivery,
        body: &[u8],
        queue: &str,
        reason: &str,
    ) -> Result<(), Handback> {
        warn!(queue, reason, "dead-lettering a message");
        self.publisher
            .dead_letter_part(delivery, body, queue, reason)
            .await
            .map_err(Handback::Broker)?;
        self.metrics.dead_lettered.with_label_values(&[queue]).inc();
        Ok(())
    }

    /// Returns once no delivery queue this lane feeds is backed up.
    async fn room(&self) {
        for queue in &self.fed {
            self.depths.room(queue, BACKED_UP, None).await;
        }
    }

    async fn wait_for_database(&self, shutdown: &CancellationToken) {
        tokio::select! {
            () = self.store.wait_until_reachable() => info!("database reachable again; routing resumes"),
            () = shutdown.cancelled() => {}
        }
    }
}
