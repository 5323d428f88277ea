//! Notifier settings: validated by their channel, sealed at rest, masked in
//! answers, and checkable with a test send.

use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::support::http_sink::SOON;
use crate::support::{Behaviour, HttpSink, SmtpSink, spawn_app};

#[tokio::test]
async fn secrets_are_masked_in_answers_sealed_at_rest_and_kept_when_sent_back_masked() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let url = sink.url("/T0001/B0002/s3cr3t-path");
    let (status, created) = app
        .post(
            "/notifiers",
            json!({"name": "slackish", "kind": "webhook",
            "config": {"url": url, "headers": {"Authorization": "Bearer t0p-s3cr3t"}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let (_, one) = app.get(&format!("/notifiers/{id}")).await;
    let (_, all) = app.get("/notifiers").await;
    for answer in [&created, &one, &all] {
        let text = answer.to_string();
        assert!(!text.contains("s3cr3t"), "a secret leaked: {text}");
    }
    assert_eq!(
        one["config"]["url"],
        format!("http://{}/********", sink.addr)
    );
    assert_eq!(one["config"]["headers"]["Authorization"], "********");

    let (client, conn) = tokio_postgres::connect(&app.config.database_url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let row = client
        .query_one("SELECT config::text FROM notifiers", &[])
        .await
        .unwrap();
    let stored: String = row.get(0);
    assert!(
        !stored.contains("s3cr3t") && !stored.contains("127.0.0.1"),
        "stored in clear: {stored}"
    );

    // Send back what was read, with a new name: the secrets stay as they were.
    let mut edited = one.clone();
    edited["name"] = json!("renamed");
    let (status, body) = app
        .put(
            &format!("/notifiers/{id}"),
            json!({"name": "renamed", "kind": "webhook", "config": edited["config"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let hook: Uuid = id.parse().unwrap();
    app.rule(json!({"notifiers": [hook]})).await;
    app.publish(json!({"source": "ci", "category": "system"}))
        .await;
    let got = sink
        .wait_delivered("/T0001/B0002/s3cr3t-path", 1, SOON)
        .await;
    assert_eq!(got[0].header("authorization"), Some("Bearer t0p-s3cr3t"));
    assert_eq!(got[0].json()["notifier"], "renamed");
}

#[tokio::test]
async fn a_test_send_reports_success_or_the_delivery_error() {
    let app = spawn_app().await;
    let sink = HttpSink::start().await;
    let smtp = SmtpSink::start().await;
    let hook = app.webhook("hook", &sink.url("/test"), json!({})).await;
    let mail = app
        .email(
            "mail",
            &smtp,
            json!({"to": ["a@example.com"], "subject_prefix": "[t]"}),
        )
        .await;

    let (status, body) = app
        .post(&format!("/notifiers/{hook}/test"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "sent");
    let got = sink.wait_delivered("/test", 1, SOON).await;
    assert!(
        got[0].json()["event"]["title"]
            .as_str()
            .unwrap()
            .contains("Herald test notification")
    );

    sink.set(Behaviour::Status(503));
    let (status, body) = app
        .post(&format!("/notifiers/{hook}/test"), json!({}))
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("HTTP 503"),
        "{body}"
    );
    assert_eq!(body["retryable"], true);

    let (status, body) = app
        .post(&format!("/notifiers/{mail}/test"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mails = smtp.wait_for(1, SOON).await;
    assert!(
        mails[0]
            .subject
            .starts_with("[t] [INFO] Herald test notification"),
        "{}",
        mails[0].subject
    );

    let (status, _) = app
        .post(&format!("/notifiers/{}/test", Uuid::now_v7()), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn notifier_settings_are_validated_naming_the_field() {
    let app = spawn_app().await;
    let email = |extra: serde_json::Value| {
        let mut config =
            json!({"host": "127.0.0.1", "from": "h@example.com", "to": ["a@example.com"]});
        config
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"name": "m", "kind": "email", "config": config})
    };
    let cases = [
        (json!({"name": "x", "kind": "pager", "config": {}}), "kind"),
        (
            json!({"kind": "webhook", "config": {"url": "http://x/"}}),
            "name",
        ),
        (
            json!({"name": "x", "kind": "webhook", "config": {}}),
            "config.url",
        ),
        (
            json!({"name": "x", "kind": "webhook", "config": {"url": "ftp://x/"}}),
            "config.url",
        ),
        (
            json!({"name": "x", "kind": "webhook", "config": {"url": "http://x/", "method": "GET"}}),
            "config.method",
        ),
        (
            json!({"name": "x", "kind": "webhook", "config": {"url": "http://x/", "max_elapsed": "soon"}}),
            "config.max_elapsed",
        ),
        (
            email(json!({"to": ["a@example.com", "nope"]})),
            "config.to[1]",
        ),
        (email(json!({"security": "ssl"})), "config.security"),
        (email(json!({"username": "u"})), "config.password"),
    ];
    for (body, field) in cases {
        let (status, answer) = app.post("/notifiers", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["field"], field, "{body}: {answer}");
    }
    app.webhook("taken", "http://127.0.0.1:9/", json!({})).await;
    let (status, answer) = app
        .post(
            "/notifiers",
            json!({"name": "taken", "kind": "webhook", "config": {"url": "http://x/"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    assert_eq!(answer["field"], "name");
    let (status, answer) = app.get("/notifiers/not-a-uuid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["field"], "id");
    let (status, _) = app.get(&format!("/notifiers/{}", Uuid::now_v7())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
