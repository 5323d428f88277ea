use serde_json::json;

use super::{body, fails_for_good, requests, route};
use crate::support::http_sink::SOON;
use crate::support::{HttpSink, Reply, spawn_app};

const FLOW: &str = "/workflows/abc/triggers/manual/paths/invoke";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teams_gets_an_adaptive_card_in_a_message_and_202_is_success() {
    let app = spawn_app().await;
    let teams = HttpSink::start().await;
    teams.reply(FLOW, Reply::text(202, ""));
    let (notifier, event) = route(
        &app,
        "teams",
        json!({"webhook_url": teams.url(FLOW)}),
        json!({"source": "billing", "category": "spending", "kind": "budget", "resolved": true,
            "title": "Budget back under 80%", "url": "https://billing.example/b/1"}),
    )
    .await;
    app.wait_notification(event, notifier, "sent", SOON).await;
    let got = requests(&teams, FLOW, 1).await;
    assert_eq!(got[0].header("content-type"), Some("application/json"));
    assert_eq!(
        body(&got[0]),
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": "[RESOLVED] Budget back under 80%", "weight": "Bolder",
                         "size": "Large", "color": "Good", "wrap": true},
                        {"type": "TextBlock", "text": "billing · spending/budget", "wrap": true},
                    ],
                    "actions": [{"type": "Action.OpenUrl", "title": "Open", "url": "https://billing.example/b/1"}],
                    "msteams": {"width": "Full"},
                },
            }],
        })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_teams_refuses_fails_for_good() {
    let app = spawn_app().await;
    let teams = HttpSink::start().await;
    teams.reply(
        FLOW,
        Reply::json(400, json!({"error": {"code": "InvalidRequestContent"}})),
    );
    let (notifier, event) = route(
        &app,
        "teams",
        json!({"webhook_url": teams.url(FLOW)}),
        json!({"source": "ci", "category": "system"}),
    )
    .await;
    fails_for_good(&app, event, notifier, "InvalidRequestContent").await;
}
