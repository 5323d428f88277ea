use serde_json::json;

use super::{body, requests, route};
use crate::support::http_sink::SOON;
use crate::support::{HttpSink, Reply, spawn_app};

const HOOK: &str = "/cgi-bin/webhook/send";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wecom_gets_markdown_and_an_errcode_in_a_200_fails_for_good() {
    let app = spawn_app().await;
    let wecom = HttpSink::start().await;
    wecom.script(
        HOOK,
        [Reply::json(200, json!({"errcode": 0, "errmsg": "ok"}))],
    );
    wecom.reply(
        HOOK,
        Reply::json(
            200,
            json!({"errcode": 93000, "errmsg": "invalid webhook url"}),
        ),
    );
    let (notifier, event) = route(
        &app,
        "wecom",
        json!({"webhook_url": format!("{}?key=KEY", wecom.url(HOOK))}),
        json!({"source": "ci", "category": "system", "title": "Disk ok"}),
    )
    .await;
    app.wait_notification(event, notifier, "sent", SOON).await;
    let got = requests(&wecom, HOOK, 1).await;
    assert_eq!(got[0].query, "key=KEY");
    assert_eq!(
        body(&got[0]),
        json!({"msgtype": "markdown", "markdown": {"content": "## [INFO] Disk ok\nci · system"}})
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
            .contains("errcode 93000: invalid webhook url"),
        "{failed}"
    );
}
