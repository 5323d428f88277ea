//! Bad input gets a clear error; a malformed message on the queue is
//! dead-lettered with its reason, and routing goes on.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::http_sink::SOON;
use crate::support::{HttpSink, amqp, eventually, spawn_app};

#[tokio::test]
async fn bad_events_get_a_400_that_names_the_field() {
    let app = spawn_app().await;
    let cases = [
        (json!({"category": "job", "kind": "failed"}), "source"),
        (json!({"source": "ci"}), "category"),
        (json!({"source": "ci", "category": "jobs"}), "category"),
        (
            json!({"source": "ci", "category": "system", "severity": "high"}),
            "severity",
        ),
        (
            json!({"source": "ci", "category": "job", "kind": "exploded"}),
            "kind",
        ),
        (
            json!({"source": "ci", "category": "system", "severty": "info"}),
            "severty",
        ),
        (
            json!({"source": "ci", "category": "system", "labels": {"env": 1}}),
            "labels.env",
        ),
        (
            json!({"source": "ci", "category": "system", "occurred_at": "yesterday"}),
            "occurred_at",
        ),
        (
            json!({"source": "ci", "category": "system", "id": "42"}),
            "id",
        ),
        (
            json!([{"source": "ci", "category": "system"}, {"source": "ci", "category": "x"}]),
            "[1].category",
        ),
        (json!("an event"), "body"),
    ];
    for (body, field) in cases {
        let (status, answer) = app.post("/events", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    let (status, answer) = app.post_raw("/events", b"{\"source\": ".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["field"], "body");
}

#[tokio::test]
async fn oversized_events_and_bodies_get_a_413() {
    let app = spawn_app_small_body().await;
    let big = "x".repeat(300 * 1024);
    let (status, answer) = app
        .post(
            "/events",
            json!({"source": "ci", "category": "system", "message": big}),
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["field"], "body");
    assert!(
        answer["error"].as_str().unwrap().contains("262144"),
        "{answer}"
    );

    let many: Vec<_> = (0..40)
        .map(|_| json!({"source": "ci", "category": "system", "message": "y".repeat(30 * 1024)}))
        .collect();
    let (status, answer) = app.post("/events", json!(many)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{answer}");
    assert_eq!(answer["field"], "body");
}

async fn spawn_app_small_body() -> crate::support::TestApp {
    crate::support::spawn_app_with(&[("HERALD_MAX_REQUEST_BYTES", "1048576")]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_on_the_exchange_are_dead_lettered_and_routing_goes_on() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let hook = app.webhook("hook", &sink.url("/after"), json!({})).await;
    app.rule(json!({"notifiers": [hook]})).await;
    let (_conn, ch) = amqp::channel().await;
    let exchange = format!("{}.events", app.prefix());

    amqp::publish(&ch, &exchange, "job.info", b"\xff not json at all").await;
    amqp::publish(
        &ch,
        &exchange,
        "job.info",
        br#"{"source": "ci", "category": "nope"}"#,
    )
    .await;
    amqp::publish(
        &ch,
        &exchange,
        "job.info",
        br#"{"category": "job", "kind": "failed"}"#,
    )
    .await;
    amqp::publish(
        &ch,
        &exchange,
        "system.info",
        br#"{"source": "ci", "category": "system", "title": "good"}"#,
    )
    .await;

    let got = sink.wait_delivered("/after", 1, SOON).await;
    assert_eq!(got[0].json()["event"]["title"], "good");

    let dead_queue = format!("{}.dead", app.prefix());
    let letters = std::cell::RefCell::new(Vec::new());
    eventually("three dead letters", SOON, || async {
        if let Some(letter) = amqp::get(&ch, &dead_queue).await {
            letters.borrow_mut().push(letter);
        }
        let n = letters.borrow().len();
        if n >= 3 {
            Ok(())
        } else {
            Err(format!("{n} letters"))
        }
    })
    .await;
    let letters = letters.into_inner();
    assert_eq!(letters.len(), 3);
    assert_eq!(letters[0].body, b"\xff not json at all");
    assert!(
        letters[0].reason.starts_with("invalid event"),
        "{}",
        letters[0].reason
    );
    assert!(
        letters[1].reason.contains("category"),
        "{}",
        letters[1].reason
    );
    assert!(
        letters[2].reason.contains("source"),
        "{}",
        letters[2].reason
    );
    assert!(
        letters
            .iter()
            .all(|l| l.queue == format!("{}.router", app.prefix()))
    );
    assert!(
        app.metric(&format!(
            "herald_dead_lettered_total{{queue=\"{}.router\"}}",
            app.prefix()
        ))
        .await
            >= 3.0
    );
}
