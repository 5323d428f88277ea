//! A burst much larger than the senders can deliver: the queues absorb it,
//! memory stays bounded, the API keeps answering, nothing is lost.

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
        &[],
    )
    .await;
    let sink = HttpSink::start().await;
    // 128 deliveries in flight to one notifier, 160 ms each: about 800 a second.
    sink.set(Behaviour::Delay(160));
    let hook = app.webhook("slow", &sink.url("/slow"), json!({})).await;
    app.rule(json!({"notifiers": [hook]})).await;
    let router = load::start(&app, "router");
    let sender = load::start(&app, "sender");

    let events = load::events(BURST, json!({}));
    let ids = load::ids(&events);
    load::publish_paced(&app, &events, 200, Duration::from_millis(1)).await;
    let published = Instant::now();

    let (mut router_peak, mut sender_peak, mut slowest) = (0.0f64, 0.0f64, Duration::ZERO);
    let mut ticks = tokio::time::interval(Duration::from_millis(200));
    let mut backlog_seen = false;
    while load::tally(&sink, "/slow", &ids).lost > 0 {
        ticks.tick().await;
        assert!(
            published.elapsed() < Duration::from_secs(180),
            "the burst did not drain"
        );
        router_peak = router_peak.max(load::rss_mib(router.pid()));
        sender_peak = sender_peak.max(load::rss_mib(sender.pid()));
        let asked = Instant::now();
        let (status, _) = app.get("/notifications?limit=1").await;
        assert!(
            status.is_success(),
            "the API answered {status} during the backlog"
        );
        slowest = slowest.max(asked.elapsed());
        backlog_seen |= load::tally(&sink, "/slow", &ids).lost > BURST / 2;
    }
    let tally = load::tally(&sink, "/slow", &ids);
    println!(
        "burst of {BURST} at 800 deliveries/s: peak RSS router {router_peak:.0} MiB, sender {sender_peak:.0} MiB; \
         slowest API answer {slowest:?}; {tally}; drained in {:?}",
        published.elapsed()
    );
    assert!(backlog_seen, "the burst outran the sender, as intended");
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
