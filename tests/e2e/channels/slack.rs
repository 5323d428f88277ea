use serde_json::json;

use super::{body, fails_for_good, requests, route};
use crate::support::http_sink::SOON;
use crate::support::{HttpSink, Reply, spawn_app};

const HOOK: &str = "/services/T000/B000/XXXX";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_gets_block_kit_in_a_coloured_attachment_with_the_text_escaped() {
    let app = spawn_app().await;
    let slack = HttpSink::start().await;
    slack.reply(HOOK, Reply::text(200, "ok"));
    let (notifier, event) = route(
        &app,
        "slack",
        json!({"webhook_url": slack.url(HOOK)}),
        json!({"source": "ci", "category": "deployment", "kind": "finished", "severity": "warning",
            "title": "Deploy <slow> & late", "url": "https://ci.example/7"}),
    )
    .await;
    app.wait_notification(event, notifier, "sent", SOON).await;
    let got = requests(&slack, HOOK, 1).await;
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    assert_eq!(
        body(&got[0]),
        json!({
            "text": "[WARNING] Deploy <slow> & late",
            "attachments": [{
                "color": "#F2C744",
                "blocks": [
                    {"type": "section", "text": {"type": "mrkdwn",
                     "text": "*[WARNING] Deploy &lt;slow&gt; &amp; late*\nci · deployment/finished"}},
                    {"type": "context", "elements": [{"type": "mrkdwn", "text": "<https://ci.example/7|Open>"}]},
                ],
            }],
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slacks_documented_errors_fail_for_good_and_ratelimiting_waits() {
    let app = spawn_app().await;
    let slack = HttpSink::start().await;
    slack.script(
        HOOK,
        [Reply::text(429, "rate_limited").with_header("retry-after", "1")],
    );
    slack.reply(HOOK, Reply::text(200, "ok"));
    let gone = "/services/T000/B000/GONE";
    slack.reply(gone, Reply::text(404, "channel_not_found"));
    let (ok, first) = route(
        &app,
        "slack",
        json!({"webhook_url": slack.url(HOOK)}),
        json!({"source": "ci", "category": "system"}),
    )
    .await;
    assert_eq!(
        app.wait_notification(first, ok, "sent", SOON).await["attempts"],
        2
    );
    let (bad, second) = route(
        &app,
        "slack",
        json!({"webhook_url": slack.url(gone)}),
        json!({"source": "ci", "category": "system"}),
    )
    .await;
    fails_for_good(&app, second, bad, "channel_not_found").await;
    // The webhook URL is a secret: answers show its origin only.
    let (_, shown) = app.get(&format!("/notifiers/{ok}")).await;
    assert!(
        !shown["config"]["webhook_url"]
            .as_str()
            .unwrap()
            .contains("XXXX")
    );
}
