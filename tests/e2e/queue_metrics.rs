//! `herald_queue_messages` and `herald_queue_consumers`: every queue Herald
//! declares shows on `/metrics`, read from the real RabbitMQ at scrape time.

use std::time::{Duration, Instant};

use herald::Roles;
use herald_queue::Topology;
use serde_json::json;
use uuid::Uuid;

use crate::support::http_sink::SOON;
use crate::support::proxy::Proxy;
use crate::support::{HttpSink, TestApp, eventually, spawn_app_with, spawn_roles};

/// The value of the sample named exactly `sample` in a Prometheus text, if any.
pub fn sample(text: &str, sample: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(sample)?;
        rest.starts_with(' ')
            .then(|| rest.trim().parse().ok())
            .flatten()
    })
}

fn gauge(name: &str, queue: &str) -> String {
    format!(r#"{name}{{queue="{queue}"}}"#)
}

#[tokio::test]
async fn jobs_wait_in_the_delivery_queue_without_a_sender_and_drain_once_one_runs() {
    let no_sender = Roles {
        sender: false,
        flush: false,
        ..Roles::ALL
    };
    let mut app = spawn_roles(no_sender, &[]).await;
    let sink = HttpSink::start().await;
    let hook = app.webhook("hook", &sink.url("/q"), json!({})).await;
    app.rule(json!({"notifiers": [hook]})).await;
    let topology = Topology::new(app.prefix(), app.config.queue_type, herald_channels::KINDS);

    let text = app.metrics_text(None).await;
    for queue in topology.queue_names() {
        for name in ["herald_queue_messages", "herald_queue_consumers"] {
            assert!(
                sample(&text, &gauge(name, &queue)).is_some(),
                "no {name} for {queue}:\n{text}"
            );
        }
    }
    let router = sample(
        &text,
        &gauge("herald_queue_consumers", &topology.router_queue()),
    );
    assert!(
        router >= Some(1.0),
        "the router consumes its queue: {router:?}"
    );

    for n in 0..3 {
        app.publish(json!({"source": "ci", "category": "system", "title": format!("e{n}")}))
            .await;
    }
    let jobs = gauge("herald_queue_messages", &topology.delivery_queue("webhook"));
    let senders = gauge(
        "herald_queue_consumers",
        &topology.delivery_queue("webhook"),
    );
    eventually("the jobs to wait in the webhook queue", SOON, || async {
        let text = app.metrics_text(None).await;
        match (sample(&text, &jobs), sample(&text, &senders)) {
            (Some(ready), Some(consumers)) if ready >= 1.0 && consumers == 0.0 => Ok(()),
            seen => Err(format!("ready and consumers {seen:?}")),
        }
    })
    .await;
    assert!(
        sink.requests().is_empty(),
        "nothing is sent without a sender"
    );

    app.start_roles(Roles {
        sender: true,
        ..Roles::NONE
    })
    .await;
    sink.wait_delivered("/q", 3, SOON).await;
    eventually("the webhook queue to drain", SOON, || async {
        let text = app.metrics_text(None).await;
        match (sample(&text, &jobs), sample(&text, &senders)) {
            (Some(ready), Some(consumers)) if ready == 0.0 && consumers >= 1.0 => Ok(()),
            seen => Err(format!("ready and consumers {seen:?}")),
        }
    })
    .await;
}

/// `(broker_up, database_up, queues with a herald_queue_messages series)` and
/// how long the scrape took.
async fn outside(app: &TestApp) -> ((Option<f64>, Option<f64>, usize), Duration) {
    let start = Instant::now();
    let text = app.metrics_text(None).await;
    let queues = text
        .lines()
        .filter(|l| l.starts_with("herald_queue_messages{"))
        .count();
    let seen = (
        sample(&text, "herald_broker_up"),
        sample(&text, "herald_database_up"),
        queues,
    );
    (seen, start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_and_database_gauges_fall_and_queue_series_go_while_both_are_away() {
    let broker = Proxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let database = Proxy::start("127.0.0.1:5432".parse().unwrap()).await;
    let amqp_url = format!("amqp://guest:guest@{}/%2f", broker.addr);
    let database_url = format!(
        "postgres://postgres@{}/herald_test_{}",
        database.addr,
        Uuid::new_v4().simple()
    );
    let app = spawn_app_with(&[
        ("HERALD_AMQP_URL", &amqp_url),
        ("HERALD_DATABASE_URL", &database_url),
    ])
    .await;
    let all = Topology::new(app.prefix(), app.config.queue_type, herald_channels::KINDS)
        .queue_names()
        .len();
    let ((broker_up, database_up, seen), _) = outside(&app).await;
    assert_eq!((broker_up, database_up, seen), (Some(1.0), Some(1.0), all));

    broker.cut();
    database.cut();
    eventually("the gauges to see both away", SOON, || async {
        let (seen, took) = outside(&app).await;
        // Queues are not asked one by one while the broker is away.
        assert!(took < Duration::from_secs(5), "a scrape took {took:?}");
        match seen {
            (Some(0.0), Some(0.0), 0) => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;

    broker.restore();
    database.restore();
    eventually("the gauges to see both back", SOON, || async {
        match outside(&app).await.0 {
            (Some(1.0), Some(1.0), n) if n == all => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
}
