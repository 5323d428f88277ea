use serde_json::json;

use super::{body, requests};
use crate::support::http_sink::SOON;
use crate::support::{HttpSink, Reply, spawn_app};

const SPACE: &str = "/v1/spaces/AAA/messages";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn google_chat_gets_text_or_a_card() {
    let app = spawn_app().await;
    let chat = HttpSink::start().await;
    chat.reply(
        SPACE,
        Reply::json(200, json!({"name": "spaces/AAA/messages/1"})),
    );
    let url = format!("{}?key=k&token=t", chat.url(SPACE));
    let text = app
        .notifier("chat-text", "googlechat", json!({"webhook_url": url}))
        .await;
    let card = app
        .notifier(
            "chat-card",
            "googlechat",
            json!({"webhook_url": url, "format": "card"}),
        )
        .await;
    app.rule(json!({"notifiers": [text, card]})).await;
    let event = app
        .publish(json!({"source": "ci", "category": "system", "title": "Disk ok", "url": "https://x.example/1"}))
        .await[0];
    let sent = app.wait_notification(event, card, "sent", SOON).await;
    app.wait_notification(event, text, "sent", SOON).await;
    let got = requests(&chat, SPACE, 2).await;
    for r in &got {
        assert_eq!(r.query, "key=k&token=t");
        assert_eq!(
            r.header("content-type"),
            Some("application/json; charset=UTF-8")
        );
    }
    let bodies: Vec<_> = got.iter().map(body).collect();
    assert!(
        bodies.contains(&json!({"text": "*[INFO] Disk ok*\nci · system"})),
        "{bodies:?}"
    );
    assert!(bodies.contains(&json!({
        "text": "[INFO] Disk ok",
        "cardsV2": [{
            "cardId": sent["id"],
            "card": {
                "header": {"title": "[INFO] Disk ok", "subtitle": "ci"},
                "sections": [{"widgets": [
                    {"textParagraph": {"text": "ci · system"}},
                    {"buttonList": {"buttons": [{"text": "Open", "onClick": {"openLink": {"url": "https://x.example/1"}}}]}},
                ]}],
            },
        }],
    })), "{bodies:?}");
}
