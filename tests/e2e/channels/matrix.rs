use serde_json::json;

use super::{body, fails_for_good};
use crate::support::http_sink::SOON;
use crate::support::{HttpSink, Reply, spawn_app};

const ROOM: &str = "/_matrix/client/v3/rooms/!ops:example.org/send/m.room.message";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matrix_gets_a_notice_under_the_notification_id_and_a_retry_reuses_it() {
    let app = spawn_app().await;
    let hs = HttpSink::start().await;
    hs.script(
        "*",
        [Reply::json(429, json!({"errcode": "M_LIMIT_EXCEEDED", "error": "Too many requests", "retry_after_ms": 1200}))],
    );
    hs.reply("*", Reply::json(200, json!({"event_id": "$abc"})));
    let notifier = app
        .notifier("mx", "matrix", json!({"homeserver": hs.url(""), "access_token": "syt_secret", "room_id": "!ops:example.org"}))
        .await;
    app.rule(json!({"notifiers": [notifier]})).await;
    let event = app
        .publish(
            json!({"source": "ci", "category": "job", "kind": "failed", "severity": "warning",
            "title": "Tests <flaky>", "url": "https://ci.example/9"}),
        )
        .await[0];
    let sent = app.wait_notification(event, notifier, "sent", SOON).await;
    assert_eq!(sent["attempts"], 2);
    let path = format!("{ROOM}/{}", sent["id"].as_str().unwrap());
    let got = hs.wait_requests(&path, 2, SOON).await;
    assert!(
        got[1].at - got[0].at >= std::time::Duration::from_millis(1100),
        "retry_after_ms honoured"
    );
    for r in &got {
        assert_eq!(r.method, "PUT");
        assert_eq!(r.header("authorization"), Some("Bearer syt_secret"));
        assert_eq!(
            body(r),
            json!({
                "msgtype": "m.notice",
                "body": "[WARNING] Tests <flaky>\nci · job/failed",
                "format": "org.matrix.custom.html",
                "formatted_body": "<b>[WARNING] Tests &lt;flaky&gt;</b><br>ci · job/failed<br><a href=\"https://ci.example/9\">Open</a>",
            })
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_room_the_bot_may_not_post_in_fails_for_good() {
    let app = spawn_app().await;
    let hs = HttpSink::start().await;
    hs.reply(
        "*",
        Reply::json(
            403,
            json!({"errcode": "M_FORBIDDEN", "error": "You are not in this room."}),
        ),
    );
    let notifier = app
        .notifier(
            "mx",
            "matrix",
            json!({"homeserver": hs.url(""), "access_token": "t", "room_id": "!ops:example.org"}),
        )
        .await;
    app.rule(json!({"notifiers": [notifier]})).await;
    let event = app
        .publish(json!({"source": "ci", "category": "system"}))
        .await[0];
    fails_for_good(&app, event, notifier, "M_FORBIDDEN").await;
}
