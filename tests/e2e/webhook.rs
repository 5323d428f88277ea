//! The webhook channel's own features: Standard Webhooks signatures.

use serde_json::json;
use time::OffsetDateTime;

use crate::support::http_sink::SOON;
use crate::support::{Behaviour, HttpSink, spawn_app};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_requests_carry_the_standard_webhooks_headers_and_a_retry_keeps_the_id() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    sink.set(Behaviour::Status(503));
    let hook = app
        .webhook(
            "signed",
            &sink.url("/signed"),
            json!({"signing_secret": SECRET}),
        )
        .await;
    app.rule(json!({"notifiers": [hook]})).await;
    let event = app
        .publish(json!({"source": "ci", "category": "system"}))
        .await[0];
    sink.wait_requests("/signed", 2, SOON).await;
    sink.set(Behaviour::Ok);
    let sent = app.wait_notification(event, hook, "sent", SOON).await;
    let requests = sink.requests();
    assert!(requests.len() >= 3, "two refused, one delivered");
    let key = herald_channels::webhook::signing_key_of(SECRET).unwrap();
    for r in &requests {
        let id = r.header("webhook-id").expect("webhook-id");
        assert_eq!(
            id,
            sent["id"].as_str().unwrap(),
            "the id stays the notification's"
        );
        let timestamp: i64 = r.header("webhook-timestamp").unwrap().parse().unwrap();
        assert!((OffsetDateTime::now_utc().unix_timestamp() - timestamp).abs() < 60);
        assert_eq!(
            r.header("webhook-signature").unwrap(),
            herald_channels::webhook::signature(&key, id, timestamp, &r.body)
        );
    }
    // The secret is masked like any other.
    let (_, shown) = app.get(&format!("/notifiers/{hook}")).await;
    assert_eq!(shown["config"]["signing_secret"], "********");
}
