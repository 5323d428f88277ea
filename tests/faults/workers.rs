//! A sender killed mid-delivery, and one asked to stop during load.

use std::time::{Duration, Instant};

use herald::Roles;
use serde_json::json;

use crate::serial;
use crate::support::http_sink::SOON;
use crate::support::load;
use crate::support::{Behaviour, HttpSink, TestApp, spawn_roles};

const EVENTS: usize = 2000;
const DRAIN: Duration = Duration::from_secs(180);

/// API, router and flush in this process; senders run as `herald sender`.
async fn without_sender() -> (TestApp, HttpSink, Vec<serde_json::Value>) {
    let roles = Roles {
        api: true,
        router: true,
        flush: true,
        sender: false,
    };
    let app = spawn_roles(
        roles,
        &[
            ("HERALD_DELIVERY_TIMEOUT", "2s"),
            ("HERALD_SHUTDOWN_TIMEOUT", "5s"),
        ],
    )
    .await;
    let sink = HttpSink::start().await;
    sink.set(Behaviour::Delay(20));
    let hook = app.webhook("sink", &sink.url("/w"), json!({})).await;
    app.rule(json!({"notifiers": [hook]})).await;
    (app, sink, load::events(EVENTS, json!({})))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_killed_mid_delivery_loses_nothing_and_doubles_only_what_it_was_sending() {
    let _serial = serial().await;
    let (app, sink, events) = without_sender().await;
    let ids = load::ids(&events);
    let mut first = load::start(&app, "sender");
    let publishing = load::publish_paced(&app, &events, 20, Duration::from_millis(10));
    let killing = async {
        sink.wait_delivered("/w", 500, SOON).await;
        first.kill().await;
        Instant::now()
    };
    let (_, killed_at) = tokio::join!(publishing, killing);
    let _second = load::start(&app, "sender");
    let tally = load::wait_all(&sink, "/w", &ids, DRAIN).await;
    let doubled = load::duplicates(&sink, "/w");
    println!(
        "{tally}; duplicates all sent before the kill: {}",
        doubled.iter().all(|(_, at)| *at <= killed_at)
    );
    assert_eq!(tally.lost, 0, "{tally}");
    // The documented window: a copy sent before the kill whose outcome the
    // killed process had not written yet. Nothing else may be doubled.
    assert!(
        doubled
            .iter()
            .all(|(_, first_copy)| *first_copy <= killed_at),
        "{doubled:?}"
    );
    assert!(
        tally.duplicated <= 64,
        "at most the killed sender's in-flight deliveries: {tally}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sender_asked_to_stop_during_load_exits_in_time_and_loses_nothing() {
    let _serial = serial().await;
    let (app, sink, events) = without_sender().await;
    let ids = load::ids(&events);
    let mut first = load::start(&app, "sender");
    let publishing = load::publish_paced(&app, &events, 20, Duration::from_millis(10));
    let stopping = async {
        sink.wait_delivered("/w", 500, SOON).await;
        first.terminate(Duration::from_secs(30)).await
    };
    let (_, (took, clean)) = tokio::join!(publishing, stopping);
    assert!(clean, "exit status; log: {}", first.log.display());
    assert!(
        took < Duration::from_secs(5),
        "took {took:?} to stop; HERALD_SHUTDOWN_TIMEOUT is 5s"
    );
    let _second = load::start(&app, "sender");
    let tally = load::wait_all(&sink, "/w", &ids, DRAIN).await;
    println!("{tally}; stopped in {took:?}");
    assert_eq!(tally.lost, 0, "{tally}");
    assert_eq!(
        tally.duplicated, 0,
        "a graceful stop doubles nothing: {tally}"
    );
}
