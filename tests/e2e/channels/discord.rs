use serde_json::json;

use super::{body, fails_for_good, requests, route};
use crate::support::http_sink::SOON;
use crate::support::{HttpSink, Reply, spawn_app};

const HOOK: &str = "/api/webhooks/1234/s3cr3t";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_gets_an_embed_coloured_by_severity_and_waits_out_a_429() {
    let app = spawn_app().await;
    let discord = HttpSink::start().await;
    discord.script(
        HOOK,
        [Reply::json(
            429,
            json!({"message": "You are being rate limited.", "retry_after": 0.2, "global": false}),
        )
        .with_header("retry-after", "1")],
    );
    discord.reply(
        HOOK,
        Reply::json(200, json!({"id": "1", "channel_id": "2"})),
    );
    let (notifier, event) = route(
        &app,
        "discord",
        json!({"webhook_url": discord.url(HOOK), "username": "Herald"}),
        json!({"source": "ci", "category": "job", "kind": "failed", "severity": "critical",
            "title": "Deploy failed", "message": "step 3", "url": "https://ci.example/42",
            "occurred_at": "2026-11-22T09:30:00Z"}),
    )
    .await;
    let sent = app.wait_notification(event, notifier, "sent", SOON).await;
    assert_eq!(sent["attempts"], 2, "the 429 was retried");
    let got = requests(&discord, HOOK, 2).await;
    assert!(
        got[1].at - got[0].at >= std::time::Duration::from_millis(900),
        "Retry-After honoured"
    );
    let r = &got[1];
    assert_eq!((r.method.as_str(), r.query.as_str()), ("POST", "wait=true"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(
        body(r),
        json!({
            "username": "Herald",
            "allowed_mentions": {"parse": []},
            "embeds": [{
                "title": "[CRITICAL] Deploy failed",
                "description": "step 3\nci · job/failed",
                "color": 0xD50200,
                "timestamp": "2026-11-22T09:30:00Z",
                "url": "https://ci.example/42",
            }],
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_discord_webhook_fails_for_good() {
    let app = spawn_app().await;
    let discord = HttpSink::start().await;
    discord.reply(
        HOOK,
        Reply::json(404, json!({"message": "Unknown Webhook", "code": 10015})),
    );
    let (notifier, event) = route(
        &app,
        "discord",
        json!({"webhook_url": discord.url(HOOK)}),
        json!({"source": "ci", "category": "system"}),
    )
    .await;
    fails_for_good(&app, event, notifier, "Unknown Webhook").await;
}
