use serde_json::json;

use super::{body, fails_for_good, requests, route};
use crate::support::http_sink::SOON;
use crate::support::{HttpSink, Reply, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ntfy_gets_the_json_form_at_the_root_with_priority_tags_and_token() {
    let app = spawn_app().await;
    let ntfy = HttpSink::start().await;
    ntfy.reply(
        "/",
        Reply::json(
            200,
            json!({"id": "xIgwz9dr1w9Z", "event": "message", "topic": "alerts"}),
        ),
    );
    let (notifier, event) = route(
        &app,
        "ntfy",
        json!({"topic_url": ntfy.url("/alerts"), "token": "tk_secret"}),
        json!({"source": "db-01", "category": "system", "kind": "disk_full", "severity": "critical",
            "title": "Disk full", "url": "https://grafana.example/d/1"}),
    )
    .await;
    app.wait_notification(event, notifier, "sent", SOON).await;
    let got = requests(&ntfy, "/", 1).await;
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].header("authorization"), Some("Bearer tk_secret"));
    assert_eq!(
        body(&got[0]),
        json!({"topic": "alerts", "title": "[CRITICAL] Disk full", "message": "db-01 · system/disk_full",
               "priority": 5, "tags": ["critical", "system"], "click": "https://grafana.example/d/1"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forbidden_ntfy_topic_fails_for_good_and_a_bad_topic_is_refused_on_save() {
    let app = spawn_app().await;
    let ntfy = HttpSink::start().await;
    ntfy.reply(
        "/",
        Reply::json(
            403,
            json!({"code": 40301, "http": 403, "error": "forbidden"}),
        ),
    );
    let (notifier, event) = route(
        &app,
        "ntfy",
        json!({"topic_url": ntfy.url("/alerts")}),
        json!({"source": "ci", "category": "system"}),
    )
    .await;
    fails_for_good(&app, event, notifier, "forbidden").await;
    let (status, answer) = app
        .post(
            "/notifiers",
            json!({"name": "n", "kind": "ntfy", "config": {"topic_url": ntfy.url("/bad topic!")}}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST, "{answer}");
    assert_eq!(answer["field"], "config.topic_url");
}
