use serde_json::json;

use super::{body, fails_after_retries, fails_for_good, requests, route};
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

const POST_MESSAGE: &str = "/api/chat.postMessage";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_with_a_token_posts_to_each_channel_and_a_retry_resends_only_where_it_failed() {
    let app = spawn_app().await;
    let slack = HttpSink::start().await;
    let ok = json!({"ok": true, "channel": "C1", "ts": "1503435956.000247"});
    slack.reply(POST_MESSAGE, Reply::json(200, ok.clone()));
    slack.script_when(
        POST_MESSAGE,
        "\"#busy\"",
        [
            Reply::json(429, json!({"ok": false, "error": "ratelimited"}))
                .with_header("retry-after", "1"),
        ],
    );
    slack.reply_when(
        POST_MESSAGE,
        "\"#gone\"",
        Reply::json(200, json!({"ok": false, "error": "channel_not_found"})),
    );
    let (notifier, event) = route(
        &app,
        "slack",
        json!({"token": "xoxb-test-token", "channels": ["#ops", "#busy", "#gone"],
            "api_url": slack.url("/api")}),
        json!({"source": "ci", "category": "system", "title": "Disk full"}),
    )
    .await;
    let failed = fails_after_retries(
        &app,
        event,
        notifier,
        "#gone: Slack refused: channel_not_found",
    )
    .await;
    assert_eq!(
        failed["targets"],
        json!({
            "#ops": {"status": "sent"},
            "#busy": {"status": "sent"},
            "#gone": {"status": "failed", "error": "Slack refused: channel_not_found"},
        })
    );
    let got = slack.requests();
    let to = |channel: &str| got.iter().filter(|r| body(r)["channel"] == channel).count();
    // #ops had it at the first attempt and was left alone after; #busy was
    // rate limited once, then sent; #gone was tried at every attempt.
    assert_eq!(to("#ops"), 1);
    assert_eq!(to("#busy"), 2);
    assert_eq!(to("#gone"), 2);
    for request in &got {
        assert_eq!(request.path, POST_MESSAGE);
        assert_eq!(
            request.header("authorization"),
            Some("Bearer xoxb-test-token")
        );
        assert_eq!(request.header("content-type"), Some("application/json"));
        let sent = body(request);
        assert_eq!(sent["text"], "[INFO] Disk full");
        assert_eq!(sent["attachments"][0]["color"], "#439FE0");
    }
    // A replay sends to the channel that never got it, and only to it.
    slack.reply_when(POST_MESSAGE, "\"#gone\"", Reply::json(200, ok));
    let (status, _) = app.post("/failures/replay", json!({})).await;
    assert!(status.is_success());
    let sent = app.wait_notification(event, notifier, "sent", SOON).await;
    assert_eq!(sent["targets"]["#gone"]["status"], "sent");
    let got = slack.requests();
    assert_eq!(
        got.iter().filter(|r| body(r)["channel"] == "#ops").count(),
        1
    );
    assert_eq!(
        got.iter().filter(|r| body(r)["channel"] == "#gone").count(),
        3
    );
    let (_, shown) = app.get(&format!("/notifiers/{notifier}")).await;
    assert_eq!(shown["config"]["token"], "********");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_settings_take_a_webhook_or_a_token_with_channels() {
    let app = spawn_app().await;
    let cases = [
        (json!({}), "config.webhook_url"),
        (json!({"token": "xoxb-1"}), "config.channels"),
        (
            json!({"webhook_url": "https://hooks.slack.com/x", "token": "xoxb-1", "channels": ["#a"]}),
            "config.token",
        ),
        (
            json!({"webhook_url": "https://hooks.slack.com/x", "channels": ["#a"]}),
            "config.channels",
        ),
    ];
    for (config, field) in cases {
        let (status, answer) = app
            .post(
                "/notifiers",
                json!({"name": "s", "kind": "slack", "config": config}),
            )
            .await;
        assert_eq!(status, 400, "{config}: {answer}");
        assert_eq!(answer["field"], field, "{config}: {answer}");
    }
}
