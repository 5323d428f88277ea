use serde_json::json;

use super::{body, fails_for_good, requests, route};
use crate::support::http_sink::SOON;
use crate::support::{HttpSink, Reply, spawn_app};

const TOKEN: &str = "azGDORePK8gMaC0QOYAMyEEuzJnyUi";
const USER: &str = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushover_gets_title_message_priority_by_severity_and_link() {
    let app = spawn_app().await;
    let po = HttpSink::start().await;
    po.script("/1/messages.json", [Reply::json(500, json!({"status": 0}))]);
    po.reply(
        "/1/messages.json",
        Reply::json(200, json!({"status": 1, "request": "647d2300"})),
    );
    let (notifier, event) = route(
        &app,
        "pushover",
        json!({"token": TOKEN, "user_key": USER, "sound": "siren", "api_url": po.url("")}),
        json!({"source": "db-01", "category": "system", "severity": "critical", "title": "Disk full",
            "message": "<92%> used", "url": "https://grafana.example/d/1",
            "occurred_at": "2026-11-22T09:30:00Z"}),
    )
    .await;
    assert_eq!(
        app.wait_notification(event, notifier, "sent", SOON).await["attempts"],
        2
    );
    let got = requests(&po, "/1/messages.json", 2).await;
    assert_eq!(got[1].method, "POST");
    assert_eq!(got[1].header("content-type"), Some("application/json"));
    assert_eq!(
        body(&got[1]),
        json!({
            "token": TOKEN, "user": USER,
            "title": "[CRITICAL] Disk full",
            "message": "&lt;92%&gt; used\ndb-01 · system",
            "html": 1, "priority": 1, "timestamp": 1795339800,
            "url": "https://grafana.example/d/1", "url_title": "Open", "sound": "siren",
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_pushover_user_fails_for_good_naming_pushovers_error() {
    let app = spawn_app().await;
    let po = HttpSink::start().await;
    po.reply(
        "/1/messages.json",
        Reply::json(400, json!({"user": "invalid", "errors": ["user identifier is not a valid user, group, or subscribed user key"], "status": 0, "request": "5042853c"})),
    );
    let (notifier, event) = route(
        &app,
        "pushover",
        json!({"token": TOKEN, "user_key": USER, "api_url": po.url("")}),
        json!({"source": "ci", "category": "system", "severity": "info"}),
    )
    .await;
    fails_for_good(
        &app,
        event,
        notifier,
        "Pushover refused: user identifier is not a valid",
    )
    .await;
    let (_, shown) = app.get(&format!("/notifiers/{notifier}")).await;
    assert_eq!(shown["config"]["user_key"], "********");
    assert_eq!(body(&po.requests()[0])["priority"], -1);
}
