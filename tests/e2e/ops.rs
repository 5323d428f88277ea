//! Metrics, health and readiness, and what publishing does without a broker.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::http_sink::SOON;
use crate::support::proxy::Proxy;
use crate::support::{HttpSink, eventually, spawn_app, spawn_app_with};

#[tokio::test]
async fn metrics_show_the_counters_moving() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let hook = app.webhook("hook", &sink.url("/m"), json!({})).await;
    app.rule(json!({"notifiers": [hook]})).await;
    let ingested = r#"herald_events_ingested_total{category="job",severity="warning"}"#;
    let routed = r#"herald_events_routed_total{category="job",severity="warning"}"#;
    let sent = r#"herald_deliveries_total{channel="webhook",outcome="sent"}"#;
    assert_eq!(app.metric(ingested).await, 0.0);
    app.publish(json!([{"source": "ci", "category": "job", "kind": "running", "severity": "warning"},
                       {"source": "ci", "category": "job", "kind": "running", "severity": "warning"}]))
        .await;
    sink.wait_delivered("/m", 2, SOON).await;
    eventually("the counters to move", SOON, || async {
        let seen = (
            app.metric(ingested).await,
            app.metric(routed).await,
            app.metric(sent).await,
        );
        if seen == (2.0, 2.0, 2.0) {
            Ok(())
        } else {
            Err(format!("{seen:?}"))
        }
    })
    .await;
    let text = app.metrics_text(None).await;
    assert!(
        text.contains("herald_delivery_latency_seconds_bucket{channel=\"webhook\""),
        "{text}"
    );
    assert!(
        text.contains("herald_failures{status=\"pending\"} 0"),
        "{text}"
    );
    assert!(text.contains("herald_broker_up 1"), "{text}");
    let (status, health) = app.get_url(&app.url("/healthz")).await;
    assert_eq!((status, health), (StatusCode::OK, json!({"status": "ok"})));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_fails_and_events_get_a_503_while_the_broker_is_down_and_all_resumes_after() {
    let proxy = Proxy::start("127.0.0.1:5672".parse().unwrap()).await;
    let url = format!("amqp://guest:guest@{}/%2f", proxy.addr);
    let app = spawn_app_with(&[("HERALD_AMQP_URL", &url), ("HERALD_PUBLISH_TIMEOUT", "1s")]).await;
    let sink = HttpSink::start().await;
    let hook = app.webhook("hook", &sink.url("/back"), json!({})).await;
    app.rule(json!({"notifiers": [hook]})).await;

    proxy.cut();
    eventually("/readyz to report the broker down", SOON, || async {
        let (status, body) = app.get_url(&app.url("/readyz")).await;
        if status == StatusCode::SERVICE_UNAVAILABLE && body["broker"] == "down" {
            Ok(())
        } else {
            Err(format!("{status} {body}"))
        }
    })
    .await;
    let (status, body) = app
        .post("/events", json!({"source": "ci", "category": "system"}))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("not accepted"),
        "{body}"
    );

    proxy.restore();
    app.wait_ready().await;
    let id = app
        .publish(json!({"source": "ci", "category": "system", "title": "after"}))
        .await[0];
    app.wait_notification(id, hook, "sent", SOON).await;
    let got = sink.wait_delivered("/back", 1, SOON).await;
    assert_eq!(got.len(), 1, "the refused event was not delivered");
    assert_eq!(got[0].json()["event"]["title"], "after");
}
