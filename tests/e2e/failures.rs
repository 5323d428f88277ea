//! Retries, the error table, and replays by hand or by the flush job.

use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::http_sink::SOON;
use crate::support::{
    Behaviour, HttpSink, SmtpSink, TestApp, eventually, spawn_app, spawn_app_with,
};

/// Waits for the open failure of `notification`.
async fn failure_of(app: &TestApp, notification: &str) -> Value {
    eventually("a failure record", SOON, || async {
        let all = app.failures("").await;
        all.into_iter()
            .find(|f| f["notification_id"] == notification)
            .ok_or_else(|| "none yet".to_owned())
    })
    .await
}

async fn failing_webhook(app: &TestApp, sink: &HttpSink, path: &str) -> (Uuid, Uuid, Value) {
    sink.set(Behaviour::Status(500));
    let hook = app
        .webhook(
            "flaky",
            &sink.url(path),
            json!({"max_elapsed": "1s", "max_attempts": 4}),
        )
        .await;
    app.rule(json!({"notifiers": [hook]})).await;
    let event = app
        .publish(json!({"source": "ci", "category": "job", "kind": "failed"}))
        .await[0];
    let n = app.wait_notification(event, hook, "failed", SOON).await;
    (hook, event, n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_answering_500_retries_lands_in_failures_and_one_replay_delivers_it_once() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let (hook, event, n) = failing_webhook(&app, &sink, "/flaky").await;

    let tries = sink.requests();
    assert!(tries.len() >= 2, "retried: {} attempts", tries.len());
    assert_eq!(n["attempts"], tries.len());
    assert!(
        n["last_error"].as_str().unwrap().contains("HTTP 500"),
        "{n}"
    );
    let gaps: Vec<_> = tries.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(
        gaps.iter().all(|g| g.as_millis() >= 25),
        "waits between attempts: {gaps:?}"
    );
    let id = n["id"].as_str().unwrap();
    let failure = failure_of(&app, id).await;
    assert_eq!(failure["status"], "pending");
    assert_eq!(failure["notifier_id"], hook.to_string());
    assert_eq!(failure["event_id"], event.to_string());
    assert_eq!(failure["attempts"], tries.len());
    assert_eq!(failure["errors"].as_array().unwrap().len(), 1);
    assert!(
        failure["error"].as_str().unwrap().contains("gave up after"),
        "{failure}"
    );

    sink.set(Behaviour::Ok);
    let (status, body) = app.post("/failures/replay", json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["replayed"], 1);
    app.wait_notification(event, hook, "sent", SOON).await;
    let (_, replayed) = app
        .get(&format!("/failures/{}", failure["id"].as_str().unwrap()))
        .await;
    assert_eq!(replayed["status"], "resolved");
    assert_eq!(replayed["replay_count"], 1);
    assert_eq!(replayed["replays"][0]["by"], "api");

    let (_, again) = app.post("/failures/replay", json!({})).await;
    assert_eq!(again["replayed"], 0, "nothing is left to replay");
    assert_eq!(sink.delivered("/flaky").len(), 1, "delivered exactly once");
    assert!(app.failures("").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flush_job_replays_failures_on_its_own_exactly_once() {
    let app = spawn_app_with(&[("HERALD_FLUSH_INTERVAL", "300ms")]).await;
    let sink = HttpSink::start().await;
    let (hook, event, _) = failing_webhook(&app, &sink, "/later").await;
    sink.set(Behaviour::Ok);
    app.wait_notification(event, hook, "sent", SOON).await;
    app.wait_flush_runs(None, 2.0).await;
    assert_eq!(sink.delivered("/later").len(), 1, "delivered exactly once");
    let resolved = app.failures("status=resolved").await;
    assert_eq!(resolved.len(), 1);
    // Replays while the endpoint was still down are fine; none after it was delivered.
    let replays = resolved[0]["replays"].as_array().unwrap();
    assert_eq!(resolved[0]["replay_count"], replays.len());
    assert!(
        replays.iter().all(|r| r["by"] == "scheduler"),
        "{replays:?}"
    );
    let requests = sink
        .requests()
        .iter()
        .filter(|r| r.path == "/later")
        .count();
    let sent = app.wait_notification(event, hook, "sent", SOON).await;
    assert_eq!(sent["attempts"], requests, "no attempt after the delivery");
    assert!(app.metric("herald_replays_total{by=\"scheduler\"}").await >= 1.0);
}

#[tokio::test]
async fn a_404_goes_straight_to_failures_with_the_status_in_the_error() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    sink.set(Behaviour::Status(404));
    let hook = app.webhook("gone", &sink.url("/gone"), json!({})).await;
    app.rule(json!({"notifiers": [hook]})).await;
    let event = app
        .publish(json!({"source": "ci", "category": "system"}))
        .await[0];
    let n = app.wait_notification(event, hook, "failed", SOON).await;
    assert_eq!(n["attempts"], 1, "a 404 is not retried");
    assert_eq!(sink.requests().len(), 1);
    let failure = failure_of(&app, n["id"].as_str().unwrap()).await;
    assert!(
        failure["error"]
            .as_str()
            .unwrap()
            .starts_with("HTTP 404 Not Found"),
        "{failure}"
    );
}

#[tokio::test]
async fn an_operator_replays_or_discards_one_failure() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    sink.set(Behaviour::Status(410));
    let hook = app.webhook("hook", &sink.url("/one"), json!({})).await;
    app.rule(json!({"notifiers": [hook]})).await;
    let events = app
        .publish(
            json!([{"source": "a", "category": "system"}, {"source": "b", "category": "system"}]),
        )
        .await;
    let mut failures = Vec::new();
    for e in &events {
        let n = app.wait_notification(*e, hook, "failed", SOON).await;
        failures.push(
            failure_of(&app, n["id"].as_str().unwrap()).await["id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    sink.set(Behaviour::Ok);
    let (status, body) = app
        .post(&format!("/failures/{}/replay", failures[0]), json!({}))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["replayed"], 1);
    app.wait_notification(events[0], hook, "sent", SOON).await;

    let (status, body) = app
        .post(&format!("/failures/{}/discard", failures[1]), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "discarded");
    assert!(app.failures("").await.is_empty());
    let (status, body) = app
        .post(&format!("/failures/{}/replay", failures[1]), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["field"], "status");
    let (status, _) = app
        .post(&format!("/failures/{}/replay", Uuid::now_v7()), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(sink.delivered("/one").len(), 1);
}

#[tokio::test]
async fn a_refused_mail_recipient_is_a_permanent_failure() {
    let app = spawn_app().await;
    let smtp = SmtpSink::start().await;
    let mail = app
        .email("bouncer", &smtp, json!({"to": ["bounce@example.com"]}))
        .await;
    app.rule(json!({"notifiers": [mail]})).await;
    let event = app
        .publish(json!({"source": "ci", "category": "system"}))
        .await[0];
    let n = app.wait_notification(event, mail, "failed", SOON).await;
    assert_eq!(n["attempts"], 1, "a 550 is not retried");
    assert!(n["last_error"].as_str().unwrap().contains("550"), "{n}");
    assert!(smtp.mails().is_empty());
}
