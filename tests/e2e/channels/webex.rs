use serde_json::json;

use super::{body, requests, route};
use crate::support::http_sink::SOON;
use crate::support::{HttpSink, Reply, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webex_gets_markdown_to_the_room_with_the_bots_token_and_waits_out_a_429() {
    let app = spawn_app().await;
    let webex = HttpSink::start().await;
    webex.script(
        "/v1/messages",
        [
            Reply::json(429, json!({"message": "Too Many Requests"}))
                .with_header("retry-after", "1"),
        ],
    );
    webex.reply(
        "/v1/messages",
        Reply::json(200, json!({"id": "m1", "roomId": "R1"})),
    );
    let (notifier, event) = route(
        &app,
        "webex",
        json!({"token": "bot-token", "room_id": "R1", "api_url": webex.url("")}),
        json!({"source": "ci", "category": "deployment", "title": "web v2 live", "url": "https://ci.example/3"}),
    )
    .await;
    assert_eq!(
        app.wait_notification(event, notifier, "sent", SOON).await["attempts"],
        2
    );
    let got = requests(&webex, "/v1/messages", 2).await;
    assert!(got[1].at - got[0].at >= std::time::Duration::from_millis(900));
    assert_eq!(got[1].header("authorization"), Some("Bearer bot-token"));
    assert_eq!(
        body(&got[1]),
        json!({"roomId": "R1", "markdown": "**[INFO] web v2 live**\nci · deployment\n[Open](https://ci.example/3)",
               "text": "[INFO] web v2 live\nci · deployment"})
    );
}
