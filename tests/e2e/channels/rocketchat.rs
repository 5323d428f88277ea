use serde_json::json;

use super::{body, requests, route};
use crate::support::http_sink::SOON;
use crate::support::{HttpSink, Reply, spawn_app};

const HOOK: &str = "/hooks/id/token";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocketchat_gets_text_and_an_attachment_and_success_false_fails_for_good() {
    let app = spawn_app().await;
    let rc = HttpSink::start().await;
    rc.script(HOOK, [Reply::json(200, json!({"success": true}))]);
    rc.reply(HOOK, Reply::json(200, json!({"success": false})));
    let (notifier, event) = route(
        &app,
        "rocketchat",
        json!({"webhook_url": rc.url(HOOK), "channel": "#ops", "alias": "Herald"}),
        json!({"source": "ci", "category": "system", "title": "Disk ok"}),
    )
    .await;
    app.wait_notification(event, notifier, "sent", SOON).await;
    let got = requests(&rc, HOOK, 1).await;
    assert_eq!(
        body(&got[0]),
        json!({
            "text": "[INFO] Disk ok",
            "channel": "#ops",
            "alias": "Herald",
            "attachments": [{"fallback": "[INFO] Disk ok", "color": "#439FE0",
                             "title": "[INFO] Disk ok", "text": "ci · system"}],
        })
    );
    let second = app
        .publish(json!({"source": "ci", "category": "system"}))
        .await[0];
    let failed = app
        .wait_notification(second, notifier, "failed", SOON)
        .await;
    assert_eq!(failed["attempts"], 1);
    assert!(
        failed["last_error"]
            .as_str()
            .unwrap()
            .contains("Rocket.Chat refused"),
        "{failed}"
    );
}
