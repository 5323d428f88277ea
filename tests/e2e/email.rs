//! Email over STARTTLS and implicit TLS with a login, against a real SMTP
//! server with a self-signed certificate.

use serde_json::json;
use uuid::Uuid;

use crate::support::http_sink::SOON;
use crate::support::{SmtpSink, TestApp, certificate, spawn_app};

async fn mail_to(
    app: &TestApp,
    smtp: &SmtpSink,
    security: &str,
    extra: serde_json::Value,
) -> (Uuid, Uuid) {
    let mut config = json!({"security": security, "tls_verify": false});
    config
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let mail = app.email("secure", smtp, config).await;
    app.rule(json!({"notifiers": [mail]})).await;
    let event = app
        .publish(json!({"source": "ci", "category": "system", "title": "secure mail"}))
        .await[0];
    (mail, event)
}

#[tokio::test]
async fn starttls_with_a_login_delivers_and_the_server_sees_the_login() {
    let app = spawn_app().await;
    let (cert, key) = certificate();
    let smtp = SmtpSink::start_with(&["--starttls", &cert, &key, "--auth", "herald:s3cret"]).await;
    let (mail, event) = mail_to(
        &app,
        &smtp,
        "starttls",
        json!({"username": "herald", "password": "s3cret"}),
    )
    .await;
    app.wait_notification(event, mail, "sent", SOON).await;
    let got = smtp.wait_for(1, SOON).await;
    assert_eq!(got[0].login.as_deref(), Some("herald"));
    assert!(
        got[0].subject.ends_with("secure mail"),
        "{}",
        got[0].subject
    );
}

#[tokio::test]
async fn implicit_tls_delivers() {
    let app = spawn_app().await;
    let (cert, key) = certificate();
    let smtp = SmtpSink::start_with(&["--tls", &cert, &key]).await;
    let (mail, event) = mail_to(&app, &smtp, "tls", json!({})).await;
    app.wait_notification(event, mail, "sent", SOON).await;
    assert_eq!(smtp.wait_for(1, SOON).await.len(), 1);
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_while_verification_is_on() {
    let app = spawn_app().await;
    let (cert, key) = certificate();
    let smtp = SmtpSink::start_with(&["--starttls", &cert, &key]).await;
    let (mail, event) = mail_to(&app, &smtp, "starttls", json!({"tls_verify": true})).await;
    let n = app.wait_notification(event, mail, "failed", SOON).await;
    assert_eq!(
        n["attempts"], 1,
        "a certificate problem is not retried: {n}"
    );
    assert!(
        n["last_error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("certificate"),
        "{n}"
    );
    assert!(smtp.mails().is_empty());
}

#[tokio::test]
async fn a_wrong_password_is_a_permanent_failure() {
    let app = spawn_app().await;
    let (cert, key) = certificate();
    let smtp = SmtpSink::start_with(&["--starttls", &cert, &key, "--auth", "herald:s3cret"]).await;
    let (mail, event) = mail_to(
        &app,
        &smtp,
        "starttls",
        json!({"username": "herald", "password": "wrong"}),
    )
    .await;
    let n = app.wait_notification(event, mail, "failed", SOON).await;
    assert_eq!(n["attempts"], 1, "{n}");
    assert!(n["last_error"].as_str().unwrap().contains("535"), "{n}");
    assert!(
        !n["last_error"].as_str().unwrap().contains("wrong"),
        "the password leaked: {n}"
    );
}
