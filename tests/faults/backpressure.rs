//! A burst much larger than the senders can deliver: the queues absorb it,
//! memory stays bounded, the API keeps answering, nothing is lost.
//!
//! The backlog is made by construction, not by hoping the machine is slow: the
//! endpoint holds every request until the whole burst has been accepted, so
//! nothing of it can be delivered before.

use std::time::{Duration, Instant};

use herald::Roles;
use serde_json::json;

use crate::serial;
use crate::support::load;
use crate::support::{Behaviour, HttpSink, spawn_roles};

const BURST: usize = 10_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_larger_than_the_senders_is_absorbed_with_bounded_memory() {
    let _serial = serial().await;
    let app = spawn_roles(
        Roles {
            api: true,
            ..Roles::NONE
        },
        &[("HERALD_DELIVERY_TIMEOUT", "60s")],
    )
    .await;
    let sink = HttpSink::start().await;
    sink.set(Behaviour::Hold);
    let hook = app.webhook("held", &sink.url("/held"), json!({})).await;
    app.rule(json!({"notifiers": [hook]})).await;
    let router = load::start(&app, "router");
    let sender = load::start(&app, "sender");

    let events = load::events(BURST, json!({}));
    let ids = load::ids(&events);
    let publishing = load::publish_paced(&app, &events, 200, Duration::from_millis(1));
    let (mut router_peak, mut sender_peak, mut slowest) = (0.0f64, 0.0f64, Duration::ZERO);
    let watching = async {
        let mut ticks = tokio::time::interval(Duration::from_millis(200));
        loop {
            ticks.tick().await;
            router_peak = router_peak.max(load::rss_mib(router.pid()));
            sender_peak = sender_peak.max(load::rss_mib(sender.pid()));
            let asked = Instant::now();
            let (status, _) = app.get("/notifications?limit=1").await;
            assert!(
                status.is_success(),
                "the API answered {status} during the backlog"
            );
            slowest = slowest.max(asked.elapsed());
        }
    };
    let accepted = tokio::select! {
        accepted = publishing => accepted,
        () = watching => unreachable!("the watch loops until the burst is accepted"),
    };
    let held = load::tally(&sink, "/held", &ids).delivered;
    assert_eq!(
        accepted.len(),
        BURST,
        "every event of the burst was accepted"
    );

    let released = Instant::now();
    sink.release();
    let tally = load::wait_all(&sink, "/held", &ids, Duration::from_secs(180)).await;
    println!(
        "burst of {BURST} accepted while the endpoint held its first {held} requests: peak RSS router \
         {router_peak:.0} MiB, sender {sender_peak:.0} MiB; slowest API answer {slowest:?}; \
         {tally}; drained in {:?} once released",
        released.elapsed()
    );
    assert_eq!(tally.lost, 0, "{tally}");
    assert!(
        router_peak < 200.0 && sender_peak < 200.0,
        "memory: router {router_peak} MiB, sender {sender_peak} MiB"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "the API took {slowest:?} to answer"
    );
}
