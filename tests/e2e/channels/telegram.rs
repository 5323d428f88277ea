use serde_json::json;

use super::{body, fails_after_retries, route};
use crate::support::{HttpSink, Reply, spawn_app};

const TOKEN: &str = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11";
const PATH: &str = "/bot123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11/sendMessage";

fn sent() -> Reply {
    Reply::json(
        200,
        json!({"ok": true, "result": {"message_id": 7, "date": 1763800000, "chat": {"id": -1001, "type": "group"}}}),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn telegram_sends_escaped_html_to_each_chat_and_retries_only_the_chat_that_was_rate_limited()
{
    let app = spawn_app().await;
    let tg = HttpSink::start().await;
    tg.reply(PATH, sent());
    tg.script_when(
        PATH,
        "\"-1002\"",
        [Reply::json(
            429,
            json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1",
                "parameters": {"retry_after": 1}}),
        )],
    );
    tg.reply_when(
        PATH,
        "\"@gone\"",
        Reply::json(
            400,
            json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}),
        ),
    );
    let (notifier, event) = route(
        &app,
        "telegram",
        json!({"token": TOKEN, "chat_ids": ["-1001", "-1002", "@gone"], "api_url": tg.url("")}),
        json!({"source": "ci", "category": "job", "kind": "failed", "severity": "critical",
            "title": "Build <7> & co", "url": "https://ci.example/7?a=1&b=2"}),
    )
    .await;
    let failed = fails_after_retries(
        &app,
        event,
        notifier,
        "@gone: Telegram refused: 400: Bad Request: chat not found",
    )
    .await;
    assert_eq!(failed["attempts"], 2, "{failed}");
    assert_eq!(failed["targets"]["-1001"]["status"], "sent");
    assert_eq!(failed["targets"]["-1002"]["status"], "sent");
    assert_eq!(failed["targets"]["@gone"]["status"], "failed");
    let got = tg.requests();
    let to = |chat: &str| got.iter().filter(|r| body(r)["chat_id"] == chat).count();
    assert_eq!((to("-1001"), to("-1002"), to("@gone")), (1, 2, 2));
    let first = &got[0];
    assert_eq!(first.method, "POST");
    assert_eq!(first.header("content-type"), Some("application/json"));
    let mut sent = body(first);
    sent.as_object_mut().unwrap().remove("chat_id");
    assert_eq!(
        sent,
        json!({
            "text": "<b>[CRITICAL] Build &lt;7&gt; &amp; co</b>\nci · job/failed\n<a href=\"https://ci.example/7?a=1&amp;b=2\">Open</a>",
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": true},
        })
    );
    let (_, shown) = app.get(&format!("/notifiers/{notifier}")).await;
    assert_eq!(shown["config"]["token"], "********");
    assert!(
        !failed.to_string().contains("ABC-DEF"),
        "the token is in the URL, never in errors"
    );
}
