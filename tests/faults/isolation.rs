//! One notifier's endpoint holds every request: deliveries to the others go
//! on, and as fast.
//!
//! The verdict is by construction: the held endpoint answers nothing until
//! every delivery to the healthy one has arrived, so they can only all arrive
//! if none of them waits behind the held ones. The latencies beside a healthy
//! twin and beside the held endpoint are printed for the record.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

use crate::serial;
use crate::support::load;
use crate::support::{Behaviour, HttpSink, TestApp, spawn_app_with};

const EVENTS: usize = 1000;

/// Publishes EVENTS one by one at 250/s, labelled `run`, and returns the
/// publish-to-sink latency of each delivery to `path`.
async fn latencies(app: &TestApp, healthy: &HttpSink, path: &str, run: &str) -> Vec<Duration> {
    let events = load::events(EVENTS, json!({"run": run}));
    let ids = load::ids(&events);
    let published: HashMap<Uuid, Instant> =
        load::publish_paced(app, &events, 1, Duration::from_millis(4)).await;
    load::wait_all(healthy, path, &ids, Duration::from_secs(120)).await;
    let mut out: Vec<Duration> = healthy
        .delivered(path)
        .iter()
        .map(|r| {
            let id: Uuid = r.json()["event"]["id"].as_str().unwrap().parse().unwrap();
            r.at - published[&id]
        })
        .collect();
    out.sort();
    out
}

fn p99(sorted: &[Duration]) -> Duration {
    sorted[(sorted.len() * 99 / 100).min(sorted.len() - 1)]
}

/// Two runs that differ in one thing only: each event goes to a healthy
/// notifier and to a second one whose endpoint answers at once in the first
/// run and holds every request in the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_endpoint_does_not_hold_up_deliveries_to_a_healthy_one() {
    let _serial = serial().await;
    let app = spawn_app_with(&[("HERALD_DELIVERY_TIMEOUT", "60s")]).await;
    let healthy = HttpSink::start().await;
    let twin = HttpSink::start().await;
    let broken = HttpSink::start().await;
    broken.set(Behaviour::Hold);
    let base = app
        .webhook("healthy", &healthy.url("/base"), json!({}))
        .await;
    let base_twin = app.webhook("twin", &twin.url("/twin"), json!({})).await;
    let good = app
        .webhook("healthy-2", &healthy.url("/with-broken"), json!({}))
        .await;
    let bad = app
        .webhook("hangs", &broken.url("/hang"), json!({"max_attempts": 2}))
        .await;
    app.rule(json!({"labels": {"run": "base"}, "notifiers": [base, base_twin]}))
        .await;
    app.rule(json!({"labels": {"run": "broken"}, "notifiers": [good, bad]}))
        .await;

    let base = latencies(&app, &healthy, "/base", "base").await;
    let with_broken = latencies(&app, &healthy, "/with-broken", "broken").await;
    let held = broken.requests().len();
    println!(
        "healthy notifier, {EVENTS} events at 250/s: p99 {:?} beside a healthy twin, {:?} beside \
         an endpoint holding its {held} requests (p50 {:?} / {:?})",
        p99(&base),
        p99(&with_broken),
        base[base.len() / 2],
        with_broken[with_broken.len() / 2],
    );
    assert_eq!(with_broken.len(), EVENTS);
    assert!(held > 0, "the held notifier was tried");
    assert!(
        broken.requests().iter().all(|r| r.answered_at.is_none()),
        "the held endpoint answered nothing while the healthy one got everything"
    );
    broken.release();
}
