//! Every Prometheus metric Herald exports, named in this one file. Each process
//! owns one [`Metrics`] (tests run several Herald instances in one process, so
//! there is no global registry) and serves it as text on `/metrics`.
//!
//! All names start with `herald_`. This crate does no I/O.

use std::sync::Arc;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    /// Events the broker confirmed on publish, by category and severity.
    pub events_ingested: IntCounterVec,
    /// Events the router recorded for the first time, by category and severity.
    pub events_routed: IntCounterVec,
    /// Notifications created by the router, by channel.
    pub notifications_created: IntCounterVec,
    /// Messages moved to the dead-letter queue, by the queue they came from.
    pub dead_lettered: IntCounterVec,
    /// Delivery outcomes by channel: `sent`, `retried`, `failed`, `duplicate`, `deferred`.
    pub deliveries: IntCounterVec,
    /// From the router queueing a job to the endpoint accepting it, by channel.
    pub delivery_latency: HistogramVec,
    /// One send attempt, by channel.
    pub attempt_duration: HistogramVec,
    /// Deliveries whose template failed to render, by channel.
    pub render_errors: IntCounterVec,
    /// Conditions that errored and were ignored (the rule selected the event).
    pub condition_errors: IntCounter,
    /// Events whose id had been recorded with other content; the first copy
    /// was kept, this one dropped.
    pub event_id_conflicts: IntCounter,
    /// Events (with their notifications) deleted past the retention period.
    pub retention_deleted: IntCounter,
    /// Notifications not delivered on purpose, by reason (`silence`,
    /// `inhibition`, `threshold`, `throttle`).
    pub suppressed: IntCounterVec,
    /// Notifications held for later, by reason (`quiet_hours`, `group`,
    /// `digest`).
    pub deferred: IntCounterVec,
    /// Failures in the error table by status (`pending`, `replaying`, `dead`).
    pub failures: IntGaugeVec,
    /// Failures queued again, by who asked (`scheduler`, `api`).
    pub replays: IntCounterVec,
    /// Completed runs of the flush job.
    pub flush_runs: IntCounter,
    /// Jobs the scheduler queued again because their notification was due.
    pub scheduled: IntCounter,
    /// No-activity monitors that went silent (`raised`) or heard from their
    /// events again (`resolved`).
    pub monitor_transitions: IntCounterVec,
    /// Notifications created for a fallback notifier after a delivery failed
    /// for good.
    pub fallbacks: IntCounter,
    /// 1 while the broker connection is up.
    pub broker_up: IntGauge,
    /// 1 while the database answers (asked at each scrape).
    pub database_up: IntGauge,
    /// Messages ready in each of Herald's queues, as the broker counted them
    /// for the last scrape (a second old at most, an empty queue's five).
    pub queue_messages: IntGaugeVec,
    /// Consumers of each of Herald's queues, at the last scrape.
    pub queue_consumers: IntGaugeVec,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let histogram = |name: &str, help: &str| {
            let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
            let h = HistogramVec::new(opts, &["channel"]).expect("valid metric");
            registry
                .register(Box::new(h.clone()))
                .expect("unique metric");
            h
        };
        let gauges = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let failures = gauges(
            "herald_failures",
            "Failures in the error table, by status.",
            &["status"],
        );
        let queue_messages = gauges(
            "herald_queue_messages",
            "Messages ready (not delivered to a consumer) in each of Herald's queues.",
            &["queue"],
        );
        let queue_consumers = gauges(
            "herald_queue_consumers",
            "Consumers of each of Herald's queues.",
            &["queue"],
        );
        let single = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let flush_runs = single(
            "herald_flush_runs_total",
            "Completed runs of the flush job.",
        );
        let scheduled = single(
            "herald_scheduled_total",
            "Jobs queued again by the scheduler: retries, jobs put aside, leases that ended.",
        );
        let fallbacks = single(
            "herald_fallbacks_total",
            "Notifications created for a notifier's fallback after a delivery to it failed for good.",
        );
        let condition_errors = single(
            "herald_condition_errors_total",
            "Rule conditions that failed or were not true or false; their rules selected the event anyway.",
        );
        let event_id_conflicts = single(
            "herald_event_id_conflicts_total",
            "Events whose id had been recorded with other content; the first copy was kept, this one dropped.",
        );
        let retention_deleted = single(
            "herald_retention_deleted_total",
            "Events deleted, with their notifications, past the retention period (HERALD_RETENTION).",
        );
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };
        let broker_up = gauge("herald_broker_up", "1 while the broker connection is up.");
        let database_up = gauge(
            "herald_database_up",
            "1 while the database answers (asked at each scrape).",
        );
        Arc::new(Metrics {
            events_ingested: counter(
                "herald_events_ingested_total",
                "Events confirmed by the broker on publish.",
                &["category", "severity"],
            ),
            events_routed: counter(
                "herald_events_routed_total",
                "Events recorded by the router for the first time.",
                &["category", "severity"],
            ),
            notifications_created: counter(
                "herald_notifications_created_total",
                "Notifications created by the router.",
                &["channel"],
            ),
            dead_lettered: counter(
                "herald_dead_lettered_total",
                "Messages moved to the dead-letter queue.",
                &["queue"],
            ),
            deliveries: counter(
                "herald_deliveries_total",
                "Delivery outcomes.",
                &["channel", "outcome"],
            ),
            delivery_latency: histogram(
                "herald_delivery_latency_seconds",
                "From the router queueing a job to the endpoint accepting it.",
            ),
            attempt_duration: histogram(
                "herald_delivery_attempt_seconds",
                "Duration of one send attempt.",
            ),
            render_errors: counter(
                "herald_render_errors_total",
                "Deliveries failed for good because a template could not be rendered.",
                &["channel"],
            ),
            condition_errors,
            event_id_conflicts,
            retention_deleted,
            suppressed: counter(
                "herald_suppressed_total",
                "Notifications not delivered on purpose, by reason (silence, inhibition, threshold, throttle).",
                &["reason"],
            ),
            deferred: counter(
                "herald_deferred_total",
                "Notifications held for later, by reason (quiet_hours, group, digest); a grouped one goes out with its group.",
                &["reason"],
            ),
            failures,
            replays: counter("herald_replays_total", "Failures queued again.", &["by"]),
            flush_runs,
            scheduled,
            monitor_transitions: counter(
                "herald_monitor_transitions_total",
                "No-activity monitors raised (nothing matching arrived for their silent_for) or resolved (matching events again).",
                &["transition"],
            ),
            fallbacks,
            broker_up,
            database_up,
            queue_messages,
            queue_consumers,
            registry,
        })
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into memory cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counters_show_up_in_the_text_format() {
        let m = super::Metrics::new();
        m.deliveries.with_label_values(&["webhook", "sent"]).inc();
        let text = m.render();
        assert!(
            text.contains(r#"herald_deliveries_total{channel="webhook",outcome="sent"} 1"#),
            "{text}"
        );
    }
}
