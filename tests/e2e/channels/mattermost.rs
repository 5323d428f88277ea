use serde_json::json;

use super::{body, fails_for_good, requests, route};
use crate::support::http_sink::SOON;
use crate::support::{HttpSink, Reply, spawn_app};

const HOOK: &str = "/hooks/xyz";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mattermost_gets_a_coloured_attachment_to_the_chosen_channel() {
    let app = spawn_app().await;
    let mm = HttpSink::start().await;
    mm.reply(HOOK, Reply::text(200, "ok"));
    let (notifier, event) = route(
        &app,
        "mattermost",
        json!({"webhook_url": mm.url(HOOK), "channel": "ops", "username": "herald"}),
        json!({"source": "cron", "category": "job", "kind": "failed", "severity": "critical",
            "title": "Backup failed", "labels": {"host": "db-01"}}),
    )
    .await;
    app.wait_notification(event, notifier, "sent", SOON).await;
    let got = requests(&mm, HOOK, 1).await;
    assert_eq!(
        body(&got[0]),
        json!({
            "channel": "ops",
            "username": "herald",
            "attachments": [{
                "fallback": "[CRITICAL] Backup failed",
                "color": "#D50200",
                "title": "[CRITICAL] Backup failed",
                "text": "cron · job/failed · host=db-01",
            }],
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mattermosts_refusal_fails_for_good() {
    let app = spawn_app().await;
    let mm = HttpSink::start().await;
    mm.reply(
        HOOK,
        Reply::json(
            400,
            json!({"id": "web.incoming_webhook.text.app_error",
        "message": "No text specified", "status_code": 400}),
        ),
    );
    let (notifier, event) = route(
        &app,
        "mattermost",
        json!({"webhook_url": mm.url(HOOK)}),
        json!({"source": "ci", "category": "system"}),
    )
    .await;
    fails_for_good(&app, event, notifier, "No text specified").await;
}
