use serde_json::json;

use super::{body, fails_for_good, requests, route};
use crate::support::http_sink::SOON;
use crate::support::{HttpSink, Reply, spawn_app, spawn_app_with};

const KEY: &str = "R0UT1NGKEY0123456789abcdefABCDEF";

fn accepted() -> Reply {
    Reply::json(
        202,
        json!({"status": "success", "message": "Event processed", "dedup_key": "k"}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagerduty_gets_a_trigger_then_a_resolve_with_the_same_dedup_key() {
    let app = spawn_app_with(&[("HERALD_PUBLIC_URL", "https://herald.example")]).await;
    let pd = HttpSink::start().await;
    pd.script(
        "/v2/enqueue",
        [Reply::json(500, json!({"status": "error"}))],
    );
    pd.reply("/v2/enqueue", accepted());
    let config = json!({"routing_key": KEY, "api_url": pd.url("")});
    let firing = json!({"source": "db-01", "category": "system", "kind": "disk_full",
        "severity": "critical", "scope": "acme/db", "title": "Disk full", "message": "92% used",
        "labels": {"env": "prod"}, "data": {"used": 92}, "url": "https://grafana.example/d/1",
        "occurred_at": "2026-11-22T09:30:00Z"});
    let (notifier, trigger) = route(&app, "pagerduty", config, firing).await;
    let sent = app.wait_notification(trigger, notifier, "sent", SOON).await;
    assert_eq!(sent["attempts"], 2, "a 5xx is retried");
    let resolve = app
        .publish(
            json!({"source": "db-01", "category": "system", "kind": "disk_full",
            "scope": "acme/db", "resolved": true}),
        )
        .await[0];
    app.wait_notification(resolve, notifier, "sent", SOON).await;
    let got = requests(&pd, "/v2/enqueue", 3).await;
    for r in &got {
        assert_eq!(r.method, "POST");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(
            r.header("authorization"),
            None,
            "the routing key travels in the body"
        );
    }
    assert_eq!(
        body(&got[1]),
        json!({
            "routing_key": KEY,
            "event_action": "trigger",
            "dedup_key": "db-01/acme/db/disk_full",
            "payload": {
                "summary": "[CRITICAL] Disk full",
                "source": "db-01",
                "severity": "critical",
                "timestamp": "2026-11-22T09:30:00Z",
                "component": "acme/db",
                "group": "system",
                "class": "disk_full",
                "custom_details": {"message": "92% used", "labels": {"env": "prod"},
                                   "data": {"used": 92}, "event_id": trigger},
            },
            "links": [{"href": "https://grafana.example/d/1", "text": "Source"}],
            "client": "Herald",
            "client_url": format!("https://herald.example/api/v1/events/{trigger}"),
        })
    );
    assert_eq!(
        body(&got[2]),
        json!({"routing_key": KEY, "event_action": "resolve", "dedup_key": "db-01/acme/db/disk_full"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_pagerduty_calls_invalid_fails_for_good_and_a_short_key_is_refused_on_save() {
    let app = spawn_app().await;
    let pd = HttpSink::start().await;
    pd.reply(
        "/v2/enqueue",
        Reply::json(
            400,
            json!({"status": "invalid event", "message": "Event object is invalid",
            "errors": ["'payload.summary' is missing or blank"]}),
        ),
    );
    let (notifier, event) = route(
        &app,
        "pagerduty",
        json!({"routing_key": KEY, "api_url": pd.url(""), "templates": {"summary": "{{ event.labels.x | default('') }}"}}),
        json!({"source": "ci", "category": "system"}),
    )
    .await;
    fails_for_good(&app, event, notifier, "Event object is invalid").await;
    let (status, answer) = app
        .post(
            "/notifiers",
            json!({"name": "pd", "kind": "pagerduty", "config": {"routing_key": "short"}}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::BAD_REQUEST);
    assert_eq!(answer["field"], "config.routing_key");
}
