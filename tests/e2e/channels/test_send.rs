//! `POST /notifiers/{id}/test` works for every kind: one table, one server
//! answering as every provider's success does.

use serde_json::{Value, json};

use crate::support::{HttpSink, IrcServer, IrcWatcher, Reply, SmtpSink, spawn_app};

/// Every HTTP kind with settings pointing at `base`.
pub fn http_kinds(base: &str) -> Vec<(&'static str, Value)> {
    let url = |path: &str| format!("{base}{path}");
    vec![
        ("webhook", json!({"url": url("/hook")})),
        ("slack", json!({"webhook_url": url("/slack")})),
        (
            "slack",
            json!({"token": "xoxb-1", "channels": ["#a", "#b"], "api_url": url("/api")}),
        ),
        ("teams", json!({"webhook_url": url("/teams")})),
        ("discord", json!({"webhook_url": url("/discord")})),
        ("mattermost", json!({"webhook_url": url("/mattermost")})),
        ("rocketchat", json!({"webhook_url": url("/rocketchat")})),
        ("googlechat", json!({"webhook_url": url("/googlechat")})),
        (
            "webex",
            json!({"token": "t", "room_id": "r", "api_url": base}),
        ),
        ("ntfy", json!({"topic_url": url("/alerts")})),
        (
            "matrix",
            json!({"homeserver": base, "access_token": "t", "room_id": "!r:example.org"}),
        ),
        ("wecom", json!({"webhook_url": url("/wecom")})),
        (
            "pagerduty",
            json!({"routing_key": "R0UT1NGKEY0123456789abcdefABCDEF", "api_url": base}),
        ),
        ("opsgenie", json!({"api_key": "k", "api_url": base})),
        (
            "telegram",
            json!({"token": "1:x", "chat_ids": ["1", "2"], "api_url": base}),
        ),
        (
            "twilio",
            json!({"account_sid": "AC1", "auth_token": "t", "from": "+15550000000",
            "to": ["+15550000001"], "api_url": base}),
        ),
        (
            "pushover",
            json!({"token": "a".repeat(30), "user_key": "u".repeat(30), "api_url": base}),
        ),
        ("grafana", json!({"url": base, "token": "t"})),
        (
            "github",
            json!({"token": "t", "repo": "acme/web", "number": "7", "api_url": base}),
        ),
        (
            "gitlab",
            json!({"token": "t", "project": "acme/web", "number": "7", "api_url": base}),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_answers_a_test_send() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    // What each provider's success looks like, in one body.
    sink.reply(
        "*",
        Reply::json(
            200,
            json!({"ok": true, "status": 1, "errcode": 0, "success": true}),
        ),
    );
    let smtp = SmtpSink::start().await;
    let irc = IrcServer::start(None).await;
    let _watcher = IrcWatcher::connect(irc.port, "watcher", None).await;
    let mut all = http_kinds(&sink.url(""));
    all.push((
        "email",
        json!({"host": "127.0.0.1", "port": smtp.port, "security": "none",
            "from": "herald@example.com", "to": ["ops@example.com"]}),
    ));
    all.push((
        "irc",
        json!({"server": "127.0.0.1", "port": irc.port, "nickname": "herald", "targets": ["#ops"]}),
    ));
    let mut tested: Vec<&str> = Vec::new();
    for (i, (kind, config)) in all.into_iter().enumerate() {
        let notifier = app.notifier(&format!("{kind}-{i}"), kind, config).await;
        let (status, answer) = app
            .post(&format!("/notifiers/{notifier}/test"), json!({}))
            .await;
        assert_eq!(status, 200, "{kind}: {answer}");
        assert_eq!(answer["status"], "sent", "{kind}: {answer}");
        tested.push(kind);
    }
    let (_, channels) = app.get("/channels").await;
    for listed in channels["items"].as_array().unwrap() {
        let kind = listed["kind"].as_str().unwrap();
        assert!(tested.contains(&kind), "{kind} has no test send here");
    }
    assert_eq!(smtp.mails().len(), 1);
}
