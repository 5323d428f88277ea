//! The other ways in: the `herald emit` command, the Rust client library, and
//! the roles running apart as separate processes would.

use herald::Roles;
use herald_ingest::{Client, NewEvent};
use herald_model::{Category, Severity};
use serde_json::json;
use uuid::Uuid;

use crate::support::http_sink::SOON;
use crate::support::{HttpSink, spawn_app, spawn_roles};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn herald_emit_publishes_an_event_from_a_shell() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let hook = app.webhook("hook", &sink.url("/cli"), json!({})).await;
    app.rule(json!({"labels": {"via": "cli"}, "notifiers": [hook]}))
        .await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "emit",
            "--source",
            "cron",
            "--category",
            "job",
            "--kind",
            "failed",
        ])
        .args([
            "--severity",
            "warning",
            "--scope",
            "acme/batch",
            "--title",
            "Nightly export failed",
        ])
        .args(["--label", "via=cli", "--data", r#"{"rows": 12}"#])
        .envs(app.env())
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let id: Uuid = String::from_utf8(output.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    app.wait_notification(id, hook, "sent", SOON).await;
    let got = sink.wait_delivered("/cli", 1, SOON).await;
    let event = &got[0].json()["event"];
    assert_eq!(event["title"], "Nightly export failed");
    assert_eq!(event["data"], json!({"rows": 12}));
    assert_eq!(event["scope"], "acme/batch");

    let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .args([
            "emit",
            "--source",
            "cron",
            "--category",
            "job",
            "--kind",
            "exploded",
        ])
        .envs(app.env())
        .output()
        .await
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("kind"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

#[tokio::test]
async fn the_rust_client_publishes_with_confirms() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let hook = app.webhook("hook", &sink.url("/lib"), json!({})).await;
    app.rule(json!({"severities": ["critical"], "notifiers": [hook]}))
        .await;
    let client = Client::connect(&app.config.amqp_url, app.prefix())
        .await
        .unwrap();
    let id = client
        .emit(
            NewEvent::new("billing", Category::Spending)
                .severity(Severity::Critical)
                .title("Budget exceeded"),
        )
        .await
        .unwrap();
    app.wait_notification(id, hook, "sent", SOON).await;
    assert_eq!(
        sink.delivered("/lib")[0].json()["event"]["title"],
        "Budget exceeded"
    );
    let refused = client
        .emit(NewEvent::new("", Category::Spending))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("source"), "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_roles_work_when_run_apart() {
    let api_only = Roles {
        api: true,
        ..Roles::NONE
    };
    let mut app = spawn_roles(api_only, &[("HERALD_FLUSH_INTERVAL", "200ms")]).await;
    let sink = HttpSink::start().await;
    let hook = app
        .webhook("hook", &sink.url("/apart"), json!({"max_elapsed": "300ms"}))
        .await;
    app.rule(json!({"notifiers": [hook]})).await;
    let event = app
        .publish(json!({"source": "ci", "category": "system"}))
        .await[0];

    let router = app
        .start_roles(Roles {
            router: true,
            ..Roles::NONE
        })
        .await;
    sink.set(crate::support::Behaviour::Status(503));
    app.start_roles(Roles {
        sender: true,
        ..Roles::NONE
    })
    .await;
    app.wait_notification(event, hook, "failed", SOON).await;
    sink.set(crate::support::Behaviour::Ok);
    app.start_roles(Roles {
        flush: true,
        ..Roles::NONE
    })
    .await;
    app.wait_notification(event, hook, "sent", SOON).await;
    assert_eq!(sink.delivered("/apart").len(), 1);

    let (status, metrics) = app.get_url(&format!("http://{router}/metrics")).await;
    assert_eq!(status, reqwest::StatusCode::OK);
    assert!(
        metrics
            .as_str()
            .unwrap()
            .contains("herald_events_routed_total"),
        "{metrics}"
    );
}
