//! IRC against a real server (ngircd), plain and TLS.

use std::time::Duration;

use serde_json::json;

use super::{fails_after_retries, route};
use crate::support::http_sink::SOON;
use crate::support::{IrcServer, IrcWatcher, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irc_messages_each_channel_and_user_and_a_missing_one_does_not_fail_the_delivery() {
    let app = spawn_app().await;
    let server = IrcServer::start(None).await;
    let mut watcher = IrcWatcher::connect(server.port, "watcher", None).await;
    watcher.join("#ops").await;
    watcher.join("#closed").await;
    watcher.mode("#closed", "+in").await;
    let (notifier, event) = route(
        &app,
        "irc",
        json!({"server": "127.0.0.1", "port": server.port, "nickname": "herald",
            "targets": ["#ops", "watcher", "nobody", "#closed"], "timeout": "30s"}),
        json!({"source": "ci", "category": "job", "kind": "failed", "severity": "critical",
            "title": "Build 7 failed", "url": "https://ci.example/7"}),
    )
    .await;
    let sent = app
        .wait_notification(event, notifier, "sent", Duration::from_secs(40))
        .await;
    let expected = [
        "[CRITICAL] Build 7 failed",
        "ci · job/failed",
        "https://ci.example/7",
    ];
    assert_eq!(watcher.heard("#ops", 3).await, expected);
    assert_eq!(watcher.heard("watcher", 3).await, expected);
    assert!(watcher.said_to("#closed").is_empty());
    assert_eq!(sent["targets"]["#ops"], json!({"status": "sent"}), "{sent}");
    assert_eq!(sent["targets"]["watcher"], json!({"status": "sent"}));
    assert_eq!(
        sent["targets"]["nobody"],
        json!({"status": "failed", "error": "not online"})
    );
    assert_eq!(sent["targets"]["#closed"]["status"], "failed", "{sent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn irc_over_tls_with_a_server_password_delivers_and_a_wrong_password_fails_for_good() {
    let app = spawn_app().await;
    let server = IrcServer::start(Some("letmein")).await;
    let mut watcher = IrcWatcher::connect(server.port, "watcher", Some("letmein")).await;
    watcher.join("#ops").await;
    let config = |password: &str| {
        json!({"server": "127.0.0.1", "port": server.tls_port, "tls": true, "tls_verify": false,
            "nickname": "herald", "password": password, "targets": ["#ops"]})
    };
    let (notifier, event) = route(
        &app,
        "irc",
        config("letmein"),
        json!({"source": "ci", "category": "system", "title": "over TLS"}),
    )
    .await;
    app.wait_notification(event, notifier, "sent", SOON).await;
    assert_eq!(watcher.heard("#ops", 2).await[0], "[INFO] over TLS");
    let (_, shown) = app.get(&format!("/notifiers/{notifier}")).await;
    assert_eq!(shown["config"]["password"], "********");

    let (wrong, event) = route(
        &app,
        "irc",
        config("guess"),
        json!({"source": "ci", "category": "system"}),
    )
    .await;
    let failed = fails_after_retries(&app, event, wrong, "the server").await;
    assert_eq!(
        failed["attempts"], 1,
        "a refused password is permanent: {failed}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_irc_server_that_cannot_be_reached_is_retried_then_fails() {
    let app = spawn_app().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (notifier, event) = route(
        &app,
        "irc",
        json!({"server": "127.0.0.1", "port": port, "nickname": "herald", "targets": ["#ops"],
            "max_attempts": 2}),
        json!({"source": "ci", "category": "system"}),
    )
    .await;
    let failed = fails_after_retries(&app, event, notifier, "cannot connect to 127.0.0.1").await;
    assert_eq!(failed["attempts"], 2, "{failed}");
    assert!(
        failed["last_error"]
            .as_str()
            .unwrap()
            .starts_with("gave up after 2 attempts")
    );
}
